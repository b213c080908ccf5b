"""bnref.batch_norm / bnref.BatchNorm held to F.batch_norm and nn.BatchNorm1d/2d.

Conventions compared (see bnref.convert): d2l momentum m is PyTorch's 1 - m;
PyTorch updates running_var with the *unbiased* batch variance (times n/(n-1)),
bnref with the biased one. Every comparison records its max abs error per dtype;
run with ``-s`` to see the summary printed at the end of this module.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import bnref

MAX_ERR: dict[str, float] = defaultdict(float)
CASES: Counter = Counter()


def record(dtype: torch.dtype, ours: torch.Tensor, theirs: torch.Tensor) -> float:
    err = (ours.double() - theirs.double()).abs().max().item() if ours.numel() else 0.0
    key = str(dtype).removeprefix("torch.")
    MAX_ERR[key] = max(MAX_ERR[key], err)
    CASES[key] += 1
    return err


@pytest.fixture(scope="module", autouse=True)
def _summary():
    yield
    print("\nequivalence cases per dtype:", dict(CASES))
    print("max abs error per dtype:", {k: f"{v:.3g}" for k, v in MAX_ERR.items()})


def params(C, shape, dtype=torch.float32, device="cpu"):
    g = torch.Generator(device="cpu").manual_seed(C)
    gamma = (1 + 0.5 * torch.randn(C, generator=g)).to(device, dtype)
    beta = (0.5 * torch.randn(C, generator=g)).to(device, dtype)
    return gamma.view(shape), beta.view(shape)


SHAPES = [(8, 3), (5, 4, 6, 7), (2, 3, 1, 1)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_functional_matches_F_batch_norm_fp32(shape, training, device):
    torch.manual_seed(0)
    C = shape[1]
    pshape = (1, C) if len(shape) == 2 else (1, C, 1, 1)
    X = (3 * torch.randn(shape) + 2).to(device).requires_grad_()
    gamma, beta = (p.requires_grad_() for p in params(C, pshape, device=device))
    mm, mv = torch.randn(C, device=device), torch.rand(C, device=device) + 0.5
    Y, new_mean, new_var = bnref.batch_norm(X, gamma, beta, mm.view(pshape), mv.view(pshape),
                                            eps=1e-5, momentum=0.9, training=training)
    X2 = X.detach().clone().requires_grad_()
    g2 = gamma.detach().reshape(-1).clone().requires_grad_()
    b2 = beta.detach().reshape(-1).clone().requires_grad_()
    rm, rv = mm.clone(), mv.clone()
    Y2 = F.batch_norm(X2, rm, rv, g2, b2, training=training, momentum=0.1, eps=1e-5)
    assert record(torch.float32, Y, Y2) < 1e-5
    # gradients of an arbitrary scalar function of the output
    w = torch.randn(shape, device=device)
    (Y * w).sum().backward()
    (Y2 * w).sum().backward()
    assert record(torch.float32, X.grad, X2.grad) < 1e-4
    assert record(torch.float32, gamma.grad.reshape(-1), g2.grad) < 1e-4
    assert record(torch.float32, beta.grad.reshape(-1), b2.grad) < 1e-4
    # the running mean follows the same rule with m <-> 1 - m
    assert record(torch.float32, new_mean.reshape(-1), rm) < 1e-6
    if not training:
        assert torch.equal(new_var.reshape(-1), mv)  # untouched in evaluation


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_fp64(shape, training):
    torch.manual_seed(1)
    C = shape[1]
    X = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(C, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(C, dtype=torch.float64, requires_grad=True)
    mm = torch.randn(C, dtype=torch.float64)
    mv = torch.rand(C, dtype=torch.float64) + 0.5

    def f(X, gamma, beta):
        return bnref.batch_norm(X, gamma, beta, mm, mv, eps=1e-5, momentum=0.9,
                                training=training)[0]

    assert torch.autograd.gradcheck(f, (X, gamma, beta))
    assert torch.autograd.gradgradcheck(f, (X, gamma, beta))
    CASES["float64 gradcheck"] += 1


@pytest.mark.parametrize("num_dims,shape,torch_cls", [
    (2, (6, 5), nn.BatchNorm1d), (4, (4, 5, 3, 3), nn.BatchNorm2d)])
def test_module_running_stats_over_steps(num_dims, shape, torch_cls, device):
    """Several training steps: the exact relation between the two running variances."""
    torch.manual_seed(2)
    m = 0.8
    ours = bnref.BatchNorm(shape[1], num_dims=num_dims, momentum=m).to(device)
    theirs = torch_cls(shape[1], momentum=1 - m).to(device)
    n = shape[0] * (shape[2] * shape[3] if num_dims == 4 else 1)  # values per channel
    for _ in range(5):
        X = 2 * torch.randn(shape, device=device) + 1
        assert record(torch.float32, ours(X), theirs(X)) < 1e-5
    mean_ours, var_ours = ours.moving_mean.reshape(-1), ours.moving_var.reshape(-1)
    assert record(torch.float32, mean_ours, theirs.running_mean) < 1e-6
    # Both are exponential averages from the same start (var 1): torch's mixes in
    # n/(n-1) times our batch variance, so  rv - m^T = n/(n-1) * (mv - m^T).
    start = m ** 5
    expected = start + (var_ours - start) * n / (n - 1)
    assert record(torch.float32, expected, theirs.running_var) < 1e-5
    assert not torch.allclose(var_ours, theirs.running_var)  # they do differ
    # evaluation mode with the same statistics: same output
    ours.eval()
    theirs.eval()
    theirs.running_var.copy_(var_ours)
    X = torch.randn(shape, device=device)
    assert record(torch.float32, ours(X), theirs(X)) < 1e-5


def test_channels_last_input(device):
    torch.manual_seed(3)
    X = torch.randn(4, 3, 5, 5, device=device)
    Xcl = X.to(memory_format=torch.channels_last)
    assert Xcl.is_contiguous(memory_format=torch.channels_last)
    ours = bnref.BatchNorm(3, num_dims=4).to(device)
    theirs = nn.BatchNorm2d(3).to(device)
    Y = ours(Xcl)
    assert record(torch.float32, Y, theirs(Xcl)) < 1e-5
    assert record(torch.float32, Y, bnref.BatchNorm(3, num_dims=4).to(device)(X)) < 1e-6


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("training", [True, False])
def test_half_precision_within_output_rounding(dtype, training, device):
    """Half input: statistics in fp32, output off the fp32 result by its rounding only."""
    torch.manual_seed(4)
    X = (4 * torch.randn(16, 3, 6, 6, device=device) + 3).to(dtype)
    gamma, beta = params(3, (1, 3, 1, 1), dtype, device)
    mm = torch.zeros(1, 3, 1, 1, device=device, dtype=dtype)
    mv = torch.full((1, 3, 1, 1), 2.0, device=device, dtype=dtype)
    Y, new_mean, _ = bnref.batch_norm(X, gamma, beta, mm, mv, 1e-5, 0.9, training=training)
    assert Y.dtype == dtype
    ref, ref_mean, _ = bnref.batch_norm(X.float(), gamma.float(), beta.float(), mm.float(),
                                        mv.float(), 1e-5, 0.9, training=training)
    # one rounding of the output: |err| <= eps_dtype/2 * |y| (+ a subnormal margin)
    tol = torch.finfo(dtype).eps / 2 * ref.abs() + 1e-6
    assert ((Y.float() - ref).abs() <= tol).all()
    record(dtype, Y, ref)
    assert torch.equal(new_mean, ref_mean.to(dtype))
    # and torch's own half-precision batch norm lands as close to the fp32 result
    Yt = F.batch_norm(X, mm.reshape(-1).clone(), mv.reshape(-1).clone(), gamma.reshape(-1),
                      beta.reshape(-1), training=training, momentum=0.1, eps=1e-5)
    assert (Y.float() - ref).abs().max() <= (Yt.float() - ref).abs().max() + tol.max()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 6), c=st.integers(1, 4), hw=st.one_of(st.none(), st.tuples(
        st.integers(1, 4), st.integers(1, 4))),
    scale=st.floats(1e-2, 1e2), offset=st.floats(-100, 100),
    momentum=st.floats(0.0, 1.0), training=st.booleans(), seed=st.integers(0, 2**16),
)
def test_property_matches_torch_fp64(n, c, hw, scale, offset, momentum, training, seed):
    shape = (n, c) if hw is None else (n, c, *hw)
    g = torch.Generator().manual_seed(seed)
    X = (scale * torch.randn(shape, generator=g, dtype=torch.float64) + offset)
    gamma = torch.randn(c, generator=g, dtype=torch.float64)
    beta = torch.randn(c, generator=g, dtype=torch.float64)
    mm = torch.randn(c, generator=g, dtype=torch.float64)
    mv = torch.rand(c, generator=g, dtype=torch.float64) + 0.1
    Y, new_mean, new_var = bnref.batch_norm(X, gamma, beta, mm, mv, 1e-5, momentum,
                                            training=training)
    rm, rv = mm.clone(), mv.clone()
    Yt = F.batch_norm(X, rm, rv, gamma, beta, training=training, momentum=1 - momentum,
                      eps=1e-5)
    assert record(torch.float64, Y, Yt) < 1e-9
    assert record(torch.float64, new_mean, rm) < 1e-9 * (1 + abs(offset))
    if training:
        per_channel = X.numel() // c
        var_b = X.transpose(0, 1).reshape(c, -1).var(dim=1, correction=0)
        expected_rv = momentum * mv + (1 - momentum) * var_b * per_channel / (per_channel - 1)
        assert record(torch.float64, rv, expected_rv) < 1e-9 * (1 + scale**2)
        assert record(torch.float64, new_var, momentum * mv + (1 - momentum) * var_b) \
            < 1e-9 * (1 + scale**2)
