#!/usr/bin/env python3
"""Applies the rule fixed in advance (docs/BENCHMARKS.md, "The rule fixed in
advance") to study logs: for every (configuration, selection rule) pair, the
geometric mean over the datasets with a valid_ood split of the ratios to
uniform of the 3-seed mean valid_ood Recall@20 and NDCG@20 at the selected
epochs; eligibility: IID validation Recall@20 >= 0.95x uniform's on every
dataset. Reads no test column.

usage: choose.py [--rules R1,R2,...] [--max-epoch N] OUTDIR [OUTDIR...]
  --max-epoch  use only the first N epochs of each log (a common budget)
"""
import glob
import math
import os
import re
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import Rule, apply_rule, load  # noqa: E402

# The second, third and fourth amendments (BENCHMARKS.md) added the direction_cl,
# direction_d and trained_repel variants.
CANDIDATES = ["ref_nomix", "direction", "paper", "paper_code", "direction_cl0.2", "direction_cl0.15",
              "direction_d0.1", "direction_d0.25", "direction_d0.5", "trained_repel"]


def main(argv):
    rules = ["ndcg@20", "ips_ndcg@20", "ood"]
    max_epoch = None
    while argv and argv[0] in ("--rules", "--max-epoch"):
        if argv[0] == "--rules":
            rules = argv[1].split(",")
        else:
            max_epoch = int(argv[1])
        argv = argv[2:]
    runs = defaultdict(list)
    for d in argv:
        for path in sorted(glob.glob(os.path.join(d, "*.csv"))):
            m = re.match(r"(\w+)-(.+)-s(\d+)\.csv$", os.path.basename(path))
            if m and os.path.exists(path[:-4] + ".json"):
                rows = load(path)
                if max_epoch is not None:
                    rows = [r for r in rows if int(r["epoch"]) <= max_epoch]
                if rows and "valid_ood_recall@20" in rows[0]:
                    runs[(m.group(1), m.group(2))].append(rows)
    datasets = sorted({k[0] for k in runs})
    print("datasets:", ", ".join(f"{ds} ({len(runs.get((ds, 'uniform'), []))} uniform seeds)"
                                  for ds in datasets))
    table = []
    for spec in rules:
        rule = Rule(spec)
        means = {}
        for (ds, v), seeds in runs.items():
            picks = [apply_rule(rows, rule)[0] for rows in seeds]
            means[(ds, v)] = {c: statistics.mean(float(p[c]) for p in picks)
                              for c in ["valid_ood_recall@20", "valid_ood_ndcg@20",
                                        "valid_recall@20"]}
            means[(ds, v)]["n"] = len(picks)
        for v in CANDIDATES + ["dns", "uniform"]:
            ratios, eligible, detail = [], True, []
            for ds in datasets:
                if (ds, v) not in means or (ds, "uniform") not in means:
                    ratios = None
                    break
                a, u = means[(ds, v)], means[(ds, "uniform")]
                r = [a["valid_ood_recall@20"] / u["valid_ood_recall@20"],
                     a["valid_ood_ndcg@20"] / u["valid_ood_ndcg@20"]]
                iid = a["valid_recall@20"] / u["valid_recall@20"]
                eligible &= iid >= 0.95
                ratios += r
                detail.append(f"{ds}: R {r[0]:.3f} N {r[1]:.3f} iid {iid:.3f} ({a['n']} seeds)")
            if not ratios:
                continue
            score = (0.0 if min(ratios) <= 0 else
                     math.exp(sum(math.log(x) for x in ratios) / len(ratios)))
            table.append((score, spec, v, eligible, detail))
    table.sort(key=lambda t: -t[0])
    print("| score | rule | configuration | eligible | per dataset (valid_ood ratio to uniform; IID valid recall ratio) |")
    print("|---|---|---|---|---|")
    for score, spec, v, eligible, detail in table:
        print(f"| {score:.3f} | {spec} | {v} | {'yes' if eligible else 'no'} | {'; '.join(detail)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
