#!/usr/bin/env python3
"""Log-log plot of epoch seconds against training interactions, one line per
(encoder, sampler, path), from the JSON of `cnsdiff bench scale --report`.

usage: scale_plot.py REPORT.json [REPORT.json ...] OUT.svg

Rows of several reports are merged (a later report's row replaces an earlier
one of the same point). Extrapolated points are drawn hollow. A dashed grey
line of slope 1 through the smallest point of the first series shows linear
cost. Pure python, writes SVG, and prints the merged rows as the markdown
table of docs/BENCHMARKS.md "Scale".
"""
import json
import math
import sys

W, H = 720, 480
L, R, T, B = 70, 190, 30, 55
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rows = {}
    for path in sys.argv[1:-1]:
        with open(path) as f:
            for r in json.load(f)["rows"]:
                key = (r["encoder"], r["sampler"], r["path"], round(r["interactions"], -3))
                rows[key] = r
    series = {}
    for (enc, smp, pth, _), r in sorted(rows.items()):
        series.setdefault((enc, smp, pth), []).append(r)
    xs = [r["interactions"] for r in rows.values()]
    ys = [r["epoch_seconds_median"] for r in rows.values()]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    if x1 == x0:
        x1 += 1
    if y1 == y0:
        y1 += 1

    def px(x):
        return L + (math.log10(x) - x0) / (x1 - x0) * (W - L - R)

    def py(y):
        return H - B - (math.log10(y) - y0) / (y1 - y0) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for e in range(x0, x1 + 1):
        x = px(10 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">1e{e}</text>')
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="black"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">training interactions</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(T + H - B) / 2})">epoch seconds</text>')
    first = next(iter(series.values()))
    bx, by = first[0]["interactions"], first[0]["epoch_seconds_median"]
    ex = 10 ** x1
    out.append(f'<line x1="{px(bx):.1f}" y1="{py(by):.1f}" x2="{px(ex):.1f}" '
               f'y2="{py(min(by * ex / bx, 10 ** y1)):.1f}" stroke="#999" stroke-dasharray="5,4"/>')
    for n, (key, pts) in enumerate(series.items()):
        c = COLORS[n % len(COLORS)]
        pts.sort(key=lambda r: r["interactions"])
        d = " ".join(f'{px(r["interactions"]):.1f},{py(r["epoch_seconds_median"]):.1f}' for r in pts)
        out.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for r in pts:
            fill = "white" if r["extrapolated"] else c
            out.append(f'<circle cx="{px(r["interactions"]):.1f}" cy="{py(r["epoch_seconds_median"]):.1f}" '
                       f'r="4" fill="{fill}" stroke="{c}" stroke-width="2"/>')
        ly = T + 16 + 18 * n
        out.append(f'<line x1="{W - R + 12}" y1="{ly - 4}" x2="{W - R + 32}" y2="{ly - 4}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{W - R + 38}" y="{ly}">{key[0]} {key[1]} {key[2]}</text>')
    ly = T + 16 + 18 * len(series)
    out.append(f'<line x1="{W - R + 12}" y1="{ly - 4}" x2="{W - R + 32}" y2="{ly - 4}" stroke="#999" stroke-dasharray="5,4"/>')
    out.append(f'<text x="{W - R + 38}" y="{ly}">linear cost</text>')
    out.append(f'<text x="{W - R + 12}" y="{ly + 18}">hollow: extrapolated</text>')
    out.append("</svg>")
    print("| interactions | encoder | sampler | path | batch | epoch s | s per M | load s | eval s | peak RSS MB | extrapolated |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(rows, key=lambda k: (k[3], k[0] != "mf", k[1] != "uniform", k[2] != "exact")):
        r = rows[key]
        print(f'| {r["interactions"]:,} | {r["encoder"]} | {r["sampler"]} | {r["path"]} | {r.get("batch_size", "")} '
              f'| {r["epoch_seconds_median"]:.3g} | {r["seconds_per_million"]:.3g} | {r["load_seconds"]:.2f} '
              f'| {r["eval_seconds"]:.2f} | {r["peak_rss_mb"]:.0f} | {"yes" if r["extrapolated"] else "no"} |')
    with open(sys.argv[-1], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
