"""bnref.speed.compiled: the readable and the fast batch_norm under torch.compile, each held
to torch and to its own eager version.

Each new shape or mode compiles again (a few seconds), so the cases are few
and each one checks everything it can.
"""

import pytest
import torch
import torch.nn.functional as F

import bnref
from bnref.speed import compiled, fast

#: (compiled function, the eager function it compiles, the compiled module)
PAIRS = {
    "readable": (compiled.batch_norm, bnref.batch_norm, compiled.CompiledBatchNorm),
    "fast": (compiled.fast_batch_norm, fast.batch_norm, compiled.CompiledFastBatchNorm),
}


def _inputs(shape, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    C = shape[1]
    X = (torch.randn(shape, generator=g) * 2 + 3).to(device).requires_grad_()
    gamma = (torch.rand(C, generator=g) + 0.5).to(device).requires_grad_()
    beta = torch.randn(C, generator=g).to(device).requires_grad_()
    mean = torch.randn(C, generator=g).to(device)
    var = (torch.rand(C, generator=g) + 0.5).to(device)
    return X, gamma, beta, mean, var


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("shape", [(6, 4, 5, 5), (10, 7)], ids=["4d", "2d"])
def test_training_matches_eager_and_torch(shape, pair, device):
    # on cuda the compiler writes Triton kernels instead of C++ loops
    compiled_fn, eager_fn, _ = PAIRS[pair]
    X, gamma, beta, mean, var = _inputs(shape, device=device)
    dY = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(device)
    Y, new_mean, new_var = compiled_fn(X, gamma, beta, mean, var, 1e-5, 0.9, training=True)
    grads = torch.autograd.grad(Y, (X, gamma, beta), dY)

    Y_e, mean_e, var_e = eager_fn(X, gamma, beta, mean, var, 1e-5, 0.9, training=True)
    grads_e = torch.autograd.grad(Y_e, (X, gamma, beta), dY)
    torch.testing.assert_close(Y, Y_e)
    torch.testing.assert_close(new_mean, mean_e)
    torch.testing.assert_close(new_var, var_e)
    for g, g_e in zip(grads, grads_e):
        torch.testing.assert_close(g, g_e)

    # and PyTorch's kernel (momentum 1 - 0.9; torch's moving variance is unbiased)
    rm, rv = mean.clone(), var.clone()
    Y_t = F.batch_norm(X, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
    grads_t = torch.autograd.grad(Y_t, (X, gamma, beta), dY)
    torch.testing.assert_close(Y, Y_t, rtol=1e-5, atol=1e-5)
    for g, g_t in zip(grads, grads_t):
        torch.testing.assert_close(g, g_t, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(new_mean, rm)


@pytest.mark.parametrize("pair", PAIRS)
def test_eval_uses_the_moving_statistics(pair):
    compiled_fn = PAIRS[pair][0]
    X, gamma, beta, mean, var = _inputs((6, 4, 5, 5), seed=1)
    with torch.no_grad():
        Y, m, v = compiled_fn(X, gamma, beta, mean, var, 1e-5, 0.9)  # mode: no grad
    expected = (X - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + 1e-5)
    expected = expected * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)
    torch.testing.assert_close(Y, expected)
    assert torch.equal(m, mean) and torch.equal(v, var)


@pytest.mark.parametrize("pair", PAIRS)
def test_bad_input_gets_the_readable_versions_message(pair):
    X = torch.randn(2, 5)
    with pytest.raises(ValueError) as readable:
        bnref.batch_norm(X, torch.ones(3), torch.zeros(5), torch.zeros(5), torch.ones(5),
                         1e-5, 0.9, training=True)
    with pytest.raises(ValueError) as ours:
        PAIRS[pair][0](X, torch.ones(3), torch.zeros(5), torch.zeros(5), torch.ones(5),
                       1e-5, 0.9, training=True)
    assert str(ours.value) == str(readable.value)
    assert "got shape (3,)" in str(ours.value)


@pytest.mark.parametrize("pair", PAIRS)
def test_module_is_a_drop_in_batchnorm(pair):
    torch.manual_seed(0)
    readable, fused = bnref.BatchNorm(4, num_dims=4), PAIRS[pair][2](4, num_dims=4)
    fused.load_state_dict(readable.state_dict())
    X = torch.randn(6, 4, 5, 5)
    torch.testing.assert_close(fused(X), readable(X))
    torch.testing.assert_close(fused.moving_var, readable.moving_var)
    with pytest.raises(ValueError, match="expects 4 features/channels"):
        fused(torch.randn(6, 3, 5, 5))
