"""The noise-view command (bnref.experiments.ghost_bn): its BN layers, a smoke run, the file.

The layers are held to what they claim: ghost BN over one sub-batch is plain
BN and normalizes each sub-batch on its own; noisy BN adds noise that changes
every step and is off in evaluation; the deterministic BN computes in
training what it computes in evaluation. The accuracy numbers live in
src/bnref/results/ghost-bn-cpu.json, made by the full command and replayed by
tests/test_replay.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from bnref import BatchNorm, batch_norm
from bnref.__main__ import main
from bnref.experiments import figures, ghost_bn, pages

from results_support import FIGURES, RESULTS

COMMITTED = RESULTS / "ghost-bn-cpu.json"
EPS, M = 1e-5, 0.9

pytestmark = pytest.mark.usefixtures("one_thread")


def state(C, shape):
    g = torch.Generator().manual_seed(1)
    gamma = (1 + 0.1 * torch.randn(C, generator=g)).reshape(shape).requires_grad_()
    beta = (0.1 * torch.randn(C, generator=g)).reshape(shape).requires_grad_()
    return gamma, beta, torch.randn(C, generator=g).reshape(shape), torch.rand(
        C, generator=g).reshape(shape) + 0.5


def data(shape):
    g = torch.Generator().manual_seed(0)
    # sub-batches with different means, so that their statistics differ
    X = torch.randn(shape, generator=g)
    return X + torch.arange(shape[0]).reshape(-1, *[1] * (len(shape) - 1)) / 4


@pytest.mark.parametrize("shape", [(32, 3, 4, 4), (32, 5)], ids=["4d", "2d"])
def test_ghost_bn_over_one_sub_batch_is_plain_bn(shape):
    C = shape[1]
    pshape = (1, C, 1, 1) if len(shape) == 4 else (1, C)
    for virtual in (32, 64):  # a sub-batch as large as the batch, or larger
        X = data(shape).requires_grad_()
        gamma, beta, mean, var = state(C, pshape)
        ours = ghost_bn.ghost_batch_norm(X, gamma, beta, mean, var, EPS, M, training=True,
                                         virtual_batch=virtual)
        ref = batch_norm(X, gamma, beta, mean, var, EPS, M, training=True)
        for a, b in zip(ours, ref):
            assert torch.equal(a, b)
        dY = torch.randn(shape)
        ga = torch.autograd.grad(ours[0], (X, gamma, beta), dY)
        gb = torch.autograd.grad(ref[0], (X, gamma, beta), dY)
        for a, b in zip(ga, gb):
            assert torch.equal(a, b)


@pytest.mark.parametrize("shape", [(64, 3, 4, 4), (64, 5)], ids=["4d", "2d"])
def test_ghost_bn_normalizes_each_sub_batch_with_its_own_statistics(shape):
    C = shape[1]
    pshape = (1, C, 1, 1) if len(shape) == 4 else (1, C)
    X = data(shape)
    ones, zeros = torch.ones(pshape), torch.zeros(pshape)
    mean0, var0 = torch.zeros(pshape), torch.ones(pshape)
    Y, mm, mv = ghost_bn.ghost_batch_norm(X, ones, zeros, mean0, var0, EPS, M, training=True,
                                          virtual_batch=16)
    dims = (0, 2, 3) if len(shape) == 4 else (0,)
    stats = []
    for k in range(4):
        sub = Y[16 * k:16 * (k + 1)]
        torch.testing.assert_close(sub.mean(dim=dims), torch.zeros(C), atol=1e-5, rtol=0)
        torch.testing.assert_close(sub.var(dim=dims, unbiased=False), torch.ones(C),
                                   atol=1e-3, rtol=0)
        x = X[16 * k:16 * (k + 1)]
        stats.append((x.mean(dim=dims), x.var(dim=dims, unbiased=False)))
    # the whole batch, normalized with the batch's statistics, is not what ghost BN gives
    assert (Y - batch_norm(X, ones, zeros, mean0, var0, EPS, M, training=True)[0]).abs().max() > 0.1
    # moving statistics: the note's moving average of the mean over the sub-batches
    mean_k = torch.stack([s[0] for s in stats]).mean(0)
    var_k = torch.stack([s[1] for s in stats]).mean(0)
    torch.testing.assert_close(mm.reshape(-1), (1 - M) * mean_k, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mv.reshape(-1), M + (1 - M) * var_k, rtol=1e-5, atol=1e-6)


def test_ghost_bn_last_sub_batch_of_one_joins_the_one_before():
    X = data((33, 5))
    ones, zeros = torch.ones(5), torch.zeros(5)
    Y, _, _ = ghost_bn.ghost_batch_norm(X, ones, zeros, zeros, ones, EPS, M, training=True,
                                        virtual_batch=16)
    torch.testing.assert_close(Y[16:].mean(0), torch.zeros(5), atol=1e-5, rtol=0)


def test_ghost_bn_in_evaluation_is_plain_bn():
    X = data((64, 3, 4, 4))
    gamma, beta, mean, var = state(3, (1, 3, 1, 1))
    ours = ghost_bn.ghost_batch_norm(X, gamma, beta, mean, var, EPS, M, training=False,
                                     virtual_batch=16)
    ref = batch_norm(X, gamma, beta, mean, var, EPS, M, training=False)
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)


def test_noisy_bn_noise_changes_every_step_and_is_off_in_evaluation():
    torch.manual_seed(0)
    bn = ghost_bn.NoisyBatchNorm(8, num_dims=4)
    plain = BatchNorm(8, num_dims=4)
    X = torch.randn(64, 8, 6, 6)
    first, second = bn(X), bn(X)
    clean = plain(X)
    noise1, noise2 = first - clean, second - clean
    assert noise1.abs().min() > 0 and (noise1 - noise2).abs().max() > 0.1
    # non-zero mean, non-unit variance, one distribution per channel and step
    mu, std = noise1.mean(dim=(0, 2, 3)), noise1.std(dim=(0, 2, 3))
    assert mu.abs().max() <= ghost_bn.NOISE_MEAN + 0.05 and mu.abs().max() > 0.05
    assert (std > ghost_bn.NOISE_STD[0] - 0.05).all() and (std < ghost_bn.NOISE_STD[1] + 0.05).all()
    assert mu.std() > 0.05 and std.std() > 0.05
    assert not torch.allclose(mu, noise2.mean(dim=(0, 2, 3)), atol=0.05)
    # the noise comes after the statistics: the moving statistics are plain BN's
    plain2 = BatchNorm(8, num_dims=4)
    plain2(X), plain2(X)
    assert torch.equal(bn.moving_mean, plain2.moving_mean)
    assert torch.equal(bn.moving_var, plain2.moving_var)
    bn.eval(), plain2.eval()
    assert torch.equal(bn(X), plain2(X)) and torch.equal(bn(X), bn(X))


def test_deterministic_bn_trains_as_it_evaluates_and_updates_its_statistics():
    torch.manual_seed(0)
    bn = ghost_bn.RunningBatchNorm(4, num_dims=4)
    with torch.no_grad():
        bn.moving_mean.normal_(), bn.moving_var.uniform_(0.5, 2.0), bn.gamma.normal_()
    X = torch.randn(32, 4, 5, 5) * 3 + 1
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    Y_train = bn.train()(X)
    after = {k: v.clone() for k, v in bn.state_dict().items()}
    bn.load_state_dict(before)
    Y_eval = bn.eval()(X)
    assert torch.equal(Y_train, Y_eval)
    # an example's output does not depend on the rest of the batch
    bn.load_state_dict(before)
    assert torch.equal(bn.train()(X[:1]), Y_train[:1])
    # and the moving statistics move as plain BN's do
    plain = BatchNorm(4, num_dims=4)
    plain.load_state_dict(before)
    plain.train()(X)
    for k in ("moving_mean", "moving_var"):
        assert not torch.equal(after[k], before[k])
        assert torch.equal(after[k], plain.state_dict()[k])
    # gamma and beta get gradients; the statistics are constants
    bn.load_state_dict(before)
    bn.train()(X).sum().backward()
    assert bn.gamma.grad is not None and bn.beta.grad.abs().sum() > 0


def test_each_arm_is_a_batchnorm_that_changes_only_its_function():
    for arm in ghost_bn.ARMS:
        cls = ghost_bn.layer_for(arm)
        assert issubclass(cls, BatchNorm)
        assert all("forward" not in k.__dict__ for k in cls.__mro__ if k is not BatchNorm
                   and issubclass(k, BatchNorm))
    assert ghost_bn.layer_for("ghost-16").VIRTUAL_BATCH == 16
    assert ghost_bn.ghost_layer(16) is ghost_bn.ghost_layer(16)
    with pytest.raises(ValueError, match="arm must be one of bn, ghost-128.*; got 'ghost-7'"):
        ghost_bn.layer_for("ghost-7")
    with pytest.raises(ValueError, match="virtual_batch must be an int >= 2; got 1"):
        ghost_bn.ghost_layer(1)


def test_precise_statistics_are_what_evaluation_mode_feeds_each_layer():
    from bnref.d2l.data import fashion_mnist_tensors

    net, _ = ghost_bn.train_one("bn", 0, epochs=None, max_steps=3)
    weights = net[0].weight.clone()
    moving = net[1].moving_mean.clone()
    precise = ghost_bn.precise_statistics(net, images=256)
    assert torch.equal(net[1].moving_mean, moving)  # the original is untouched
    assert torch.equal(precise[0].weight, weights) and not precise.training
    X, _ = fashion_mnist_tensors(train=True)
    with torch.no_grad():
        h = precise[:5](X[:256])  # conv, BN, sigmoid, pool, conv: the input of the second BN
    torch.testing.assert_close(precise[5].moving_mean.reshape(-1), h.mean(dim=(0, 2, 3)),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(precise[5].moving_var.reshape(-1),
                               h.var(dim=(0, 2, 3), unbiased=False), rtol=1e-5, atol=1e-6)


def test_command_writes_runs_replay_and_figure_and_resumes(tmp_path, capsys):
    args = ["ghost-bn", "--arms", "bn", "ghost-16", "--seeds", "2", "--max-steps", "2",
            "--train-subset", "200", "--out", str(tmp_path / "r.json"), "--no-progress"]
    assert main(args) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert list(report["runs"]) == ["bn/seed=0", "ghost-16/seed=0", "bn/seed=1",
                                    "ghost-16/seed=1"]
    for r in report["runs"].values():
        assert r["steps"] == 2 and len(r["train_loss"]) == 1
        assert r["gap"] == pytest.approx(r["train_acc_eval"] - r["test_acc"])
        assert r["precise"]["gap"] == pytest.approx(r["precise"]["train_acc_eval"]
                                                    - r["precise"]["test_acc"])
    replay = report["replay"]
    assert [e["run"] for e in replay["runs"]] == [{"arm": "bn", "seed": 0},
                                                  {"arm": "ghost-16", "seed": 0}]
    assert all(len(e["losses"]) == ghost_bn.REPLAY_STEPS for e in replay["runs"])
    assert (tmp_path / "ghost-bn.svg").read_text().startswith("<?xml")
    assert "ghost-16 seed 1: 2 steps" in capsys.readouterr().out
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().out


def test_committed_results_cover_every_arm_and_seed():
    report = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert report["command"].startswith("python -m bnref ghost-bn")
    c = report["config"]
    assert c["seeds"] >= 3 and c["max_steps"] is None and c["batch_size"] == 512
    assert c["arms"] == list(ghost_bn.ARMS)
    assert {(r["arm"], r["seed"]) for r in report["runs"].values()} == {
        (a, s) for a in ghost_bn.ARMS for s in range(c["seeds"])}
    for r in report["runs"].values():
        assert r["steps"] == c["epochs"] * -(-60000 // 512) and len(r["train_loss"]) == c["epochs"]
        for scores in (r, r["precise"]):
            assert 0.0 < scores["test_acc"] <= 1.0
            assert scores["gap"] == pytest.approx(scores["train_acc_eval"] - scores["test_acc"])


def test_table_and_figure_agree_with_the_committed_results(tmp_path, capsys):
    report = json.loads(COMMITTED.read_text(encoding="utf-8"))
    pages.ghost_bn_table(COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("| ghost-16 |"))
    accs = [100 * r["precise"]["test_acc"] for r in report["runs"].values()
            if r["arm"] == "ghost-16"]
    assert row.split("|")[5].strip().startswith(f"{sum(accs) / len(accs):.1f} ± ")
    figures.ghost_bn(COMMITTED, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text() == (FIGURES / "ghost-bn.svg").read_text()
