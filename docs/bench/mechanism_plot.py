#!/usr/bin/env python3
"""The figures of ALGORITHM.md §18 from a docs/bench/mechanism_study.sh
output directory: OUTDIR/mechanism.csv (bench mechanism over checkpoints)
and OUTDIR/RUN-SEED.csv (train --log, one row per epoch).

usage: docs/bench/mechanism_plot.py OUTDIR [IMGDIR]   (IMGDIR default docs/img)

Writes IMGDIR/mechanism-alignment.svg, mechanism-training.svg and
mechanism-ranking.svg, and prints the numbers they show (seed means) so the
text can quote them. Python 3 standard library only; the SVG is written by
hand. Every line is the mean over the seeds that have the point; the
figures say which seeds went in.
"""
import csv
import glob
import math
import os
import sys
from collections import defaultdict

RUNS = ("direction", "uniform")
COLOR = {"direction": "#c0392b", "uniform": "#2c6fbb"}
FONT = 'font-family="Helvetica,Arial,sans-serif"'


def load(outdir):
    mech = defaultdict(lambda: defaultdict(dict))  # (run, quantity, group) -> seed -> epoch -> value
    for r in csv.DictReader(open(os.path.join(outdir, "mechanism.csv"))):
        mech[(r["run"], r["quantity"], r["group"])][int(r["seed"])][int(r["epoch"])] = float(r["value"])
    logs = defaultdict(dict)  # run -> seed -> list of rows
    for path in sorted(glob.glob(os.path.join(outdir, "*-*.csv"))):
        name = os.path.basename(path)[:-4]
        run, _, seed = name.partition("-")
        if run in RUNS and seed.isdigit():
            logs[run][int(seed)] = list(csv.DictReader(open(path)))
    return mech, logs


def seed_mean(by_seed, epochs=None):
    """{epoch: mean over seeds} at the epochs every seed has (or `epochs`)."""
    if not by_seed:
        return {}
    common = set.intersection(*(set(v) for v in by_seed.values()))
    if epochs is not None:
        common &= set(epochs)
    return {e: sum(v[e] for v in by_seed.values()) / len(by_seed) for e in sorted(common)}


def nice_ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks, t = [start], start
    while t < hi - step * 1e-9:
        t += step
        ticks.append(round(t, 10))
    return ticks


def fmt(v):
    if abs(v) < 1e-12:
        return "0"
    return ("%.3f" % v).rstrip("0").rstrip(".") if abs(v) < 10 else "%g" % v


class Svg:
    def __init__(self, w, h):
        self.w, self.h, self.parts = w, h, []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", rotate=None, color="#222"):
        tr = ' transform="rotate(%d %.1f %.1f)"' % (rotate, x, y) if rotate else ""
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.add('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" font-weight="%s" fill="%s" %s%s>%s</text>'
                 % (x, y, size, anchor, weight, color, FONT, tr, s))

    def save(self, path):
        with open(path, "w") as f:
            f.write('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n'
                    % (self.w, self.h, self.w, self.h))
            f.write('<rect width="100%" height="100%" fill="white"/>\n')
            f.write("\n".join(self.parts))
            f.write("\n</svg>\n")


def panel(svg, x0, y0, w, h, series, title, xlabel, ylabel, zero=False, legend="upper right", ylim=None):
    """series: list of dicts with xs, ys, label, color, dash (optional), width."""
    xs = [x for s in series for x in s["xs"]]
    ys = [y for s in series for y in s["ys"]]
    if not xs:
        return
    xlo, xhi = min(xs), max(xs)
    ylo, yhi = (min(ys), max(ys)) if ylim is None else ylim
    if zero:
        ylo, yhi = min(ylo, 0.0), max(yhi, 0.0)
    pad = 0.0 if ylim is not None else (yhi - ylo) * 0.06 or 0.1
    yt = nice_ticks(ylo - pad, yhi + pad)
    ylo, yhi = yt[0], yt[-1]
    xt = [t for t in nice_ticks(xlo, xhi, 6) if xlo - 1e-9 <= t <= xhi + 1e-9] or [xlo, xhi]
    L, R, T, B = 58, 10, 26, 40
    pw, ph = w - L - R, h - T - B

    def X(v):
        return x0 + L + (v - xlo) / ((xhi - xlo) or 1) * pw

    def Y(v):
        return y0 + T + (yhi - v) / ((yhi - ylo) or 1) * ph

    svg.text(x0 + L, y0 + 16, title, 13, weight="bold")
    for t in yt:
        svg.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e6e6e6"/>' % (X(xlo), Y(t), X(xhi), Y(t)))
        svg.text(X(xlo) - 5, Y(t) + 4, fmt(t), 10, "end")
    for t in xt:
        svg.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>' % (X(t), Y(ylo), X(t), Y(ylo) + 4))
        svg.text(X(t), Y(ylo) + 16, fmt(t), 10, "middle")
    if zero and ylo < 0 < yhi:
        svg.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#777" stroke-width="1"/>'
                % (X(xlo), Y(0), X(xhi), Y(0)))
    svg.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>' % (X(xlo), Y(yhi), pw, ph))
    svg.text(x0 + L + pw / 2, y0 + h - 6, xlabel, 11, "middle")
    svg.text(x0 + 14, y0 + T + ph / 2, ylabel, 11, "middle", rotate=-90)
    for s in series:
        pts = " ".join("%.1f,%.1f" % (X(a), Y(b)) for a, b in zip(s["xs"], s["ys"]))
        dash = ' stroke-dasharray="%s"' % s["dash"] if s.get("dash") else ""
        svg.add('<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>'
                % (pts, s["color"], s.get("width", 2.0), dash))
        if s.get("marks", True) and len(s["xs"]) <= 12:
            for a, b in zip(s["xs"], s["ys"]):
                svg.add('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (X(a), Y(b), s["color"]))
    labelled = [s for s in series if s.get("label")]
    if labelled:
        lw = 30 + 5.6 * max(len(s["label"]) for s in labelled)
        lx = X(xhi) - lw - 4 if legend.endswith("right") else X(xlo) + 8
        lh = 14 * len(labelled)
        ly = (Y(yhi) + 8 if legend.startswith("upper") else
              Y((ylo + yhi) / 2) - lh / 2 if legend.startswith("middle") else Y(ylo) - lh - 4)
        svg.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="white" fill-opacity="0.85" stroke="#ccc"/>'
                % (lx - 4, ly - 2, lw, lh + 4))
        for k, s in enumerate(labelled):
            yy = ly + 9 + 14 * k
            dash = ' stroke-dasharray="%s"' % s["dash"] if s.get("dash") else ""
            svg.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>'
                    % (lx, yy - 3, lx + 18, yy - 3, s["color"], dash))
            svg.text(lx + 22, yy + 1, s["label"], 10)


def shade(base, k, n):
    """base colour lightened towards white for earlier epochs (k of n)."""
    r, g, b = (int(base[i:i + 2], 16) for i in (1, 3, 5))
    f = 0.75 * (1 - (k + 1) / n)
    return "#%02x%02x%02x" % tuple(int(c + (255 - c) * f) for c in (r, g, b))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    imgdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "img")
    os.makedirs(imgdir, exist_ok=True)
    mech, logs = load(outdir)
    seeds = {run: sorted({s for (r, q, g), v in mech.items() if r == run for s in v}) for run in RUNS}
    seed_note = "seeds: " + ", ".join("%s %s" % (r, "+".join(map(str, seeds[r]))) for r in RUNS)
    deciles = [str(q) for q in range(1, 11)]

    def curve(run, quantity, group):
        return seed_mean(mech.get((run, quantity, group), {}))

    def at_epoch(run, quantity, epoch):
        out = []
        for g in deciles:
            m = curve(run, quantity, g)
            out.append(m.get(epoch, float("nan")))
        return out

    epochs_dir = sorted(curve("direction", "item_proj", "10"))
    last = epochs_dir[-1]
    show = [e for e in (epochs_dir[0], 4, 8, 16, last) if e in epochs_dir]
    show = sorted(set(show))
    print(seed_note)

    # Figure 1: where items and users sit along c, by decile, over epochs.
    svg = Svg(980, 330)
    for p, (unit, label) in enumerate((("item", "item popularity decile (1 = tail, 10 = head)"),
                                       ("user", "user degree decile (1 = fewest, 10 = most)"))):
        series = []
        for k, e in enumerate(show):
            series.append({"xs": list(range(1, 11)), "ys": at_epoch("direction", unit + "_cos", e),
                           "color": shade(COLOR["direction"], k, len(show)), "label": "direction, epoch %d" % e})
        series.append({"xs": list(range(1, 11)), "ys": at_epoch("uniform", unit + "_cos", last),
                       "color": COLOR["uniform"], "dash": "5,3", "label": "uniform, epoch %d" % last})
        panel(svg, 490 * p, 0, 490, 310, series, "%ss: mean cos(e, ĉ)" % unit.capitalize(), label, "cos(e, ĉ)",
              zero=True, legend="upper right" if unit == "item" else "lower left")
    svg.text(980 - 8, 326, seed_note, 10, "end", color="#666")
    svg.save(os.path.join(imgdir, "mechanism-alignment.svg"))
    for e in show:
        print("direction epoch %d item cos by decile: %s" % (e, " ".join("%.3f" % v for v in at_epoch("direction", "item_cos", e))))
        print("direction epoch %d user cos by decile: %s" % (e, " ".join("%.3f" % v for v in at_epoch("direction", "user_cos", e))))
        print("direction epoch %d item proj by decile: %s" % (e, " ".join("%.3f" % v for v in at_epoch("direction", "item_proj", e))))
    print("uniform epoch %d item cos by decile: %s" % (last, " ".join("%.3f" % v for v in at_epoch("uniform", "item_cos", last))))
    print("uniform epoch %d user cos by decile: %s" % (last, " ".join("%.3f" % v for v in at_epoch("uniform", "user_cos", last))))

    # Figure 2: over training.
    svg = Svg(980, 640)

    def over(run, quantity, group):
        m = curve(run, quantity, group)
        return list(m), list(m.values())

    series = []
    for run in RUNS:
        for g, dash, name in (("10", None, "head"), ("1", "5,3", "tail")):
            xs, ys = over(run, "item_cos", g)
            series.append({"xs": xs, "ys": ys, "color": COLOR[run], "dash": dash,
                           "label": "%s, %s items" % (run, name), "marks": False})
        xs, ys = over(run, "user_cos", "10")
        series.append({"xs": xs, "ys": ys, "color": COLOR[run], "dash": "1,3", "width": 2.5,
                       "label": "%s, top-degree users" % run, "marks": False})
    panel(svg, 0, 0, 490, 310, series, "Alignment with ĉ (deciles 1 and 10)", "epoch", "mean cos(e, ĉ)", zero=True,
          legend="upper right", ylim=(-0.9, 1.9))
    series = []
    for run in RUNS:
        for g, dash, name in (("10", None, "head"), ("1", "5,3", "tail")):
            xs, ys = over(run, "item_norm", g)
            series.append({"xs": xs, "ys": ys, "color": COLOR[run], "dash": dash, "label": "%s, %s |e|" % (run, name),
                           "marks": False})
    panel(svg, 490, 0, 490, 310, series, "Item norms (deciles 1 and 10)", "epoch", "mean |e|", legend="upper left")
    series = []
    for run in RUNS:
        xs, ys = over(run, "item_effective_rank", "all")
        series.append({"xs": xs, "ys": ys, "color": COLOR[run], "label": run, "marks": False})
    panel(svg, 0, 320, 490, 310, series, "Effective rank of the item table (of 64)", "epoch", "effective rank",
          legend="lower left")
    series = []
    for run in RUNS:
        for split, dash in (("test_iid", None), ("test_ood", "5,3")):
            by_seed = {s: {int(r["epoch"]): float(r[split + "_recall@20"]) for r in rows if r[split + "_recall@20"]}
                       for s, rows in logs[run].items()}
            m = seed_mean(by_seed)
            series.append({"xs": list(m), "ys": list(m.values()), "color": COLOR[run], "dash": dash,
                           "label": "%s, %s" % (run, split), "marks": False})
    panel(svg, 490, 320, 490, 310, series, "Recall@20 per epoch (train --log)", "epoch", "Recall@20",
          legend="upper right")
    svg.text(980 - 8, 636, seed_note, 10, "end", color="#666")
    svg.save(os.path.join(imgdir, "mechanism-training.svg"))
    for run in RUNS:
        for q in ("item_effective_rank",):
            m = curve(run, q, "all")
            print("%s %s: %s" % (run, q, " ".join("e%d=%.2f" % kv for kv in m.items())))
        for q, g in (("item_norm", "1"), ("item_norm", "10"), ("item_cos", "1"), ("item_cos", "10"), ("user_cos", "1"),
                     ("user_cos", "10")):
            m = curve(run, q, g)
            print("%s %s decile %s: %s" % (run, q, g, " ".join("e%d=%.3f" % kv for kv in m.items() if kv[0] in show)))
        for split in ("valid", "valid_ood", "test_iid", "test_ood"):
            key = split + "_recall@20"
            by_seed = {s: {int(r["epoch"]): float(r[key]) for r in rows if r[key]} for s, rows in logs[run].items()}
            m = seed_mean(by_seed)
            if m:
                best = max(m, key=m.get)
                print("%s %s recall@20 (seed mean): %s  max e%d=%.4f" % (
                    run, split, " ".join("e%d=%.4f" % (e, m[e]) for e in (2, 5, 10, 20, 30, 40) if e in m), best, m[best]))

    # Figure 3: what c does to the ranking.
    svg = Svg(980, 640)
    mid = 8 if 8 in curve("direction", "item_score", "1") else show[len(show) // 2]
    series = [
        {"xs": list(range(1, 11)), "ys": at_epoch("direction", "item_score", mid), "color": COLOR["direction"],
         "label": "direction: <ū, e>"},
        {"xs": list(range(1, 11)), "ys": at_epoch("direction", "item_score_c", mid), "color": "#e08e0b",
         "dash": "5,3", "label": "direction: its part along ĉ"},
        {"xs": list(range(1, 11)), "ys": at_epoch("uniform", "item_score", mid), "color": COLOR["uniform"],
         "label": "uniform: <ū, e>"},
        {"xs": list(range(1, 11)), "ys": at_epoch("uniform", "item_score_c", mid), "color": "#7fa7d6",
         "dash": "5,3", "label": "uniform: its part along ĉ"},
    ]
    panel(svg, 0, 0, 490, 310, series, "Mean score of an item for the mean user, epoch %d" % mid,
          "item popularity decile (1 = tail, 10 = head)", "score", zero=True, legend="upper left")
    series = []
    for e, dash in ((mid, "5,3"), (last, None)):
        series += [
            {"xs": list(range(1, 11)), "ys": at_epoch("direction", "item_top20_share", e), "color": COLOR["direction"],
             "dash": dash, "label": "direction, epoch %d" % e},
            {"xs": list(range(1, 11)), "ys": at_epoch("direction", "item_top20_share_noc", e), "color": "#e08e0b",
             "dash": dash, "label": "direction, ĉ part removed, epoch %d" % e},
            {"xs": list(range(1, 11)), "ys": at_epoch("uniform", "item_top20_share", e), "color": COLOR["uniform"],
             "dash": dash, "label": "uniform, epoch %d" % e},
        ]
    panel(svg, 490, 0, 490, 310, series, "Share of all top-20 slots by item decile",
          "item popularity decile (1 = tail, 10 = head)", "share of slots", legend="upper left", ylim=(0, 0.9))
    series = []
    for split, dash in (("test_iid", None), ("test_ood", "5,3")):
        for quantity, color, name in (("recall@20", COLOR["direction"], "direction"),
                                      ("recall@20_noc", "#e08e0b", "direction, ĉ part removed")):
            xs, ys = over("direction", quantity, split)
            series.append({"xs": xs, "ys": ys, "color": color, "dash": dash, "label": "%s, %s" % (name, split),
                           "marks": False})
        xs, ys = over("uniform", "recall@20", split)
        series.append({"xs": xs, "ys": ys, "color": COLOR["uniform"], "dash": dash, "label": "uniform, %s" % split,
                       "marks": False})
    panel(svg, 0, 320, 980, 310, series, "Recall@20 over training, with and without the part of the score along ĉ",
          "epoch", "Recall@20", legend="upper right", ylim=(0, 0.09))
    svg.text(980 - 8, 636, seed_note, 10, "end", color="#666")
    svg.save(os.path.join(imgdir, "mechanism-ranking.svg"))
    for e in show:
        for run in RUNS:
            for q in ("item_top20_share", "item_top20_share_noc", "item_score", "item_score_c"):
                print("%s epoch %d %s: %s" % (run, e, q, " ".join("%.3f" % v for v in at_epoch(run, q, e))))
    for run in RUNS:
        for split in ("valid", "valid_ood", "test_iid", "test_ood"):
            a, b = curve(run, "recall@20", split), curve(run, "recall@20_noc", split)
            print("%s %s recall@20 / without c: %s" % (run, split, " ".join(
                "e%d=%.4f/%.4f" % (e, a[e], b[e]) for e in a if e in show)))


if __name__ == "__main__":
    main()
