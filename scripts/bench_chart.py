#!/usr/bin/python3
"""Draw the benchmark ratios as an SVG bar chart.

Reads the lines "ratio<TAB>benchmark<TAB>operation<TAB>value<TAB>target"
that the bench_* programs print (scripts/bench.sh collects them) and writes
one horizontal bar per operation: the ratio veles/baseline speed on a log
scale, with the target marked. Standard library only.
"""
import math
import sys
from xml.sax.saxutils import escape


def main(path_in, path_out):
    rows = []
    for line in open(path_in, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 5 and parts[0] == "ratio":
            rows.append((parts[1], parts[2], float(parts[3]), float(parts[4])))
    bar_h, gap, left, width = 22, 6, 330, 420
    lo, hi = math.log10(0.1), math.log10(1000.0)

    def x(v):
        v = min(max(v, 0.1), 1000.0)
        return left + (math.log10(v) - lo) / (hi - lo) * width

    groups = []
    for bench, op, value, target in rows:
        if not groups or groups[-1][0] != bench:
            groups.append((bench, []))
        groups[-1][1].append((op, value, target))
    height = 40 + sum(28 + len(ops) * (bar_h + gap) for _, ops in groups) + 30
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (left + width + 80, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="22" font-size="15" font-weight="bold">veles speed '
           'relative to the baseline (higher is better, log scale)</text>']
    y = 40
    for bench, ops in groups:
        out.append('<text x="10" y="%d" font-weight="bold">%s</text>'
                   % (y + 16, escape(bench)))
        y += 28
        for op, value, target in ops:
            colour = "#2e7d32" if (target == 0 or value >= target) else "#c62828"
            out.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                       % (left - 8, y + 15, escape(op)))
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                       % (left, y, x(value) - left, bar_h, colour))
            out.append('<text x="%.1f" y="%d">%.2f×</text>'
                       % (x(value) + 4, y + 15, value))
            if target > 0:
                out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" '
                           'stroke="black" stroke-dasharray="3,2"/>'
                           % (x(target), x(target), y - 2, y + bar_h + 2))
            y += bar_h + gap
    for v in (0.1, 1, 10, 100, 1000):
        out.append('<line x1="%.1f" x2="%.1f" y1="36" y2="%d" stroke="#bbb"/>'
                   % (x(v), x(v), y))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%g×</text>'
                   % (x(v), y + 16, v))
    out.append('<text x="10" y="%d" fill="#555">dashed line: target; '
               'red: below target</text>' % (y + 16))
    out.append('</svg>')
    with open(path_out, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
