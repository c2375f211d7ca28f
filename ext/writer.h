/*
** A background writer: one thread per side file that performs the large
** pwrite() of a full write-behind buffer while the connection goes on
** filling the other buffer. See writer.c.
*/
#ifndef WRITER_H
#define WRITER_H
#include <stddef.h>
#include <sys/types.h>

typedef struct VsWriter VsWriter;

/* A new writer; its thread starts on the first submission. 0 on OOM. */
VsWriter *vsWriterNew(void);
/* Wait for the write in flight, stop the thread, free. */
void vsWriterFree(VsWriter *p);
/* Wait for the previous write, then hand over n bytes at a for file
** offset iOff of fd. The caller must not touch a until vsWriterWait().
** Returns 0, or the errno of a failed earlier write (then nothing is
** handed over). When the thread cannot be started the bytes are written
** before this returns, and the errno of that write is returned.
** bWriteback: start their writeback once written (writer.c, WRITEBACK). */
int vsWriterSubmit(VsWriter *p, int fd, const void *a, size_t n, off_t iOff,
                   int bWriteback);
/* Wait until no write is in flight. Returns 0 or the errno of a failed
** write since the last call, which it clears. */
int vsWriterWait(VsWriter *p);
/* pwrite() all n bytes at a to offset iOff of fd, on this thread: 0, or
** the errno of the failure (ENOSPC for a write that wrote nothing). */
int vsWriterPwrite(int fd, const void *a, size_t n, off_t iOff);

#endif
