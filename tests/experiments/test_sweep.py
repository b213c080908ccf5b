"""What every training command shares (bnref.experiments.harness.sweep): one way to score a
network, with or without recalibrated statistics, and the runs still to do.

Every command scores through :func:`sweep.score`; the recalibrated scores of the
small-batch, dropout, ablation and ghost-bn commands are ``sweep.score(net,
recalibrated=N)``, which scores a copy of the network whose BN layers took the
statistics of the first N training images (:func:`bnref.recalibrate.recalibrate`,
held to its definition in tests/norm/test_recalibrate.py) and leaves the network
as it was.
"""

from __future__ import annotations

import math

import pytest
import torch

from bnref.d2l.data import fashion_mnist_tensors
from bnref.experiments.commands import small_batch
from bnref.experiments.harness import record, sweep
from bnref.recalibrate import recalibrate

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lagging():
    """LeNet-BN after 8 steps at batch 8: its moving statistics lag far behind its weights."""
    net, _ = small_batch.train_one("bn", 8, examples=64, base_lr=1.0)
    return net


def _accuracy(net, X, y) -> float:
    with torch.no_grad():
        return (net.eval()(X).argmax(dim=1) == y).float().mean().item()


def test_score_is_the_accuracy_in_evaluation_mode_on_the_first_images(lagging):
    X, y = fashion_mnist_tensors(train=False)
    assert sweep.score(lagging, images=2000) == pytest.approx(
        _accuracy(lagging, X[:2000], y[:2000]))
    Xt, yt = fashion_mnist_tensors(train=True)
    assert sweep.score(lagging, train=True, images=2000) == pytest.approx(
        _accuracy(lagging, Xt[:2000], yt[:2000]))


def test_recalibrated_score_is_a_copy_with_the_statistics_of_the_first_training_images(lagging):
    before = {k: v.clone() for k, v in lagging.state_dict().items()}
    lagging.train()
    X, _ = fashion_mnist_tensors(train=True)
    want = sweep.score(recalibrate(lagging, X[:512]), images=2000)
    lagging.train()
    assert sweep.score(lagging, images=2000, recalibrated=512) == want
    # the network itself: the same weights and statistics, still in training mode
    assert lagging.training
    assert all(torch.equal(v, before[k]) for k, v in lagging.state_dict().items())
    # and re-estimating changed what is scored (the moving statistics lag: 0.10 against 0.26)
    assert want > sweep.score(lagging, images=2000) + 0.05


def test_finite_turns_inf_and_nan_into_none():
    assert sweep.finite(0.5) == 0.5
    assert sweep.finite(math.inf) is None and sweep.finite(math.nan) is None


def test_pending_skips_the_runs_the_file_holds_in_the_grids_order(tmp_path, capsys):
    rec = record.Record(tmp_path / "r.json", "demo", {"lr": 0.1})
    rec.add("b", {"loss": 1.0})
    grid = [("a", 1), ("b", 2), ("c", 3)]
    assert list(sweep.pending(rec, grid)) == [("a", 1), ("c", 3)]
    again = record.Record(tmp_path / "r.json", "demo", {"lr": 0.1})
    assert f"resuming {tmp_path / 'r.json'}: 1 runs already done" in capsys.readouterr().out
    assert list(sweep.pending(again, grid)) == [("a", 1), ("c", 3)]
