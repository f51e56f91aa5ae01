#!/usr/bin/env python3
"""The model-selection rule, C against Python (tests/tool_select.cmake).

series: random validation series with many ties go through cns_selector
        (select_replay) and through summarize.apply_rule for many rules;
        the stop point and the selected epoch must agree exactly.
train:  `cnsdiff train --log` on a small world under several rules; what
        summarize.py selects from the run's own log must be the run's
        best_epoch, and where the rule stops must be its epochs_run.
usage:  --select-by values the tool must refuse or accept.
"""
import argparse
import csv
import importlib.util
import json
import os
import random
import subprocess
import sys


def load_summarize(path):
    spec = importlib.util.spec_from_file_location("summarize", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_series(a, S):
    rng = random.Random(11)
    defaults = S.library_defaults()
    cases = 0
    for n in range(30):
        length = rng.randint(1, 50)
        # Few distinct values (many ties) around a noisy rise and fall.
        peak = rng.randint(1, length)
        vals = [round(max(0.0, 0.3 - abs(t - peak) * 0.01 + rng.choice([-0.02, 0, 0, 0.02])), 2)
                for t in range(length)]
        epochs = [3 * (t + 1) for t in range(length)]  # evaluate every 3 epochs
        text = "".join(f"{e} {v!r}\n" for e, v in zip(epochs, vals))
        rows = [{"epoch": str(e), "valid_ips_ndcg@20": repr(v)} for e, v in zip(epochs, vals)]
        for w in (1, 2, 3, 5):
            for mn in (0, 3, 10):
                for pat in (0, 1, 3, 7):
                    out = subprocess.run([a.replay, str(w), str(mn), str(pat)], input=text,
                                         capture_output=True, text=True, check=True).stdout.split("\n")
                    lines = [l.split() for l in out if l]
                    if len(lines) != length:
                        fail(f"replay printed {len(lines)} lines for {length} values")
                    c_stop = next((i + 1 for i, l in enumerate(lines) if l[2] == "1"), None)
                    c_best = int(lines[(c_stop or length) - 1][3])
                    spec = f"ips_ndcg@20:smooth{w}:min{mn}"
                    best, _, p_stop = S.apply_rule(rows, S.Rule(spec, pat, defaults))
                    if p_stop != c_stop or int(best["epoch"]) != c_best:
                        fail(f"series {n} {vals} rule {spec} patience {pat}: C stops at {c_stop} "
                             f"best {c_best}, python stops at {p_stop} best {best['epoch']}")
                    cases += 1
    # A NaN is refused by both.
    r = subprocess.run([a.replay, "3", "0", "2"], input="1 0.5\n2 nan\n", capture_output=True, text=True)
    if r.returncode != 1 or "is NaN at epoch 2" not in r.stderr:
        fail(f"replay accepted a NaN: {r.returncode} {r.stderr}")
    try:
        S.apply_rule([{"epoch": "1", "valid_ips_ndcg@20": "nan"}], S.Rule("ips_ndcg@20", 2, defaults))
        fail("apply_rule accepted a NaN")
    except ValueError as e:
        if "refusing to select" not in str(e):
            fail(f"apply_rule's NaN message: {e}")
    print(f"series: {cases} (series, rule) cases agree")


def check_train(a, S):
    os.makedirs(a.work, exist_ok=True)
    w = os.path.join(a.work, "world")
    subprocess.run([a.tool, "world", "--out", w, "--users", "300", "--items", "200", "--per-user", "20",
                    "--ood-per-user", "5", "--seed", "3"], check=True, capture_output=True)
    runs = [("ips_ndcg@20:smooth3:min5", 4), ("ndcg@20", 3), ("ips_ndcg@20", 2), ("recall@20:smooth2", 5),
            ("ood", 3), ("default", 3)]
    for spec, pat in runs:
        log = os.path.join(a.work, "log.csv")
        rep = os.path.join(a.work, "report.json")
        subprocess.run([a.tool, "train", "--train", f"{w}/train.txt", "--valid", f"{w}/valid.txt",
                        "--test", f"{w}/test_ood.txt", "--sampler", "uniform", "--epochs", "45",
                        "--batch-size", "512", "--threads", "1", "--seed", "5", "--quiet",
                        "--select-by", spec, "--patience", str(pat), "--log", log, "--report", rep],
                       check=True, capture_output=True)
        with open(rep) as f:
            report = json.load(f)
        with open(log) as f:
            rows = [r for r in csv.DictReader(f) if r.get("valid_ndcg@20")]
        rule = S.Rule(spec, pat)
        best, _, stop = S.apply_rule(rows, rule)
        if int(best["epoch"]) != report["best_epoch"]:
            fail(f"{spec}: the tool selected epoch {report['best_epoch']}, summarize.py {best['epoch']}")
        if (stop or 45) != report["epochs_run"]:
            fail(f"{spec}: the tool ran {report['epochs_run']} epochs, summarize.py stops at {stop}")
        if report["select_by"] != rule.name:
            fail(f"{spec}: report names the rule '{report['select_by']}', summarize.py '{rule.name}'")
        print(f"train: {spec} patience {pat}: epoch {report['best_epoch']} of {report['epochs_run']}, same")


def check_usage(a, S):
    bad = {"ndcg": "expected default, ood or METRIC@K", "foo@20": "expected default, ood or METRIC@K",
           "ndcg@5": "K must be 10 or 20", "ndcg@20:smooth0": "smoothW takes a window",
           "ndcg@20:smooth65": "smoothW takes a window", "ndcg@20:min": "minN takes",
           "ndcg@20:smooth2:smooth3": "unexpected ':smooth3'", "ndcg@20x": "unexpected 'x'", "": "expected default, ood",
           "Default": "expected default, ood", "ood@20": "expected default, ood"}
    for spec, msg in bad.items():
        for cmd in (["train", "--train", "x.txt"], ["demo"]):
            r = subprocess.run([a.tool] + cmd + ["--select-by", spec], capture_output=True, text=True)
            if r.returncode != 2 or msg not in r.stderr:
                fail(f"{cmd[0]} --select-by '{spec}': exit {r.returncode}, stderr {r.stderr!r}")
    for spec in ("default", "ood", "ndcg@20", "ips_ndcg@10:smooth64:min0", "hit@20:min7:smooth2"):
        r = subprocess.run([a.tool, "train", "--train", os.path.join(a.work, "missing.txt"), "--select-by", spec],
                           capture_output=True, text=True)
        if r.returncode != 1 or "missing.txt" not in r.stderr:  # parsed; then the load fails
            fail(f"--select-by '{spec}' refused: exit {r.returncode}, {r.stderr!r}")
    # The help names the library's default rule as a fresh selector holds it
    # (lib/select.c's SELECT_DEFAULT_*, read independently by summarize.py)
    # and the fixed ood rule.
    d = S.library_defaults()
    want_default = S.spelling(d["metric"], d["k"], d["window"], d["min_evals"])
    if (d["metric"], d["k"], d["window"], d["min_evals"], d["patience"]) != ("ndcg", 20, 1, 0, 20):
        fail(f"lib/select.c's defaults are {d}, not the study's choice ndcg@20, patience 20")
    if S.ood_spec() != "ips_ndcg@20:smooth5:min30":
        fail(f"RUN_SELECT_OOD is {S.ood_spec()}, not the study's smoothed IPS rule")
    r = subprocess.run([a.tool, "train", "--help"], capture_output=True, text=True, check=True)
    help_text = " ".join(r.stdout.split())
    if f"default (the default): the library's rule, {want_default}," not in help_text:
        fail("train --help does not name the default rule")
    if "ood: ips_ndcg@20:smooth5:min30," not in help_text:
        fail("train --help does not name the ood rule")
    if f"(default {d['patience']})" not in help_text.split("--patience N", 1)[1].split("--select-by", 1)[0]:
        fail("train --help does not give the default patience")
    r = subprocess.run([a.tool, "demo", "--help"], capture_output=True, text=True, check=True)
    help_text = " ".join(r.stdout.split())
    if (f"default (the default): the library's rule, {want_default}, patience {d['patience']}; "
            "ood: ips_ndcg@20:smooth5:min30;") not in help_text:
        fail("demo --help does not name the default and ood rules")
    print("usage: ok")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["series", "train", "usage"])
    p.add_argument("--replay")
    p.add_argument("--tool")
    p.add_argument("--summarize")
    p.add_argument("--work")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    S = load_summarize(a.summarize)
    if a.mode == "series":
        check_series(a, S)
    elif a.mode == "train":
        check_train(a, S)
    else:
        check_usage(a, S)


if __name__ == "__main__":
    main()
