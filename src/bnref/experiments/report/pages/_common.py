"""What every printer shares: reading a results file, mean ± std."""

from __future__ import annotations

import statistics

from bnref.experiments.harness.record import load

__all__ = ["load", "_mean_std", "_ARM_NAMES"]

#: the two arms of the with/without-BN comparisons, as the tables name them
_ARM_NAMES = {"bn": "with BN", "none": "without BN"}


def _mean_std(values: list[float], fmt: str) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{mean:{fmt}} ± {std:{fmt}}"
