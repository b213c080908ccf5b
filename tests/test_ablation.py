"""The ablation command (bnref.experiments.ablation): its three BN variants and its mechanics.

The variants are held to what their names promise, on data whose mean and
scale are far from 0 and 1 (so that a variant which did nothing would fail):
mean-only removes each channel's mean and keeps its scale, std-only gives
unit variance and keeps the mean (divided by the same std), fixed-affine is
the full normalization whatever ``gamma`` and ``beta`` hold, and no gradient
reaches them. The command runs for a few steps on the real data (seconds):
the runs, the replay entry, resuming. The accuracy numbers live in
src/bnref/results/ablation-cpu.json, made by the full command and replayed by
tests/test_replay.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from bnref import BatchNorm, batch_norm
from bnref.__main__ import main
from bnref.experiments import ablation, pages
from bnref.experiments.replay import check

pytestmark = pytest.mark.usefixtures("one_thread")

VARIANTS = (ablation.MeanOnlyBatchNorm, ablation.StdOnlyBatchNorm,
            ablation.FixedAffineBatchNorm)


def shifted_batch(num_dims: int) -> torch.Tensor:
    """float64 data with per-channel means 3, -5, 7 and stds 0.5, 4, 2."""
    torch.manual_seed(0)
    shape = (64, 3) if num_dims == 2 else (16, 3, 5, 5)
    view = (1, 3) if num_dims == 2 else (1, 3, 1, 1)
    mean = torch.tensor([3.0, -5.0, 7.0], dtype=torch.float64).view(view)
    std = torch.tensor([0.5, 4.0, 2.0], dtype=torch.float64).view(view)
    return torch.randn(shape, dtype=torch.float64) * std + mean


def dims_of(X):
    return (0,) if X.dim() == 2 else (0, 2, 3)


@pytest.mark.parametrize("num_dims", (2, 4))
def test_mean_only_removes_the_mean_and_keeps_the_scale(num_dims):
    X = shifted_batch(num_dims)
    Y = ablation.MeanOnlyBatchNorm(3, num_dims=num_dims).double()(X)
    d = dims_of(X)
    torch.testing.assert_close(Y.mean(dim=d), torch.zeros(3, dtype=torch.float64),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(Y.std(dim=d), X.std(dim=d))  # the scale is unchanged
    torch.testing.assert_close(Y, X - X.mean(dim=d, keepdim=True))


@pytest.mark.parametrize("num_dims", (2, 4))
def test_std_only_gives_unit_variance_and_keeps_the_mean(num_dims):
    X = shifted_batch(num_dims)
    Y = ablation.StdOnlyBatchNorm(3, num_dims=num_dims, eps=1e-12).double()(X)
    d = dims_of(X)
    std = X.std(dim=d, unbiased=False)
    torch.testing.assert_close(Y.var(dim=d, unbiased=False), torch.ones(3, dtype=torch.float64))
    # the mean is not removed: it is divided by the same std as every value
    torch.testing.assert_close(Y.mean(dim=d), X.mean(dim=d) / std)
    assert (Y.mean(dim=d).abs() > 1).all()


def test_fixed_affine_ignores_gamma_and_beta_and_gives_them_no_gradient():
    X = shifted_batch(4).requires_grad_()
    layer = ablation.FixedAffineBatchNorm(3, num_dims=4).double()
    with torch.no_grad():
        layer.gamma.fill_(5.0)
        layer.beta.fill_(-2.0)
    Y = layer(X)
    ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    reference, _, _ = batch_norm(X, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9,
                                 training=True)
    torch.testing.assert_close(Y, reference)
    (Y * torch.randn_like(Y)).sum().backward()
    assert layer.gamma.grad is None and layer.beta.grad is None
    assert X.grad is not None and X.grad.abs().sum() > 0


def test_fixed_affine_keeps_gamma_one_and_beta_zero_through_training():
    net, history = ablation.train_one("fixed-affine", 0, lr=1.0, batch_size=64, max_steps=5,
                                      test=False)
    layers = [m for m in net.modules() if isinstance(m, BatchNorm)]
    assert len(layers) == 4 and history.steps == 5
    for m in layers:
        assert torch.equal(m.gamma, torch.ones_like(m.gamma))
        assert torch.equal(m.beta, torch.zeros_like(m.beta))
    # the same five steps with the note's BN move gamma and beta
    net, _ = ablation.train_one("all", 0, lr=1.0, batch_size=64, max_steps=5, test=False)
    assert not torch.equal(net[1].gamma, torch.ones_like(net[1].gamma))


@pytest.mark.parametrize("cls", VARIANTS, ids=lambda c: c.__name__)
def test_each_variant_changes_only_function_and_keeps_the_moving_statistics(cls):
    assert "forward" not in vars(cls) and set(vars(cls)) >= {"function"}
    X = shifted_batch(4)
    layer, ref = cls(3, num_dims=4).double(), BatchNorm(3, num_dims=4).double()
    layer(X), ref(X)
    torch.testing.assert_close(layer.moving_mean, ref.moving_mean)
    torch.testing.assert_close(layer.moving_var, ref.moving_var)
    # evaluation mode uses the moving statistics, and bad input gets the reference's error
    layer.eval()
    assert torch.isfinite(layer(X)).all()
    with pytest.raises(ValueError, match="expects 3 features/channels"):
        layer(torch.zeros(2, 4, 5, 5, dtype=torch.float64))


def test_the_arms_change_one_thing():
    kinds = {arm: [type(m).__name__ for m in ablation.build(arm)] for arm in ablation.ARMS}
    assert kinds["all"].count("BatchNorm") == 4 and "BatchNorm" not in kinds["none"]
    assert kinds["conv"].count("BatchNorm") == kinds["fc"].count("BatchNorm") == 2
    for arm, name in (("mean-only", "MeanOnlyBatchNorm"), ("std-only", "StdOnlyBatchNorm"),
                      ("fixed-affine", "FixedAffineBatchNorm")):
        assert kinds[arm] == [name if k == "BatchNorm" else k for k in kinds["all"]]
    with pytest.raises(ValueError, match="arm must be one of all, conv"):
        ablation.build("half")


def test_command_trains_every_arm_writes_replay_and_resumes(tmp_path, capsys):
    out = tmp_path / "a.json"
    args = ["ablation", "--epochs", "2", "--steps-per-epoch", "2", "--eval-batches", "1",
            "--seeds", "2", "--arms", "all", "none", "std-only", "--out", str(out),
            "--no-progress"]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert list(data["runs"]) == [f"{a}/seed={s}" for s in (0, 1)
                                  for a in ("all", "none", "std-only")]
    for r in data["runs"].values():
        assert r["steps"] == 4 and len(r["test_acc"]) == 2
        assert r["provenance"]["machine"]["cpu_capability"]
        assert len(r["bn_layers"]) == (0 if r["arm"] == "none" else 4)
        assert ("recalibrated_test_acc" in r) == (r["arm"] != "none")
    assert [e["run"]["arm"] for e in data["replay"]["runs"]] == ["all", "none", "std-only"]
    assert check(out) == []
    assert main(args) == 0  # a second call has nothing left to train
    assert "resuming" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == data["runs"]
    pages.ablation_table(out)
    table = capsys.readouterr().out
    assert "| std-only |" in table and "2 seeds" in table
    with pytest.raises(SystemExit, match="holds results of other settings"):
        main([*args[:-3], "--lr", "0.5", "--out", str(out)])
