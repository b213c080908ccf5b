"""The dropout command (bnref.experiments.dropout), its variance-shift measurement, and its
committed results.

The measurement is checked where the answer is known: a BN layer fed by
dropout on input of known mean and variance learns, as its moving variance,
the train-time variance of the dropped-out signal, ``(v + c²)/(1 - p) - c²``
(Li et al. 2019, with dropout's 1/(1-p) scaling), while at test time it sees
``v``. The command runs for a few steps on the real data (files, resuming, a
network that learns, dropout masks fixed by the seed); the accuracy numbers
live in src/bnref/results/dropout-cpu.json, replayed by tests/test_replay.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from bnref import BatchNorm
from bnref.__main__ import main
from bnref.experiments import dropout, record, figures, pages

from results_support import FIGURES, RESULTS

COMMITTED = RESULTS / "dropout-cpu.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def _train_moving_statistics(net: nn.Module, mean: float, std: float, shape, steps: int = 200):
    """Feed ``net`` (in training mode, no gradients) ``steps`` batches of N(mean, std²)."""
    net.train()
    with torch.no_grad():
        for _ in range(steps):
            net(mean + std * torch.randn(*shape))
    return net


@pytest.mark.parametrize("p, mean, std, shape", [
    (0.5, 0.0, 1.0, (256, 64)),        # (1 + 0) / 0.5 - 0 = 2
    (0.5, 1.0, 1.0, (256, 64)),        # (1 + 1) / 0.5 - 1 = 3
    (0.3, 2.0, 0.5, (256, 64)),        # (0.25 + 4) / 0.7 - 4 = 2.071..., over 0.25
    (0.5, 0.0, 1.0, (64, 8, 6, 6)),    # after a convolution: per channel over N, H, W
])
def test_variance_shift_of_bn_after_dropout_is_the_known_factor(p, mean, std, shape):
    torch.manual_seed(0)
    channels, num_dims = shape[1], len(shape)
    net = _train_moving_statistics(nn.Sequential(nn.Dropout(p), BatchNorm(channels, num_dims)),
                                   mean, std, shape)
    v, c2 = std ** 2, mean ** 2
    m = shape[0] * (shape[2] * shape[3] if num_dims == 4 else 1)  # values per channel
    biased = (m - 1) / m  # the moving variance averages the biased batch variance
    expected = ((v + c2) / (1 - p) - c2) / v * biased
    X = mean + std * torch.randn(20_000 if num_dims == 2 else 2_000, *shape[1:])
    [layer] = dropout.variance_shift(net, X)
    assert layer["after_dropout"] and layer["channels"] == channels
    assert layer["ratio"] == pytest.approx(expected, rel=0.04)
    assert layer["li_shift"] == pytest.approx(layer["ratio"], rel=1e-6)  # every ratio > 1 here
    assert layer["test_var"] == pytest.approx(v, rel=0.03)
    assert layer["ratio_min"] <= layer["ratio"] <= layer["ratio_max"]
    assert net.training  # the mode is given back


def test_without_dropout_there_is_no_shift_and_li_measure_folds_ratios_below_one():
    torch.manual_seed(0)
    net = _train_moving_statistics(nn.Sequential(BatchNorm(64, 2)), 1.0, 2.0, (256, 64))
    [layer] = dropout.variance_shift(net, 1.0 + 2.0 * torch.randn(20_000, 64))
    assert not layer["after_dropout"]
    assert layer["ratio"] == pytest.approx(255 / 256, rel=0.04)
    # a layer that met a larger variance at test time than in training
    [wide] = dropout.variance_shift(net, 1.0 + 4.0 * torch.randn(20_000, 64))
    assert wide["ratio"] == pytest.approx(0.25 * 255 / 256, rel=0.05)
    assert wide["li_shift"] == pytest.approx(1 / wide["ratio"], rel=0.05)


def test_variance_shift_needs_bn_layers():
    with pytest.raises(ValueError, match="needs a network with BatchNorm layers; got none"):
        dropout.variance_shift(nn.Sequential(nn.Linear(2, 2)), torch.zeros(4, 2))


def test_recalibration_removes_the_shift_with_dropout_off():
    torch.manual_seed(0)
    net = _train_moving_statistics(nn.Sequential(nn.Dropout(0.5), BatchNorm(64, 2)),
                                   1.0, 1.0, (256, 64))
    X = 1.0 + torch.randn(20_000, 64)
    assert dropout.variance_shift(net, X)[0]["ratio"] > 2.5
    dropout.recalibrate(net, X[:10_000])
    assert not net.training and not net[0].training and net[1].momentum == 0.9
    assert dropout.variance_shift(net, X)[0]["ratio"] == pytest.approx(1.0, rel=0.03)


def test_dropout_masks_are_fixed_by_the_seed_whatever_the_threads_and_kernels():
    from bnref.models import ReproducibleDropout

    def mask(threads):
        torch.set_num_threads(threads)
        torch.manual_seed(3)
        return "".join("1" if v else "0" for v in
                       (ReproducibleDropout(0.5)(torch.ones(256, 120)) > 0).flatten().tolist())

    one, two = mask(1), mask(2)
    torch.set_num_threads(1)
    code = ("import torch; from bnref.models import ReproducibleDropout; "
            "torch.set_num_threads(1); torch.manual_seed(3); "
            "m = ReproducibleDropout(0.5)(torch.ones(256, 120)); "
            "print(''.join('1' if v else '0' for v in (m > 0).flatten().tolist()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "ATEN_CPU_CAPABILITY": "default",
                                           "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"})
    assert one == two == done.stdout.strip()
    assert 0.45 < one.count("1") / len(one) < 0.55
    # the draw PyTorch's own Bernoulli kernel makes (the tensor-probability kernel, which has
    # no MKL path on any CPU): one float64 uniform per element, in order
    torch.manual_seed(3)
    theirs = torch.bernoulli(torch.full((256, 120), 0.5, dtype=torch.float64))
    assert one == "".join("1" if v else "0" for v in (theirs > 0).flatten().tolist())


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_reproducible_dropout_scales_and_backpropagates_as_nn_dropout(p):
    from bnref.models import ReproducibleDropout

    X = torch.randn(64, 30, requires_grad=True)
    torch.manual_seed(0)
    Y = ReproducibleDropout(p)(X)
    kept = Y != 0
    scale = torch.ones(()).div_(1 - p)  # 1 / (1 - p) in float32, as nn.Dropout scales
    assert torch.equal(Y[kept], X[kept] * scale)
    Y.sum().backward()
    assert torch.equal(X.grad, kept.float() * scale)
    assert torch.equal(ReproducibleDropout(p).eval()(X), X)
    assert torch.equal(ReproducibleDropout(1.0)(X), torch.zeros_like(X))
    assert isinstance(ReproducibleDropout(p), nn.Dropout)


@pytest.mark.skipif(record.cpu_name().startswith("Intel"),
                    reason="on an Intel CPU nn.Dropout draws its masks with MKL's generator "
                    "(bernoulli_scalar_kernel, aten/src/ATen/native/cpu/DistributionKernels.cpp), "
                    "so its masks are not ReproducibleDropout's there, by design")
def test_reproducible_dropout_is_nn_dropout_bit_for_bit_where_pytorch_draws_the_masks():
    """Where nn.Dropout uses PyTorch's own generator (every CPU but Intel's), both layers give
    the same outputs and gradients and leave the generator in the same state: the dropout
    results made with nn.Dropout on such a CPU are what ReproducibleDropout gives anywhere."""
    from bnref.models import ReproducibleDropout

    X, dY = torch.randn(256, 120), torch.randn(256, 120)
    for p in (0.1, 0.3, 0.5):
        outs = []
        for layer in (nn.Dropout(p), ReproducibleDropout(p)):
            x = X.clone().requires_grad_()
            torch.manual_seed(7)
            Y = layer(x)
            (Y * dY).sum().backward()
            outs.append((Y, x.grad, torch.rand(3)))
        assert all(torch.equal(a, b) for a, b in zip(*outs)), p


def test_replay_losses_are_determined_by_the_seed_and_the_masks_matter():
    spec = {"arm": "bn", "p": 0.5, "place": "hidden", "lr": 0.3, "seed": 0,
            "activation": "relu"}
    first = dropout.replay_losses(spec, 3)
    assert first == dropout.replay_losses(spec, 3)
    assert first != dropout.replay_losses({**spec, "seed": 1}, 3)
    assert first != dropout.replay_losses({**spec, "p": 0.0}, 3)


@pytest.mark.parametrize("arm", dropout.ARMS)
def test_the_network_learns_with_dropout(arm):
    # 40 steps of batch 256 on the real data, dropout 0.5 before the hidden layers
    _, history = dropout.train_one(arm, 0.5, "hidden", 0.3, seed=0, epochs=None, max_steps=40,
                                   eval_batches=2)
    assert history.steps == 40 and history.diverged_at is None
    assert history.test_acc[-1] > 0.25, history.test_acc  # chance is 0.1


def test_command_writes_runs_and_figure_and_resumes(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["dropout", "--ps", "0.5", "--places", "hidden", "--seeds", "1", "--epochs", "1",
            "--max-steps", "2", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["experiment"] == "dropout"
    assert sorted(report["runs"]) == ["bn/p=0.5/hidden/seed=0", "none/p=0.5/hidden/seed=0"]
    for r in report["runs"].values():
        assert r["steps"] == 2 and len(r["test_acc"]) == 1
        if r["arm"] == "bn":  # four BN layers, the last two after dropout when p > 0
            shift = r["variance_shift"]
            assert [v["channels"] for v in shift] == [6, 16, 120, 84]
            assert [v["after_dropout"] for v in shift] == [False, False, True, True]
            assert 0.0 <= r["recalibrated_test_acc"] <= 1.0
        else:
            assert "variance_shift" not in r
    replay = report["replay"]  # each arm without dropout and at the largest p
    assert [(s["run"]["arm"], s["run"]["p"]) for s in replay["runs"]] == [
        ("bn", 0.0), ("bn", 0.5), ("none", 0.0), ("none", 0.5)]
    assert all(len(s["losses"]) == dropout.REPLAY_STEPS for s in replay["runs"])
    assert (tmp_path / "dropout.svg").read_text().startswith("<?xml")
    assert "bn p=0.5 hidden     seed 0: test acc" in capsys.readouterr().out
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == report["runs"]


def test_bad_settings_are_refused_with_what_was_given(tmp_path):
    with pytest.raises(SystemExit, match=r"--ps must be dropout probabilities in \[0, 1\); "
                                         r"got \[1.0\]"):
        main(["dropout", "--ps", "1", "--out", str(tmp_path / "r.json")])
    with pytest.raises(SystemExit, match="--seeds must be >= 1; got 0"):
        main(["dropout", "--seeds", "0", "--out", str(tmp_path / "r.json")])


# ---- the committed results ----

def _committed():
    if not COMMITTED.is_file():
        pytest.fail(f"{COMMITTED} is missing: run python -m bnref dropout --threads 1")
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_committed_results_cover_every_setting_and_seed():
    report = _committed()
    config = report["config"]
    assert report["command"].startswith("python -m bnref dropout")
    assert config["seeds"] >= 3 and config["max_steps"] is None
    got = {(r["arm"], r["p"], r["place"], r["seed"]) for r in report["runs"].values()}
    assert got == {(a, p, place, s) for a in config["arms"] for p in config["ps"]
                   for place in (config["places"] if p else [None])
                   for s in range(config["seeds"])}
    for r in report["runs"].values():
        assert len(r["test_acc"]) == config["epochs"] or r["diverged_at"] is not None
        if r["arm"] == "bn":
            assert len(r["variance_shift"]) == 4 and 0 < r["recalibrated_test_acc"] <= 1


def test_table_and_figure_agree_with_the_results(tmp_path, capsys):
    report = _committed()
    pages.dropout_table(COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("| 0.5 | ") and "±" in line)
    accs = [r["test_acc"][-1] for r in report["runs"].values()
            if (r["arm"], r["p"], r["place"]) == ("bn", 0.5, "hidden")]
    assert row.split("|")[2].strip().startswith(f"{sum(accs) / len(accs):.3f} ± ")
    shift_row = next(line for line in lines if line.startswith("| 0.5 | before the hidden"))
    ratios = [r["variance_shift"][2]["ratio"] for r in report["runs"].values()
              if (r["arm"], r["p"], r["place"]) == ("bn", 0.5, "hidden")]
    assert shift_row.split("|")[5].strip() == (
        f"{sum(ratios) / len(ratios):.2f} ± {torch.tensor(ratios).std().item():.2f} *")
    figures.dropout(COMMITTED, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text() == (FIGURES / "dropout.svg").read_text()
