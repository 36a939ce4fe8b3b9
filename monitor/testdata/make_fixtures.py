#!/usr/bin/python3
"""Fixture generator: the expected values of monitor's statistics tests.

Computes, with SciPy, the chi-squared test of homogeneity
(scipy.stats.chi2_contingency, correction=False), the two-sample
Kolmogorov-Smirnov test (scipy.stats.ks_2samp, method="exact") and
Kolmogorov's limiting survival function (scipy.stats.kstwobign.sf) on
seeded random samples, and writes them to scipy_fixtures.json beside this
script. Run it with Debian's python3-scipy:

    /usr/bin/python3 monitor/testdata/make_fixtures.py
"""
import json
import os

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(20261130)


def r6(x):
    return [round(float(v), 6) for v in x]


ks = []
for name, x, y in [
    ("same normal, 50 and 80", rng.normal(0, 1, 50), rng.normal(0, 1, 80)),
    ("shifted normal, 120 and 90", rng.normal(0, 1, 120), rng.normal(0.4, 1, 90)),
    ("equal sizes, 100 and 100", rng.normal(0, 1, 100), rng.normal(0.1, 1.2, 100)),
    ("beta confidences, 191 and 300", rng.beta(8, 2, 191), rng.beta(8, 2, 300)),
    ("beta confidences drifted, 191 and 300", rng.beta(8, 2, 191), rng.beta(4, 2, 300)),
    ("lengths with ties, 191 and 250", rng.poisson(20, 191), rng.poisson(20, 250)),
    ("lengths with ties drifted, 191 and 250", rng.poisson(20, 191), rng.poisson(14, 250)),
    ("tiny, 3 and 4", rng.normal(0, 1, 3), rng.normal(0, 1, 4)),
    ("one each", [0.5], [0.7]),
    ("far apart, 30 and 40", rng.normal(0, 1, 30), rng.normal(5, 1, 40)),
]:
    x, y = r6(x), r6(y)
    res = stats.ks_2samp(x, y, alternative="two-sided", method="exact")
    ks.append({"name": name, "x": x, "y": y, "statistic": float(res.statistic), "pvalue": float(res.pvalue)})

chi2 = []
for name, ref, cur in [
    ("same shares", [56, 15, 79, 41], [110, 28, 160, 85]),
    ("one class only", [56, 15, 79, 41], [0, 0, 300, 0]),
    ("slight shift", [56, 15, 79, 41], [70, 20, 70, 40]),
    ("a category absent from both", [56, 0, 79, 41], [50, 0, 90, 35]),
    ("two categories", [30, 70], [45, 55]),
    ("small counts", [3, 5, 2], [4, 1, 6]),
]:
    table = np.array([ref, cur])
    keep = table.sum(axis=0) > 0
    stat, p, dof, _ = stats.chi2_contingency(table[:, keep], correction=False)
    chi2.append({"name": name, "ref": ref, "cur": cur, "statistic": float(stat), "pvalue": float(p), "dof": int(dof)})

kolmogorov = [{"x": x, "sf": float(stats.kstwobign.sf(x))} for x in [0.2, 0.3, 0.5, 0.8, 0.99, 1.0, 1.2, 1.36, 1.63, 2.0, 3.0]]

out = {"scipy_version": scipy.__version__, "ks_2samp": ks, "chi2_contingency": chi2, "kstwobign_sf": kolmogorov}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scipy_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
