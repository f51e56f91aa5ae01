#!/usr/bin/env python3
"""Summarise the sampler study (docs/bench/study.sh) from its per-epoch logs.

Each run is selected once per selection rule, from the same log, by the
rule `cnsdiff train --select-by` applies during a run (cns_selector,
include/cnsdiff/select.h; docs/EVALUATION.md "Model selection"):
the score is the rule's validation metric, smoothed as the mean of the last
W evaluations; the best is the highest smoothed score (a tie keeps the
earlier epoch); the run stops once PATIENCE evaluations after
max(best, minN) have not improved it, and nothing after that point is
selected. Test metrics are read at the selected epoch only. Prints mean +-
sd over seeds as a Markdown table per dataset and rule.

Rules are spelled as for the tool: "default" (the library's default rule,
read from lib/select.c's SELECT_DEFAULT_* so there is one place that defines
it), "ood" (the fixed smoothed IPS rule the study measured, read from
RUN_SELECT_OOD in examples/cnsdiff/run.h, the tool's one place for it) or
METRIC@K[:smoothW][:minN] with a validation column valid_METRIC@K in the
log (recall, ndcg, ips_ndcg at K = 20).

usage: summarize.py [--rules R1,R2,...] [--patience P] [--max-epoch N] OUTDIR [OUTDIR...]
  --rules     default ndcg@20,ips_ndcg@20,ood,default
  --max-epoch use only each log's first N epochs (a common budget)
  --patience  evaluations; default the library's (lib/select.c). 0 never
              stops, i.e. the best over the whole log (the selection of
              this script before issue 11). A log that a run stopped early
              holds only the evaluations that run made: the rule is applied
              to those.
"""
import csv
import glob
import math
import os
import re
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
SELECT_C = os.path.join(HERE, "..", "..", "lib", "select.c")
RUN_H = os.path.join(HERE, "..", "..", "examples", "cnsdiff", "run.h")
METRICS = ["recall", "ndcg", "precision", "hit", "ips_recall", "ips_ndcg"]  # cns_metric order


def library_defaults(path=SELECT_C):
    """The default rule as lib/select.c defines it (SELECT_DEFAULT_*)."""
    with open(path) as f:
        text = f.read()
    d = dict(re.findall(r"#define SELECT_DEFAULT_(\w+) (\w+)", text))
    metric = d["METRIC"].replace("CNS_METRIC_", "").lower()
    return {"metric": metric, "k": int(d["K"]), "window": int(d["WINDOW"]),
            "min_evals": int(d["MIN_EVALS"]), "patience": int(d["PATIENCE"])}


def ood_spec(path=RUN_H):
    """The spelling `--select-by ood` stands for (RUN_SELECT_OOD)."""
    with open(path) as f:
        m = re.search(r'#define RUN_SELECT_OOD "([^"]+)"', f.read())
    if not m:
        raise ValueError(f"{path}: no RUN_SELECT_OOD")
    return m.group(1)


def spelling(metric, k, window, min_evals):
    """The tool's canonical METRIC@K[:smoothW][:minN], neutral parts left out."""
    return (f"{metric}@{k}" + (f":smooth{window}" if window > 1 else "")
            + (f":min{min_evals}" if min_evals > 0 else ""))


class Rule:
    """A --select-by rule plus patience, as cns_selector holds it."""

    def __init__(self, spec, patience=None, defaults=None):
        defaults = defaults or library_defaults()
        self.spec = spec
        if spec == "default":
            self.metric, self.k = defaults["metric"], defaults["k"]
            self.window, self.min_evals = defaults["window"], defaults["min_evals"]
            self.name = f"default ({spelling(self.metric, self.k, self.window, self.min_evals)})"
        elif spec == "ood":
            inner = Rule(ood_spec(), patience, defaults)
            self.metric, self.k = inner.metric, inner.k
            self.window, self.min_evals = inner.window, inner.min_evals
            self.name = f"ood ({spelling(self.metric, self.k, self.window, self.min_evals)})"
        else:
            m = re.fullmatch(r"(\w+)@(\d+)((?::smooth\d+|:min\d+)*)", spec)
            if not m or m.group(1) not in METRICS:
                raise ValueError(f"rule '{spec}': expected default, ood or METRIC@K[:smoothW][:minN]")
            self.metric, self.k = m.group(1), int(m.group(2))
            opts = re.findall(r":(smooth|min)(\d+)", m.group(3))
            if len({o for o, _ in opts}) != len(opts):
                raise ValueError(f"rule '{spec}': :smoothW and :minN at most once each")
            o = dict(opts)
            self.window = int(o.get("smooth", 1))
            self.min_evals = int(o.get("min", 0))
            if not 1 <= self.window <= 64:
                raise ValueError(f"rule '{spec}': W must be in [1, 64]")
            self.name = spec
        self.patience = defaults["patience"] if patience is None else patience
        self.column = f"valid_{self.metric}@{self.k}"


def apply_rule(rows, rule):
    """Selects among evaluation rows (epoch order) as cns_selector does.

    Returns (selected row, smoothed score, 1-based evaluation at which the
    rule stopped or None). The mean sums the window oldest first, like
    lib/select.c, so the two agree bit for bit on the same values."""
    hist, best, best_score, best_eval = [], None, None, 0
    for t, row in enumerate(rows, 1):
        if rule.column not in row:
            raise ValueError(f"the log has no column {rule.column}")
        v = float(row[rule.column])
        if not math.isfinite(v):
            raise ValueError(f"{rule.column} is {v} at epoch {row['epoch']} (evaluation {t}); "
                             "refusing to select on it")
        hist.append(v)
        window = hist[-rule.window:]
        smooth = sum(window) / len(window)
        if best is None or smooth > best_score:
            best, best_score, best_eval = row, smooth, t
        if rule.patience > 0 and t - max(best_eval, rule.min_evals) >= rule.patience:
            return best, best_score, t
    return best, best_score, None

ORDER = ["uniform", "dns", "cnsdiff", "cnsdiff_ns0.3", "cnsdiff_ns1.0", "cnsdiff_wide",
         "reference", "ref_nocl", "ref_nomix", "ref_gauss", "paper", "paper_code", "direction"]


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


def main(argv):
    rules_spec, patience, max_epoch, dirs = "ndcg@20,ips_ndcg@20,ood,default", None, None, []
    it = iter(argv)
    for a in it:
        if a == "--rules":
            rules_spec = next(it)
        elif a == "--patience":
            patience = int(next(it))
        elif a == "--max-epoch":
            max_epoch = int(next(it))
        else:
            dirs.append(a)
    rules = [Rule(r, patience) for r in rules_spec.split(",")]
    runs = defaultdict(list)  # (dataset, variant) -> list of rows per seed
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.csv"))):
            m = re.match(r"(\w+)-(.+)-s(\d+)\.csv$", os.path.basename(path))
            if not m:
                continue
            if not os.path.exists(path[:-4] + ".json"):
                continue  # still running, or failed: its report is written last
            rows = load(path)
            if max_epoch is not None:  # a common budget for logs of longer runs
                rows = [r for r in rows if int(r["epoch"]) <= max_epoch]
            if rows:
                runs[(m.group(1), m.group(2))].append(rows)
    datasets = sorted({k[0] for k in runs})
    for ds in datasets:
        tests = None
        for rule in rules:
            pat = f", patience {rule.patience}" if rule.patience else ""
            print(f"\n### {ds}, selected by validation {rule.name}{pat}\n")
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
                chosen = [apply_rule(rows, rule) for rows in seeds]
                picks = [c[0] for c in chosen]
                cells = []
                for t in tests:
                    cells.append(fmt([float(p[f"{t}_recall@20"]) for p in picks]))
                    cells.append(fmt([float(p[f"{t}_ndcg@20"]) for p in picks]))
                epochs = "/".join(p["epoch"] for p in picks)
                valid = fmt([c[1] for c in chosen])
                print(f"| {v} | {len(picks)} | {epochs} | {valid} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
