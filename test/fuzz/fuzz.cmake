# libFuzzer targets (test/fuzz/fuzz_*.c), built with -DVELES_FUZZ=ON and
# clang: CC=clang cmake -S . -B build-fuzz -DVELES_FUZZ=ON. Each target
# links the extension's sources (instrumented for coverage, with ASan and
# UBSan) and the system libsqlite3, and registers the extension with
# sqlite3_auto_extension(). scripts/fuzz.sh builds and runs them;
# docs/fuzzing.md tells how to run them long.
option(VELES_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
if(VELES_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "VELES_FUZZ needs clang: configure with CC=clang "
            "(this is ${CMAKE_C_COMPILER_ID})")
  endif()
  # -UNDEBUG: scripts/fuzz.sh builds RelWithDebInfo (-DNDEBUG), yet the
  # fuzzers are where the asserts of slotmap.c, sidefile.c and writer.c
  # find bugs (it comes after the build type's flags on the command line)
  set(VELES_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -UNDEBUG)
  # the extension, compiled once for every target; the SIMD kernels
  # without instrumentation: with the sanitizers clang takes 1.5 to 6
  # minutes over distance.c alone (most of the fuzz stage's build time in
  # CI), coverage of straight-line arithmetic guides nothing, and the
  # ASan + UBSan test stage checks the kernels
  set(VELES_FUZZ_KERNELS ${PROJECT_SOURCE_DIR}/ext/distance.c)
  set(VELES_FUZZ_REST ${VELES_SOURCES})
  list(REMOVE_ITEM VELES_FUZZ_REST ${VELES_FUZZ_KERNELS})
  add_library(veles_fuzz_ext OBJECT ${VELES_FUZZ_REST})
  add_library(veles_fuzz_kernels OBJECT ${VELES_FUZZ_KERNELS})
  target_compile_options(veles_fuzz_kernels PRIVATE -g -UNDEBUG)
  target_compile_options(veles_fuzz_ext PRIVATE ${VELES_FUZZ_FLAGS})
  # the IVF index from 8 rows, so that the fuzzers' small tables make it
  target_compile_definitions(veles_fuzz_ext PRIVATE VS_IVF_MIN_ROWS=8)
  foreach(lib veles_fuzz_ext veles_fuzz_kernels)
    target_include_directories(${lib} PRIVATE ${PROJECT_SOURCE_DIR}/include
                               ${SQLITE3EXT_INCLUDE_DIR} ${CJSON_INCLUDE_DIR})
  endforeach()
  file(GLOB VELES_FUZZ_SOURCES CONFIGURE_DEPENDS
       ${PROJECT_SOURCE_DIR}/test/fuzz/fuzz_*.c)
  foreach(src ${VELES_FUZZ_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src} $<TARGET_OBJECTS:veles_fuzz_ext>
                   $<TARGET_OBJECTS:veles_fuzz_kernels>)
    target_compile_options(${name} PRIVATE ${VELES_FUZZ_FLAGS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE SQLite::SQLite3 ${CJSON_LIBRARY}
                          m Threads::Threads)
  endforeach()
endif()
