"""BN's variants (bnref.norm.variants) held to the reference they change one thing of.

* ghost BN over one sub-batch is plain BN (outputs, gradients, moving
  statistics), and over sub-batches of ``b`` it is plain BN on each sub-batch;
* noisy BN is plain BN plus the noise it draws from the global generator
  (the draw reproduced here), and draws nothing in evaluation;
* moving-statistics BN in training computes plain BN's evaluation output,
  and updates the moving statistics as plain BN does;
* mean-only, std-only and fixed-affine BN compute their formulas; fixed-affine
  gives gamma and beta no gradient;
* every deterministic functional form passes ``torch.autograd.gradcheck`` in
  float64, and every layer changes only ``function``.
"""

from __future__ import annotations

import functools

import pytest
import torch

import bnref.norm
from bnref import BatchNorm, batch_norm
from bnref.norm import variants
from bnref.norm.variants import (
    NOISE_MEAN, NOISE_STD, FixedAffineBatchNorm, GhostBatchNorm, MeanOnlyBatchNorm,
    MovingStatisticsBatchNorm, NoisyBatchNorm, RunningBatchNorm, StdOnlyBatchNorm,
    fixed_affine_batch_norm, ghost_batch_norm, ghost_layer, mean_only_batch_norm,
    moving_statistics_batch_norm, noisy_batch_norm, running_batch_norm, std_only_batch_norm,
)

EPS, M = 1e-5, 0.9
SHAPES = [(12, 5), (8, 3, 4, 4)]
IDS = ["2d", "4d"]

pytestmark = pytest.mark.usefixtures("one_thread")


def pshape(shape):
    return (1, shape[1]) if len(shape) == 2 else (1, shape[1], 1, 1)


def dims_of(X):
    return (0,) if X.dim() == 2 else (0, 2, 3)


def data(shape, dtype=torch.float32, seed=0):
    """A batch whose examples drift, so that sub-batches have different statistics."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 1
    X = X + torch.arange(shape[0], dtype=torch.float64).reshape(-1, *[1] * (len(shape) - 1)) / 3
    return X.to(dtype)


def state(shape, dtype=torch.float32, seed=1):
    """gamma, beta (leaves with gradients), moving_mean, moving_var."""
    g = torch.Generator().manual_seed(seed)
    C, s = shape[1], pshape(shape)
    gamma = (1 + 0.3 * torch.randn(C, generator=g, dtype=dtype)).reshape(s).requires_grad_()
    beta = (0.3 * torch.randn(C, generator=g, dtype=dtype)).reshape(s).requires_grad_()
    mean = torch.randn(C, generator=g, dtype=dtype).reshape(s)
    var = (torch.rand(C, generator=g, dtype=dtype) + 0.5).reshape(s)
    return gamma, beta, mean, var


# --------------------------------------------------------------------------
# ghost BN
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_ghost_bn_with_the_whole_batch_as_sub_batch_is_plain_bn(shape):
    for virtual in (shape[0], 2 * shape[0]):
        torch.manual_seed(0)
        ghost, plain = ghost_layer(virtual)(shape[1], len(shape)), BatchNorm(shape[1], len(shape))
        plain.load_state_dict(ghost.state_dict())
        X = data(shape)
        Xa, Xb = X.clone().requires_grad_(), X.clone().requires_grad_()
        Ya, Yb = ghost(Xa), plain(Xb)
        assert torch.equal(Ya, Yb)
        dY = torch.randn(shape)
        (Ya * dY).sum().backward()
        (Yb * dY).sum().backward()
        assert torch.equal(Xa.grad, Xb.grad)
        assert torch.equal(ghost.gamma.grad, plain.gamma.grad)
        assert torch.equal(ghost.beta.grad, plain.beta.grad)
        assert torch.equal(ghost.moving_mean, plain.moving_mean)
        assert torch.equal(ghost.moving_var, plain.moving_var)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("virtual", [2, 4])
def test_ghost_bn_is_plain_bn_on_each_sub_batch(shape, virtual):
    X = data(shape)
    gamma, beta, mean, var = state(shape)
    Y, new_mean, new_var = ghost_batch_norm(X, gamma, beta, mean, var, EPS, M, training=True,
                                            virtual_batch=virtual)
    chunks = X.split(virtual)
    parts = [batch_norm(c, gamma, beta, mean, var, EPS, M, training=True) for c in chunks]
    assert torch.equal(Y, torch.cat([p[0] for p in parts]))
    # moving <- m * moving + (1 - m) * (unweighted mean over the sub-batches of their statistics)
    c = dims_of(X)
    mu = torch.stack([ch.mean(dim=c, keepdim=True) for ch in chunks]).mean(0)
    sig2 = torch.stack([ch.var(dim=c, unbiased=False, keepdim=True) for ch in chunks]).mean(0)
    torch.testing.assert_close(new_mean, M * mean + (1 - M) * mu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(new_var, M * var + (1 - M) * sig2, rtol=1e-5, atol=1e-6)


def test_ghost_bn_merges_a_last_sub_batch_of_one_into_the_one_before():
    X = data((9, 3))
    gamma, beta, mean, var = state((9, 3))
    Y = ghost_batch_norm(X, gamma, beta, mean, var, EPS, M, training=True, virtual_batch=4)[0]
    parts = [X[:4], X[4:]]  # 4, then 4 + 1
    want = torch.cat([batch_norm(p, gamma, beta, mean, var, EPS, M, training=True)[0]
                      for p in parts])
    assert torch.equal(Y, want)


def test_ghost_bn_in_evaluation_is_plain_bn():
    X = data((12, 3, 2, 2))
    args = state((12, 3, 2, 2))
    ours = ghost_batch_norm(X, *args, EPS, M, training=False, virtual_batch=2)
    ref = batch_norm(X, *args, EPS, M, training=False)
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [1, 0, 2.0, "4", None])
def test_ghost_bn_refuses_a_virtual_batch_below_two(bad):
    with pytest.raises(ValueError, match="virtual_batch must be an int >= 2"):
        ghost_batch_norm(data((4, 2)), *state((4, 2)), EPS, M, training=True, virtual_batch=bad)
    with pytest.raises(ValueError, match="virtual_batch must be an int >= 2"):
        ghost_layer(bad)


def test_ghost_layer_makes_one_class_per_size():
    assert ghost_layer(8) is ghost_layer(8)
    assert issubclass(ghost_layer(8), GhostBatchNorm) and ghost_layer(8).VIRTUAL_BATCH == 8
    assert ghost_layer(8).__module__ == "bnref.norm.variants"
    assert GhostBatchNorm.VIRTUAL_BATCH == 32


# --------------------------------------------------------------------------
# noisy BN
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_noisy_bn_is_plain_bn_plus_the_noise_it_draws(shape):
    X = data(shape)
    args = state(shape)
    torch.manual_seed(123)
    Y, mean, var = noisy_batch_norm(X, *args, EPS, M, training=True)
    after = torch.get_rng_state()
    # the same draws, in the same order: channel means, channel stds, then one z per value
    torch.manual_seed(123)
    s = pshape(shape)
    mu = (torch.rand(s) * 2 - 1) * NOISE_MEAN
    std = NOISE_STD[0] + torch.rand(s) * (NOISE_STD[1] - NOISE_STD[0])
    noise = mu + std * torch.randn(shape)
    assert torch.equal(torch.get_rng_state(), after)
    plain = batch_norm(X, *args, EPS, M, training=True)
    assert torch.equal(Y, plain[0] + noise)
    assert torch.equal(mean, plain[1]) and torch.equal(var, plain[2])
    # additive, per channel: the noise's mean and spread lie in the drawn intervals
    assert ((mu >= -NOISE_MEAN) & (mu <= NOISE_MEAN)).all()
    assert ((std >= NOISE_STD[0]) & (std <= NOISE_STD[1])).all()


def test_noisy_bn_noise_changes_every_step_and_is_off_in_evaluation():
    X = data((8, 3, 4, 4))
    bn = NoisyBatchNorm(3, num_dims=4)
    torch.manual_seed(0)
    d1 = bn(X) - batch_norm(X, bn.gamma, bn.beta, bn.moving_mean, bn.moving_var, EPS, M,
                            training=True)[0]
    d2 = bn(X) - batch_norm(X, bn.gamma, bn.beta, bn.moving_mean, bn.moving_var, EPS, M,
                            training=True)[0]
    assert not torch.allclose(d1, d2)
    bn.eval()
    rng = torch.get_rng_state()
    Y = bn(X)
    assert torch.equal(torch.get_rng_state(), rng)  # nothing drawn
    assert torch.equal(Y, batch_norm(X, bn.gamma, bn.beta, bn.moving_mean, bn.moving_var,
                                     EPS, M, training=False)[0])


# --------------------------------------------------------------------------
# moving-statistics BN
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_moving_statistics_bn_in_training_is_plain_bn_in_evaluation(shape):
    torch.manual_seed(0)
    ours, plain = MovingStatisticsBatchNorm(shape[1], len(shape)), BatchNorm(shape[1], len(shape))
    with torch.no_grad():
        for m in (ours, plain):
            m.moving_mean.copy_(state(shape)[2])
            m.moving_var.copy_(state(shape)[3])
    X = data(shape)
    Y = ours(X)  # training mode
    assert torch.equal(Y, plain.eval()(X))
    # and then the moving statistics move as plain BN's do in training
    plain.train()(X)
    assert torch.equal(ours.moving_mean, plain.moving_mean)
    assert torch.equal(ours.moving_var, plain.moving_var)


def test_moving_statistics_bn_sends_no_gradient_through_the_statistics():
    X = data((6, 3)).requires_grad_()
    gamma, beta, mean, var = state((6, 3))
    Y, new_mean, new_var = moving_statistics_batch_norm(X, gamma, beta, mean, var, EPS, M,
                                                        training=True)
    assert not new_mean.requires_grad and not new_var.requires_grad
    gX, ggamma, gbeta = torch.autograd.grad(Y.sum(), (X, gamma, beta))
    # dY/dX is the constant gamma / sqrt(moving_var + eps): no batch statistic in it
    torch.testing.assert_close(gX, (gamma * torch.rsqrt(var + EPS)).expand(6, 3).detach())
    # gamma and beta are trained as plain BN's are
    x_hat = ((X - mean) * torch.rsqrt(var + EPS)).detach()
    torch.testing.assert_close(ggamma, x_hat.sum(0, keepdim=True))
    torch.testing.assert_close(gbeta, torch.full_like(beta, 6.0))


def test_the_earlier_names_are_kept():
    assert RunningBatchNorm is MovingStatisticsBatchNorm
    assert running_batch_norm is moving_statistics_batch_norm


# --------------------------------------------------------------------------
# mean-only, std-only, fixed-affine
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_mean_only_and_std_only_compute_their_formulas(shape):
    X = data(shape, torch.float64)
    gamma, beta, mean, var = state(shape, torch.float64)
    d = dims_of(X)
    mu, sig2 = X.mean(dim=d, keepdim=True), X.var(dim=d, unbiased=False, keepdim=True)
    Y = mean_only_batch_norm(X, gamma, beta, mean, var, EPS, M, training=True)[0]
    torch.testing.assert_close(Y, gamma * (X - mu) + beta, rtol=1e-12, atol=1e-12)
    Y = std_only_batch_norm(X, gamma, beta, mean, var, EPS, M, training=True)[0]
    torch.testing.assert_close(Y, gamma * X / torch.sqrt(sig2 + EPS) + beta,
                               rtol=1e-12, atol=1e-12)
    # evaluation: the moving statistics in their place
    Y = mean_only_batch_norm(X, gamma, beta, mean, var, EPS, M, training=False)[0]
    torch.testing.assert_close(Y, gamma * (X - mean) + beta, rtol=1e-12, atol=1e-12)
    Y = std_only_batch_norm(X, gamma, beta, mean, var, EPS, M, training=False)[0]
    torch.testing.assert_close(Y, gamma * X / torch.sqrt(var + EPS) + beta,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [mean_only_batch_norm, std_only_batch_norm,
                                fixed_affine_batch_norm])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_the_partial_variants_keep_plain_bns_moving_statistics(fn, shape):
    X = data(shape, torch.float64)
    args = state(shape, torch.float64)
    ours, ref = fn(X, *args, EPS, M, training=True), batch_norm(X, *args, EPS, M, training=True)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[2], ref[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_fixed_affine_ignores_gamma_and_beta_and_gives_them_no_gradient(shape):
    torch.manual_seed(0)
    bn = FixedAffineBatchNorm(shape[1], len(shape))
    with torch.no_grad():
        bn.gamma.fill_(3.0), bn.beta.fill_(-2.0)
    X = data(shape).requires_grad_()
    Y = bn(X)
    ones, zeros = torch.ones(pshape(shape)), torch.zeros(pshape(shape))
    torch.testing.assert_close(Y, batch_norm(X, ones, zeros, torch.zeros(pshape(shape)),
                                             torch.ones(pshape(shape)), EPS, M,
                                             training=True)[0], rtol=1e-5, atol=1e-5)
    Y.square().sum().backward()
    # what the code does: the parameters stay trainable in name (requires_grad) but no
    # gradient reaches them, so SGD leaves them where they started
    assert bn.gamma.requires_grad and bn.beta.requires_grad
    assert bn.gamma.grad is None and bn.beta.grad is None and X.grad is not None
    opt = torch.optim.SGD(bn.parameters(), lr=1.0, weight_decay=0.1, momentum=0.9)
    opt.step()
    assert (bn.gamma == 3.0).all() and (bn.beta == -2.0).all()
    # evaluation: the moving statistics in place of the batch's, still without gamma and beta
    bn.eval()
    with torch.no_grad():
        want = (X - bn.moving_mean) / torch.sqrt(bn.moving_var + EPS)
        torch.testing.assert_close(bn(X), want, rtol=1e-5, atol=1e-5)


def test_fixed_affine_still_checks_gamma_and_beta():
    X = data((4, 3))
    _, _, mean, var = state((4, 3))
    with pytest.raises(ValueError, match="gamma must have shape"):
        fixed_affine_batch_norm(X, torch.ones(4), torch.zeros(3), mean, var, EPS, M,
                                training=True)


# --------------------------------------------------------------------------
# all of them
# --------------------------------------------------------------------------

DETERMINISTIC = {
    "ghost-2": functools.partial(ghost_batch_norm, virtual_batch=2),
    "ghost-3": functools.partial(ghost_batch_norm, virtual_batch=3),
    "moving-statistics": moving_statistics_batch_norm,
    "mean-only": mean_only_batch_norm,
    "std-only": std_only_batch_norm,
    "fixed-affine": fixed_affine_batch_norm,
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
@pytest.mark.parametrize("shape", [(6, 3), (4, 2, 2, 3)], ids=IDS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gradcheck_in_float64(name, shape, training):
    fn = DETERMINISTIC[name]
    X = data(shape, torch.float64).requires_grad_()
    gamma, beta, mean, var = state(shape, torch.float64)

    def f(X, gamma, beta):
        return fn(X, gamma, beta, mean, var, EPS, M, training=training)[0]

    assert torch.autograd.gradcheck(f, (X, gamma.detach().requires_grad_(),
                                        beta.detach().requires_grad_()))


LAYERS = [GhostBatchNorm, ghost_layer(4), NoisyBatchNorm, MovingStatisticsBatchNorm,
          MeanOnlyBatchNorm, StdOnlyBatchNorm, FixedAffineBatchNorm]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.__name__)
def test_every_variant_changes_only_function(layer):
    assert issubclass(layer, BatchNorm)
    for cls in layer.__mro__[: layer.__mro__.index(BatchNorm)]:
        assert "forward" not in vars(cls), f"{cls.__name__} rewrites forward"
    assert layer.function is not BatchNorm.function
    bn = layer(3, num_dims=4)
    assert sorted(bn.state_dict()) == ["beta", "gamma", "moving_mean", "moving_var"]
    with pytest.raises(ValueError, match="expects"):
        bn(torch.randn(4, 5, 2, 2))


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_every_variant_keeps_the_dtype_and_evaluates_with_the_moving_statistics(layer, dtype):
    bn = layer(3, num_dims=4).to(dtype)
    X = data((8, 3, 2, 2), dtype)
    torch.manual_seed(0)
    Y = bn(X)
    assert Y.dtype == dtype and Y.shape == X.shape
    assert bn.moving_mean.dtype == dtype and bn.moving_var.dtype == dtype
    bn.eval()
    if layer not in (MeanOnlyBatchNorm, StdOnlyBatchNorm, FixedAffineBatchNorm):
        want = batch_norm(X, bn.gamma, bn.beta, bn.moving_mean, bn.moving_var, EPS, M,
                          training=False)[0]
        assert torch.equal(bn(X), want)
    else:  # their own formulas with the moving statistics (tested above): finite, same dtype
        Y = bn(X)
        assert Y.dtype == dtype and torch.isfinite(Y.float()).all()


def test_the_variants_are_exported_from_bnref_norm():
    for name in variants.__all__:
        if name not in ("NOISE_MEAN", "NOISE_STD"):
            assert getattr(bnref.norm, name) is getattr(variants, name), name
            assert name in bnref.norm.__all__
