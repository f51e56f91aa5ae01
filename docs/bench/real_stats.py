#!/usr/bin/env python3
"""Statistics of interaction data that docs/WORLD.md calibrates the world to.

usage: real_stats.py DIR [DIR ...]   (each DIR holds train.txt and any of
valid.txt/valid_iid.txt, test_iid.txt, test_ood.txt as "user item [w]" lines)

For each DIR it prints, over all files together: users, items, interactions,
density, the user-degree and item-popularity distributions (Gini, quantiles,
Hill tail exponent of the top 10%); and for each test file: the popularity
ratio (mean training popularity of its items / the same over the training
interactions) and the lift of a popularity ranker (Recall@20 of ranking by
training popularity, training items excluded, divided by a random ranking's
expected Recall@20). A DIR without test_iid.txt gets an IID holdout: 20% of
each user's training pairs, drawn with random.Random(1). Pure python, no numpy.
"""
import math
import os
import random
import sys

K = 20


def read(path):
    pairs = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 2:
                pairs.append((int(p[0]), int(p[1])))
    return pairs


def gini(v):
    v = sorted(v)
    n = len(v)
    t = sum(v)
    return sum((2 * (i + 1) - n - 1) * x for i, x in enumerate(v)) / (n * t) if t else 0.0


def quant(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def hill(v, frac=0.1):
    """Hill estimator of the tail exponent alpha (P(X > x) ~ x^-alpha) over the top frac."""
    v = sorted((x for x in v if x > 0), reverse=True)
    k = max(2, int(frac * len(v)))
    xk = v[k]
    return k / sum(math.log(v[j] / xk) for j in range(k))


def describe(name, v):
    m = sum(v) / len(v)
    print(f"  {name:<16} mean {m:8.2f}  min {min(v)}  q10 {quant(v, .1)}  q50 {quant(v, .5)}"
          f"  q90 {quant(v, .9)}  q99 {quant(v, .99)}  max {max(v)}  Gini {gini(v):.3f}"
          f"  cv {math.sqrt(sum((x - m) ** 2 for x in v) / len(v)) / m:.2f}  Hill(top10%) {hill(v):.2f}")


def ranker(train, test, nitems):
    pop = [0] * nitems
    seen = {}
    for u, i in train:
        pop[i] += 1
        seen.setdefault(u, set()).add(i)
    order = sorted(range(nitems), key=lambda i: (-pop[i], i))
    by_user = {}
    for u, i in test:
        by_user.setdefault(u, set()).add(i)
    rec = rnd = 0.0
    for u, items in by_user.items():
        s = seen.get(u, set())
        items = items - s  # a protocol that masks training items cannot hit these
        if not items:
            continue
        top = []
        for i in order:
            if i not in s:
                top.append(i)
                if len(top) == K:
                    break
        rec += len(items.intersection(top)) / len(items)
        rnd += K / (nitems - len(s))
    n = len(by_user)
    trainmean = sum(p * p for p in pop) / len(train)
    ratio = sum(pop[i] for _, i in test) / len(test) / trainmean
    return rec / n, rnd / n, ratio


def main():
    for d in sys.argv[1:]:
        files = {f: read(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".txt")}
        allp = [p for v in files.values() for p in v]
        users = 1 + max(u for u, _ in allp)
        items = 1 + max(i for _, i in allp)
        print(f"{d}: {users} users x {items} items, {len(allp)} interactions"
              f" ({', '.join(f'{k} {len(v)}' for k, v in files.items())})")
        print(f"  density all {len(allp) / users / items:.5f}  train {len(files['train.txt']) / users / items:.5f}")
        for label, pairs in (("all", allp), ("train", files["train.txt"])):
            deg = [0] * users
            pop = [0] * items
            for u, i in pairs:
                deg[u] += 1
                pop[i] += 1
            print(f" {label}:")
            describe("user degree", [x for x in deg if x > 0])
            describe("item popularity", [x for x in pop if x > 0])
            srt = sorted(pop, reverse=True)
            tot = sum(srt)
            print(f"  top 1% items hold {sum(srt[:max(1, items // 100)]) / tot:.3f}, top 10% {sum(srt[:items // 10]) / tot:.3f};"
                  f" items with < 5 interactions {sum(1 for x in pop if x < 5) / items:.3f}")
        train = files["train.txt"]
        tests = {k: v for k, v in files.items() if k.startswith("test")}
        if "test_iid.txt" not in tests:
            rng = random.Random(1)
            by_user = {}
            for p in train:
                by_user.setdefault(p[0], []).append(p)
            train, hold = [], []
            for u in sorted(by_user):
                ps = by_user[u][:]
                rng.shuffle(ps)
                n = int(round(0.2 * len(ps)))
                hold += ps[:n]
                train += ps[n:]
            tests["holdout_iid(20% of train)"] = hold
        for k, v in sorted(tests.items()):
            rec, rnd, ratio = ranker(train, v, items)
            print(f"  {k:<26} popularity ratio {ratio:.3f}  pop Recall@20 {rec:.4f}"
                  f"  random {rnd:.4f}  lift {rec / rnd:.2f}")


if __name__ == "__main__":
    main()
