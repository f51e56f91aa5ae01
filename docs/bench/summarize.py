#!/usr/bin/env python3
"""Summarise the sampler study (docs/bench/study.sh) from its per-epoch logs.

Each run is selected twice, from the same log: at the epoch with the best
validation NDCG@20 and at the epoch with the best validation IPS-NDCG@20.
Test metrics are read at the selected epoch only. Prints mean +- sd over
seeds as a Markdown table per dataset and selection metric.

usage: summarize.py OUTDIR [OUTDIR...]
"""
import csv
import glob
import os
import re
import statistics
import sys
from collections import defaultdict

ORDER = ["uniform", "dns", "cnsdiff", "cnsdiff_ns0.3", "cnsdiff_ns1.0", "cnsdiff_wide",
         "reference", "ref_nocl", "ref_nomix", "ref_gauss"]


def load(path):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r.get("valid_ndcg@20")]
    return rows


def fmt(xs):
    if not xs:
        return "–"
    m = statistics.mean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{m:.4f} ± {sd:.4f}"


def main(dirs):
    runs = defaultdict(list)  # (dataset, variant) -> list of rows per seed
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.csv"))):
            m = re.match(r"(\w+)-(.+)-s(\d+)\.csv$", os.path.basename(path))
            if not m:
                continue
            if not os.path.exists(path[:-4] + ".json"):
                continue  # still running, or failed: its report is written last
            rows = load(path)
            if rows:
                runs[(m.group(1), m.group(2))].append(rows)
    datasets = sorted({k[0] for k in runs})
    for ds in datasets:
        tests = None
        for sel in ["valid_ndcg@20", "valid_ips_ndcg@20"]:
            print(f"\n### {ds}, selected by {sel.replace('valid_', 'validation ')}\n")
            header_done = False
            for v in ORDER + sorted({k[1] for k in runs if k[0] == ds} - set(ORDER)):
                seeds = runs.get((ds, v))
                if not seeds:
                    continue
                if tests is None:
                    tests = [c[: -len("_recall@20")] for c in seeds[0][0].keys()
                             if c.endswith("_recall@20") and not c.startswith("valid")]
                if not header_done:
                    cols = []
                    for t in tests:
                        cols += [f"{t} R@20", f"{t} N@20"]
                    print("| variant | seeds | epochs | validation | " + " | ".join(cols) + " |")
                    print("|---|---|---|---|" + "---|" * len(cols))
                    header_done = True
                picks = [max(rows, key=lambda r: (float(r[sel]), -int(r["epoch"]))) for rows in seeds]
                cells = []
                for t in tests:
                    cells.append(fmt([float(p[f"{t}_recall@20"]) for p in picks]))
                    cells.append(fmt([float(p[f"{t}_ndcg@20"]) for p in picks]))
                epochs = "/".join(p["epoch"] for p in picks)
                valid = fmt([float(p[sel]) for p in picks])
                print(f"| {v} | {len(picks)} | {epochs} | {valid} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
