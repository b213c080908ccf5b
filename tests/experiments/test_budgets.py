"""The statistics and settings behind the claims page's verdicts: the t quantiles of the 95 %
intervals, the convergence command's rates and stopping rule, and the regularization arms."""

from __future__ import annotations

import math

import pytest
import torch

from bnref.experiments.commands import convergence, lr_sweep, regularization
from bnref.experiments.harness.record import load
from bnref.experiments.report.pages._common import T95, paired_difference, _reading

from results_support import RESULTS


def t_cdf(t: float, df: int, steps: int = 200_000) -> float:
    """Student's t distribution function at ``t`` > 0, by the trapezoid rule on its density."""
    x = torch.linspace(0.0, t, steps, dtype=torch.float64)
    log_c = (math.lgamma((df + 1) / 2) - math.lgamma(df / 2)
             - 0.5 * math.log(df * math.pi))
    density = torch.exp(log_c - (df + 1) / 2 * torch.log1p(x * x / df))
    return 0.5 + torch.trapezoid(density, x).item()


@pytest.mark.parametrize("df", sorted(T95))
def test_the_t_quantiles_leave_two_and_a_half_percent_in_each_tail(df):
    # each is the 0.975 quantile rounded to 3 decimals
    assert t_cdf(T95[df] - 0.0005, df) < 0.975 < t_cdf(T95[df] + 0.0005, df)


def test_a_paired_interval_is_the_mean_difference_plus_minus_t_times_its_standard_error():
    a = {0: 0.80, 1: 0.82, 2: 0.81, 3: 0.79, 4: 0.80}
    b = {0: 0.81, 1: 0.84, 2: 0.80, 3: 0.82, 4: 0.80, 5: 0.99}  # seed 5 has no pair
    mean, low, high, n = paired_difference(a, b)
    diffs = torch.tensor([0.01, 0.02, -0.01, 0.03, 0.0], dtype=torch.float64)
    assert n == 5 and mean == pytest.approx(diffs.mean().item())
    half = 2.776 * diffs.std().item() / math.sqrt(5)
    assert (low, high) == pytest.approx((mean - half, mean + half))
    assert _reading(a, b) == "within noise"  # the interval contains 0
    assert _reading(a, {k: v + 0.05 for k, v in a.items() if k != 2} | {2: 0.87}) == "higher"
    assert paired_difference({0: 0.8}, {0: 0.9}) is None  # one pair: no interval
    assert paired_difference({0: 0.8, 1: None}, {0: 0.9, 1: 0.7}) is None  # a diverged run


def test_the_convergence_rates_are_the_best_of_the_committed_sweep():
    runs = load(RESULTS / "lr-range-cpu.json")["runs"].values()
    assert lr_sweep.best_lrs(runs, metric="recalibrated_test_acc") == convergence.LRS


def test_the_stopping_rule_waits_patience_epochs_without_a_new_best():
    assert convergence.stop_epoch([0.5, 0.6, 0.6, 0.6], patience=3, min_delta=0.001) is None
    assert convergence.stop_epoch([0.5, 0.6, 0.6, 0.6, 0.6], patience=3, min_delta=0.001) == 5
    # a gain of no more than min_delta is not a new best
    assert convergence.stop_epoch([0.5, 0.6, 0.6009, 0.6009, 0.6005], 3, 0.001) == 5
    assert convergence.stop_epoch([0.5, 0.6, 0.6011, 0.6022, 0.6], 3, 0.001) is None


def test_each_regularization_arm_changes_one_thing_from_its_base():
    base = {"bn": regularization.ARMS["bn"], "none": regularization.ARMS["none"]}
    for arm, kwargs in regularization.ARMS.items():
        if arm in base:
            continue
        parent = base["none"] if arm.startswith("none") else base["bn"]
        changed = {k for k in kwargs.keys() | parent.keys() if kwargs.get(k) != parent.get(k)}
        assert changed in ({"dropout", "dropout_at"}, {"norm_layer"}), (arm, changed)
