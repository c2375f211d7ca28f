#!/usr/bin/env python3
"""Writes the hand-made seeds of test/fuzz/corpus/fuzz_sql: small programs
in fuzz_sql's bytecode (see the top of fuzz_sql.c), one per area.
Usage: make_sql_seeds.py <dir>"""
import os, sys

VW, PW, CMP, FLD, SRCH, FN, TXN, CHK, CONN, SCHEMA = 0, 3, 5, 7, 8, 9, 10, 12, 13, 14
FILE, WAL, SYNCOFF = 1, 2, 4

def id_(i): return [0, i]                      # a small id
def null_id(): return [11, 0]
def jvec(*xs): return [0, len(xs) - 1] + [int(x * 4) & 0xff for x in xs]
def bvec(*xs): return [2, len(xs) - 1] + [int(x * 4) & 0xff for x in xs]
def ins(tab, rows, conflict=0):
    out = [VW, tab, 0, len(rows) - 1, conflict]
    for i, v in rows: out += id_(i) + v
    return out
def upd_vec(tab, v, i, conflict=0): return [VW, tab, 1, conflict] + v + id_(i)
def upd_id(tab, new, old, conflict=0): return [VW, tab, 2, conflict] + id_(new) + id_(old)
def delete(tab, i): return [VW, tab, 3] + id_(i)
def del_range(tab, lo, hi): return [VW, tab, 4] + id_(lo) + id_(hi)
def ins_select(tab, add, below): return [VW, tab, 5, 1, add] + id_(below)
def ins_auto(tab, v): return [VW, tab, 7] + v
def pjson(l, y, s, b): return [0, l, y, s, b]    # template payload
def pins(tab, rows, conflict=0):
    out = [PW, tab, 0, len(rows) - 1, conflict]
    for i, j in rows: out += id_(i) + j
    return out
def pupd(tab, j, i): return [PW, tab, 1, 0] + j + id_(i)
def pdel(tab, i): return [PW, tab, 3] + id_(i)
def cmp_(tab, q, a=0, b=0, c=0): return [CMP, tab, q] + id_(a) + id_(b) + id_(c)
def fields(f, op, c): return [FLD, f, op, c]
def search(tab, filt, k, v, limit=False, ids=(0, 0, 0)):
    out = [SRCH, tab, filt, k, 0 if limit else 1] + v
    for i in ids: out += id_(i)
    return out
def fn(kind, metric, a, b): return [FN, kind, metric] + a + b
def txn(kind, sp=0): return [TXN, kind, sp]
BEGIN, IMM, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK_TO = range(7)
def check(t): return [CHK, t]
def conn(kind): return [CONN, kind]
def schema(tab, kind): return [SCHEMA, tab, kind]
def all_checks(): return sum((check(t) for t in range(6)), []) + check(7)

fill = ins(0, [(1, jvec(1, 2, 3, 4)), (2, bvec(0, -1, 0.5, 2)), (3, jvec(4, 3, 2, 1))])
fill2 = ins(1, [(1, jvec(1, 0)), (2, jvec(0, 1))])
fill3 = ins(2, [(1, jvec(1, 2, 3)), (5, jvec(-1, -2, -3))])
pfill = pins(4, [(1, pjson(2, 2, 2, 2)), (2, pjson(3, 3, 4, 3)), (3, pjson(1, 0, 0, 0))])

seeds = {
  'vec-basic-mem': [0] + fill + cmp_(0, 0) + all_checks(),
  'vec-basic-file': [FILE] + fill + fill2 + fill3 + cmp_(0, 0) + cmp_(1, 0) + all_checks(),
  'vec-wal': [FILE | WAL] + fill + delete(0, 2) + ins(0, [(7, jvec(7, 7, 7, 7))]) + cmp_(0, 0),
  'vec-syncoff': [FILE | SYNCOFF] + fill + upd_vec(0, jvec(9, 9, 9, 9), 1) + cmp_(0, 1, 1),
  'vec-conflicts': [FILE] + fill + ins(0, [(1, jvec(0, 0, 0, 0))]) + ins(0, [(1, jvec(5, 5, 5, 5))], 1)
      + ins(0, [(2, jvec(6, 6, 6, 6))], 2) + ins(0, [(3, jvec(1, 1, 1, 1))], 3) + cmp_(0, 0),
  'vec-bad-third-row': [FILE] + ins(0, [(1, jvec(1, 1, 1, 1)), (2, jvec(2, 2, 2, 2)), (3, jvec(3, 3, 3))]) + cmp_(0, 0),
  'vec-move-id': [FILE] + fill + upd_id(0, 9, 1) + upd_id(0, 2, 3) + upd_id(0, 2, 3, 1) + cmp_(0, 0),
  'vec-range-delete': [FILE] + fill + del_range(0, 1, 2) + cmp_(0, 3, 0, 10) + cmp_(0, 4),
  'vec-insert-select': [FILE] + fill + ins_select(0, 10, 5) + cmp_(0, 0) + cmp_(0, 5),
  'vec-auto-id': [0] + ins_auto(0, jvec(1, 1, 1, 1)) + ins_auto(0, jvec(2, 2, 2, 2)) + fill + ins_auto(0, jvec(3, 3, 3, 3)) + cmp_(0, 0),
  'vec-nodim': [FILE] + ins(1, [(1, jvec(1, 2, 3))]) + ins(1, [(2, jvec(1, 2))]) + cmp_(1, 0) + check(1),
  'vec-nodim-rollback': [FILE] + txn(BEGIN) + ins(1, [(1, jvec(1, 2, 3))]) + txn(ROLLBACK) + ins(1, [(1, jvec(1, 2))]) + cmp_(1, 0) + check(1),
  'vec-temp': [FILE] + ins(3, [(1, jvec(1, 2)), (2, jvec(3, 4))]) + cmp_(3, 0) + check(3),
  'vec-big-dim': [0] + [VW, 1, 0, 0, 0] + id_(1) + [2, 0xF1] + [1] * 8 + cmp_(1, 0),
  'txn-rollback': [FILE] + fill + txn(BEGIN) + delete(0, 1) + upd_vec(0, jvec(8, 8, 8, 8), 2) + txn(ROLLBACK) + cmp_(0, 0),
  'txn-savepoints': [FILE] + txn(BEGIN) + fill + txn(SAVEPOINT, 1) + delete(0, 2) + ins(0, [(4, jvec(4, 4, 4, 4))])
      + txn(ROLLBACK_TO, 1) + txn(SAVEPOINT, 2) + upd_vec(0, jvec(2, 2, 2, 2), 3) + txn(RELEASE, 2) + txn(COMMIT) + cmp_(0, 0),
  'txn-wal-reuse': [FILE | WAL] + fill + delete(0, 1) + delete(0, 2) + ins(0, [(5, jvec(5, 5, 5, 5)), (6, jvec(6, 6, 6, 6))]) + cmp_(0, 0) + all_checks(),
  'conn-two': [FILE] + fill + conn(1) + ins(0, [(8, jvec(8, 8, 8, 8))]) + cmp_(0, 0) + conn(0) + cmp_(0, 0) + delete(0, 8) + conn(1) + cmp_(0, 0),
  'conn-wal-snapshot': [FILE | WAL] + fill + txn(BEGIN) + cmp_(0, 0) + conn(1) + delete(0, 1) + ins(0, [(9, jvec(9, 9, 9, 9))]) + conn(0) + cmp_(0, 0) + txn(COMMIT) + cmp_(0, 0),
  'conn-reopen-open-txn': [FILE] + fill + txn(BEGIN) + delete(0, 1) + conn(2) + cmp_(0, 0) + all_checks(),
  'schema-drop-create': [FILE] + fill + schema(0, 0) + cmp_(0, 0) + fill + txn(BEGIN) + schema(0, 2) + txn(ROLLBACK) + cmp_(0, 0),
  'schema-rename': [FILE] + fill + pfill + schema(0, 1) + schema(4, 1) + cmp_(0, 0) + cmp_(4, 0),
  'search-l2': [FILE] + fill + search(0, 0, 2, jvec(1, 2, 3, 4)) + search(0, 1, 5, jvec(0, 0, 0, 0), ids=(1, 0, 0)),
  'search-cosine': [0] + fill2 + ins(1, [(3, jvec(1, 1)), (4, jvec(0, 0))]) + search(1, 0, 3, jvec(1, 0.5)) + search(1, 2, 3, jvec(1, 0), ids=(1, 4, 9)),
  'search-dot-limit': [FILE] + fill3 + search(2, 3, 3, jvec(1, 1, 1), limit=True, ids=(3, 0, 0)),
  'pay-basic': [FILE] + pfill + cmp_(4, 0) + cmp_(4, 6) + fields(0, 0, 1) + fields(1, 4, 1) + fields(2, 1, 200) + fields(3, 0, 1) + all_checks(),
  'pay-errors': [0] + pins(4, [(1, pjson(6, 0, 0, 0))]) + pins(4, [(2, pjson(0, 5, 0, 0))]) + pins(4, [(3, pjson(0, 6, 0, 0))])
      + pins(4, [(4, [4, 7])]) + pins(4, [(5, [5, 0])]) + pins(4, [(6, [6, 1])]) + cmp_(4, 0),
  'pay-raw': [0] + pins(5, [(1, [3, 5] + list(b'{"a":'))]) + pins(5, [(2, [3, 9] + list(b'[1, 2e3 ]'))]) + pins(5, [(3, [4, 14])]) + cmp_(5, 0),
  'pay-update-move': [FILE] + pfill + pupd(4, pjson(3, 9, 3, 3), 1) + [PW, 4, 2, 1] + id_(5) + id_(2) + pdel(4, 3) + cmp_(4, 0) + fields(0, 0, 2),
  'fn-roundtrip': [0] + fn(0, 0, jvec(1, -2, 0.25), jvec(0)) + fn(0, 0, [0, 2, 0xF3, 0xF7, 0xF2], jvec(0)) + fn(1, 0, jvec(3, 4), jvec(0))
      + fn(2, 1, jvec(1, 0), jvec(0, 1)) + fn(2, 2, jvec(1, 2), jvec(3, 4)) + fn(2, 4, jvec(1), jvec(1)) + fn(2, 7, jvec(1), jvec(1)),
  'fn-extremes': [0] + fn(2, 0, [0, 0, 0xF4], [0, 0, 0xF8]) + fn(0, 0, [0, 1, 0xF0, 0xF1], jvec(0)) + fn(0, 0, [4, 1] + [0, 0, 0xc0, 0x7f] * 2, jvec(0)),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, prog in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(bytes(b & 0xff for b in prog))
print(len(seeds), 'seeds in', out)
