"""The contract: every registered implementation (bnref.speed) computes the reference.

One table of implementations (:data:`bnref.speed.IMPLEMENTATIONS`, plus
:func:`bnref.sync_batch_norm` without a process group) against one list of
cases, all compared with :func:`bnref.batch_norm`:

* outputs, moving statistics and the three gradients (dX, dγ, dβ) in float64,
  for (N, C) and (N, C, H, W) input, in training and in evaluation;
* half-precision moving statistics: bit for bit the reference's (one shared
  moving-average rule, ``bnref.norm._moving``);
* bad input: the reference's exception and message;
* the layer: the reference's ``state_dict`` keys and shapes, loads the
  reference's state, and gives the reference's outputs in both modes.

A new implementation joins by being registered; nothing here changes.
"""

from __future__ import annotations

import pytest
import torch

from bnref import BatchNorm, SyncBatchNorm, batch_norm, sync_batch_norm
from bnref.speed import IMPLEMENTATIONS

IMPLS = {name: impl.load() for name, impl in IMPLEMENTATIONS.items()}
IMPLS["sync"] = (sync_batch_norm, SyncBatchNorm)  # no process group: the whole batch is here
NAMES = sorted(IMPLS)
SHAPES = {"2d": (16, 5), "4d": (6, 3, 5, 4)}
EPS, MOMENTUM = 1e-5, 0.9


def inputs(shape, dtype=torch.float64, buffers=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    C = shape[1]
    X = (3 * torch.randn(shape, generator=g) + 2).to(dtype)
    gamma = (1 + 0.3 * torch.randn(C, generator=g)).to(dtype)
    beta = (0.3 * torch.randn(C, generator=g)).to(dtype)
    buffers = buffers or dtype
    mean = (0.1 * torch.randn(C, generator=g)).to(buffers)
    var = (1 + torch.rand(C, generator=g)).to(buffers)
    return X, gamma, beta, mean, var


def run(function, X, gamma, beta, mean, var, training):
    X, gamma, beta = (t.clone().requires_grad_() for t in (X, gamma, beta))
    Y, new_mean, new_var = function(X, gamma, beta, mean.clone(), var.clone(), EPS, MOMENTUM,
                                    training=training)
    dY = torch.linspace(-1, 1, Y.numel(), dtype=Y.dtype).reshape(Y.shape)
    dX, dgamma, dbeta = torch.autograd.grad(Y, (X, gamma, beta), dY)
    return Y.detach(), new_mean, new_var, dX, dgamma, dbeta


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("name", NAMES)
def test_outputs_statistics_and_three_gradients(name, shape, training):
    args = inputs(SHAPES[shape])
    expected = run(batch_norm, *args, training)
    got = run(IMPLS[name][0], *args, training)
    for what, e, g in zip(("Y", "moving_mean", "moving_var", "dX", "dgamma", "dbeta"),
                          expected, got):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-10, msg=f"{name}: {what}")


@pytest.mark.parametrize("buffers", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_moving_statistics_are_the_references_bit_for_bit(name, buffers):
    X, gamma, beta, mean, var = inputs(SHAPES["4d"], torch.float32, buffers=buffers)
    with torch.no_grad():
        _, m_ref, v_ref = batch_norm(X, gamma, beta, mean, var, EPS, MOMENTUM, training=True)
        _, m, v = IMPLS[name][0](X, gamma, beta, mean, var, EPS, MOMENTUM, training=True)
    assert m.dtype == v.dtype == buffers
    assert torch.equal(m, m_ref) and torch.equal(v, v_ref)


BAD = {
    "integer input": lambda X, g, b, m, v: (X.long(), g, b, m, v, EPS, MOMENTUM),
    "3-D input": lambda X, g, b, m, v: (X[0], g, b, m, v, EPS, MOMENTUM),
    "gamma of the wrong size": lambda X, g, b, m, v: (X, g[:2], b, m, v, EPS, MOMENTUM),
    "negative eps": lambda X, g, b, m, v: (X, g, b, m, v, -1.0, MOMENTUM),
    "momentum above 1": lambda X, g, b, m, v: (X, g, b, m, v, EPS, 1.5),
    "one value per channel": lambda X, g, b, m, v: (X[:1, :, :1, :1], g, b, m, v, EPS, MOMENTUM),
}


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("name", NAMES)
def test_bad_input_gets_the_references_error(name, case):
    args = BAD[case](*inputs(SHAPES["4d"], torch.float32))
    with pytest.raises(Exception) as reference:
        batch_norm(*args, training=True)
    with pytest.raises(type(reference.value)) as got:
        IMPLS[name][0](*args, training=True)
    assert str(got.value) == str(reference.value)


@pytest.mark.parametrize("num_dims", [2, 4])
@pytest.mark.parametrize("name", NAMES)
def test_the_layer_is_a_drop_in_batch_norm(name, num_dims):
    layer_cls = IMPLS[name][1]
    reference, layer = BatchNorm(3, num_dims=num_dims).double(), layer_cls(3, num_dims).double()
    with torch.no_grad():
        reference.gamma.uniform_(0.5, 2)
        reference.beta.uniform_(-1, 1)
        reference.moving_var.uniform_(0.5, 2)
    assert {k: v.shape for k, v in layer.state_dict().items()} == \
        {k: v.shape for k, v in reference.state_dict().items()}
    layer.load_state_dict(reference.state_dict())
    X = torch.randn((8, 3) if num_dims == 2 else (8, 3, 4, 4), dtype=torch.float64)
    for mode in ("train", "eval"):
        reference.train(mode == "train")
        layer.train(mode == "train")
        torch.testing.assert_close(layer(X), reference(X), rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(layer.moving_mean, reference.moving_mean, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match=f"expects 3 features/channels"):
        layer(torch.randn((8, 4) if num_dims == 2 else (8, 4, 4, 4), dtype=torch.float64))
