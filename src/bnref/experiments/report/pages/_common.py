"""What every printer shares: reading a results file, mean ± std, and paired differences with
their 95 % interval."""

from __future__ import annotations

import math
import statistics

from bnref.experiments.harness.record import load

__all__ = ["load", "_mean_std", "_ARM_NAMES", "T95", "paired_difference", "_paired_ci",
           "_reading"]

#: the two arms of the with/without-BN comparisons, as the tables name them
_ARM_NAMES = {"bn": "with BN", "none": "without BN"}

#: two-sided 95 % quantiles of Student's t distribution by degrees of freedom (the 0.975
#: quantile; tests/experiments/test_pages.py integrates the density to check them)
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
       16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}


def _mean_std(values: list[float], fmt: str) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{mean:{fmt}} ± {std:{fmt}}"


def paired_difference(a: dict, b: dict) -> tuple[float, float, float, int] | None:
    """``b - a`` paired by key (seed): ``(mean, low, high, n)`` with the 95 % interval of the
    mean from Student's t (n - 1 degrees of freedom), over the keys in both whose values are
    not ``None``; ``None`` when fewer than 2 pairs.

    Examples:
        >>> d = paired_difference({0: 0.80, 1: 0.82, 2: 0.81}, {0: 0.83, 1: 0.84, 2: 0.84})
        >>> [round(x, 4) for x in d[:3]], d[3]
        ([0.0267, 0.0123, 0.041], 3)
    """
    diffs = [b[k] - a[k] for k in sorted(a.keys() & b.keys())
             if a[k] is not None and b[k] is not None]
    n = len(diffs)
    if n < 2:
        return None
    if n - 1 not in T95:
        raise ValueError(f"no t quantile for {n - 1} degrees of freedom (have {sorted(T95)})")
    mean = statistics.fmean(diffs)
    half = T95[n - 1] * statistics.stdev(diffs) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def _paired_ci(a: dict, b: dict, scale: float = 100.0, fmt: str = "+.1f") -> str:
    """``b - a`` paired by seed as 'mean [low, high]' (times ``scale``: percentage points for
    accuracies by default); '–' when fewer than two pairs."""
    d = paired_difference(a, b)
    if d is None:
        return "–"
    mean, low, high = (x * scale for x in d[:3])
    return f"{mean:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def _reading(a: dict, b: dict, better: str = "higher", worse: str = "lower") -> str:
    """'within noise' when the 95 % interval of ``b - a`` contains 0, else ``better`` or
    ``worse`` (the sign of the whole interval)."""
    d = paired_difference(a, b)
    if d is None:
        return "–"
    _, low, high, _ = d
    return better if low > 0 else worse if high < 0 else "within noise"
