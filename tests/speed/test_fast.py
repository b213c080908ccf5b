"""bnref.speed.fast: the single-pass, analytic-backward batch norm, held to torch.

Outputs and gradients are compared with ``F.batch_norm``; gradients are also
checked numerically (``gradcheck`` in float64); moving statistics follow the
d2l convention with the biased variance, as :func:`bnref.batch_norm` does.
"""

import pytest
import torch
import torch.nn.functional as F

import bnref
from bnref.speed import fast

SHAPES = [(16, 5), (8, 3, 6, 7)]


def make(shape, device, dtype=torch.float32, offset=0.0):
    g = torch.Generator().manual_seed(0)
    C = shape[1]
    X = (torch.randn(shape, generator=g, dtype=dtype) * 2 + offset).to(device)
    gamma = (torch.rand(C, generator=g, dtype=dtype) + 0.5).to(device)
    beta = torch.randn(C, generator=g, dtype=dtype).to(device)
    mean = torch.randn(C, generator=g, dtype=dtype).to(device)
    var = (torch.rand(C, generator=g, dtype=dtype) + 0.5).to(device)
    return X, gamma, beta, mean, var


def check_against_torch(shape, training, device):
    """fast.batch_norm against F.batch_norm: the output and the gradients of X, gamma, beta.

    Returns the input, the moving statistics given, and the ones returned."""
    X, gamma, beta, mean, var = make(shape, device)
    dY = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(device)
    ours = [t.clone().requires_grad_() for t in (X, gamma, beta)]
    ref = [t.clone().requires_grad_() for t in (X, gamma, beta)]

    Y, new_mean, new_var = fast.batch_norm(ours[0], ours[1], ours[2], mean, var, 1e-5, 0.9,
                                           training=training)
    Y_ref = F.batch_norm(ref[0], mean.clone(), var.clone(), ref[1], ref[2],
                         training=training, momentum=0.1, eps=1e-5)
    Y.backward(dY)
    Y_ref.backward(dY)

    torch.testing.assert_close(Y, Y_ref, rtol=1e-5, atol=1e-5)
    for name, a, b in zip(("X", "gamma", "beta"), ours, ref):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4, msg=name)
    return X, mean, var, new_mean, new_var


def gradcheck_float64(shape, training, device):
    X, gamma, beta, mean, var = make(shape, device, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (X, gamma, beta))

    def f(X, gamma, beta):
        return fast.batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9, training=training)[0]

    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_matches_torch_outputs_and_gradients(shape, training, device):
    check_against_torch(shape, training, device)


@pytest.mark.parametrize("shape", [(6, 3), (4, 2, 3, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_float64(shape, training, device):
    gradcheck_float64(shape, training, device)


@pytest.mark.parametrize("shape", SHAPES)
def test_moving_statistics_follow_d2l_convention(shape, device):
    X, gamma, beta, mean, var = make(shape, device)
    dims = (0,) if len(shape) == 2 else (0, 2, 3)
    _, new_mean, new_var = fast.batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9,
                                           training=True)
    torch.testing.assert_close(new_mean, 0.9 * mean + 0.1 * X.mean(dim=dims))
    torch.testing.assert_close(new_var, 0.9 * var + 0.1 * X.var(dim=dims, correction=0))
    # and exactly what the readable core returns, shapes included
    _, ref_mean, ref_var = bnref.batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9,
                                            training=True)
    torch.testing.assert_close(new_mean, ref_mean)
    torch.testing.assert_close(new_var, ref_var)
    # eval leaves them unchanged
    _, m, v = fast.batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9, training=False)
    assert torch.equal(m, mean) and torch.equal(v, var)


def test_single_pass_variance_error_at_mean_ten_stds(device):
    """E[x^2] - mean^2 cancels digits as (|mean|/std)^2: still < 2e-4 at |mean| = 10 std."""
    X, gamma, beta, mean, var = make((32, 4, 8, 8), device, offset=20.0)  # std 2
    Y, _, _ = fast.batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9, training=True)
    Y_ref = F.batch_norm(X.double(), None, None, gamma.double(), beta.double(),
                         training=True, eps=1e-5)
    error = (Y.double() - Y_ref).abs().max().item()
    assert 1e-6 < error < 2e-4, f"max abs error {error:.2e}, expected in (1e-6, 2e-4)"


def test_half_precision_input_is_computed_in_float32(device):
    X, gamma, beta, mean, var = make((8, 3, 4, 4), device)
    Y, _, _ = fast.batch_norm(X.half(), gamma, beta, mean, var, 1e-5, 0.9, training=True)
    Y_ref, _, _ = bnref.batch_norm(X.half(), gamma, beta, mean, var, 1e-5, 0.9,
                                   training=True)
    assert Y.dtype == torch.float16
    torch.testing.assert_close(Y, Y_ref, rtol=1e-3, atol=2e-3)


def test_module_is_a_drop_in_batchnorm(device):
    torch.manual_seed(0)
    readable = bnref.BatchNorm(3, num_dims=4).to(device)
    quick = fast.FastBatchNorm(3, num_dims=4).to(device)
    quick.load_state_dict(readable.state_dict())
    X = torch.randn(8, 3, 5, 5, device=device)
    for mode in ("train", "eval"):
        getattr(readable, mode)(), getattr(quick, mode)()
        torch.testing.assert_close(quick(X), readable(X), rtol=1e-5, atol=1e-5)
        for key in ("moving_mean", "moving_var"):
            torch.testing.assert_close(getattr(quick, key), getattr(readable, key))
    assert sorted(quick.state_dict()) == sorted(readable.state_dict())


def test_errors_say_what_was_expected(device):
    bn = fast.FastBatchNorm(3, num_dims=4).to(device)
    with pytest.raises(ValueError, match=r"expects 3 features/channels.*got shape \(2, 4, 5, 5\)"):
        bn(torch.randn(2, 4, 5, 5, device=device))
    X, gamma, beta, mean, var = make((4, 3), device)
    with pytest.raises(TypeError, match="floating-point"):
        fast.batch_norm(X.long(), gamma, beta, mean, var, 1e-5, 0.9, training=True)


# --- slicing: on the CPU a batch of more than WHOLE_BATCH_ELEMENTS elements is
# walked in slices of SLICE_ELEMENTS elements

def slice_small_batches(mp: pytest.MonkeyPatch, limit: int) -> None:
    """Make the tests' small batches take the sliced path: slices of ``limit`` elements."""
    mp.setattr(fast, "SLICE_ELEMENTS", limit)
    mp.setattr(fast, "WHOLE_BATCH_ELEMENTS", 0)


def test_batch_slices_cover_the_batch_in_order():
    for N, per_sample, limit in [(7, 12, 30), (10, 126, 40), (16, 5, 12), (3, 4, 1000)]:
        X = torch.empty(N, per_sample)
        with pytest.MonkeyPatch.context() as mp:
            slice_small_batches(mp, limit)
            parts = fast.batch_slices(X)
        assert [i for p in parts for i in range(N)[p]] == list(range(N))
        step = max(1, limit // per_sample)
        assert all(p.stop - p.start == step for p in parts[:-1])
        assert 0 < parts[-1].stop - parts[-1].start <= step


# ragged last slice, one sample per slice, and a 2-D batch of two rows per slice
SLICED = [((7, 3, 2, 2), 30), ((5, 3, 6, 7), 40), ((16, 5), 12)]


@pytest.mark.parametrize("shape,limit", SLICED)
@pytest.mark.parametrize("training", [True, False])
def test_sliced_matches_torch_outputs_and_gradients(shape, limit, training, device, monkeypatch):
    slice_small_batches(monkeypatch, limit)
    if device == "cpu":
        assert len(fast.batch_slices(torch.empty(shape))) > 1
    X, mean, var, new_mean, new_var = check_against_torch(shape, training, device)
    if training:
        dims = (0,) if len(shape) == 2 else (0, 2, 3)
        torch.testing.assert_close(new_mean, 0.9 * mean + 0.1 * X.mean(dim=dims))
        torch.testing.assert_close(new_var, 0.9 * var + 0.1 * X.var(dim=dims, correction=0))
    else:
        assert torch.equal(new_mean, mean) and torch.equal(new_var, var)


@pytest.mark.parametrize("shape,limit", SLICED)
def test_sliced_gradcheck_float64(shape, limit, monkeypatch):
    slice_small_batches(monkeypatch, limit)
    assert len(fast.batch_slices(torch.empty(shape))) > 1
    gradcheck_float64(shape, True, "cpu")


def test_channel_sum_and_dot_over_slices(monkeypatch):
    slice_small_batches(monkeypatch, 40)
    g = torch.Generator().manual_seed(0)
    U, V = torch.randn(9, 3, 4, 5, generator=g), torch.randn(9, 3, 4, 5, generator=g)
    s_u, s_uv = fast.channel_sum_and_dot(U, V)
    assert s_u.dtype == s_uv.dtype == torch.float64 and s_u.shape == (3,)
    # float32 sums per slice, added in float64
    torch.testing.assert_close(s_u, U.double().sum(dim=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s_uv, (U.double() * V.double()).sum(dim=(0, 2, 3)),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.channel_dot(U, V), (U * V).sum(dim=(0, 2, 3)))


def test_scratch_lends_only_its_first_slice(monkeypatch):
    # the products of every slice go into the first slice of scratch, which stays
    # in cache; the rest of scratch (the output, written later) is not touched
    slice_small_batches(monkeypatch, 130)  # 60 values per sample: two samples per slice
    g = torch.Generator().manual_seed(0)
    U, V = torch.randn(9, 3, 4, 5, generator=g), torch.randn(9, 3, 4, 5, generator=g)
    step = fast.batch_slices(U)[0].stop
    assert 1 < step < 9
    scratch = torch.full_like(U, float("nan"))
    s_u, s_uv = fast.channel_sum_and_dot(U, V, scratch=scratch)
    assert not scratch[:step].isnan().any() and scratch[step:].isnan().all()
    torch.testing.assert_close(s_uv, (U.double() * V.double()).sum(dim=(0, 2, 3)),
                               rtol=1e-5, atol=1e-5)


def test_whole_batch_up_to_the_limit():
    per_sample = 3 * 10 * 10
    fits = fast.WHOLE_BATCH_ELEMENTS // per_sample
    assert fast.batch_slices(torch.empty(fits, 3, 10, 10)) == [slice(0, fits)]
    assert len(fast.batch_slices(torch.empty(fits + 1, 3, 10, 10))) > 1


def test_one_slice_under_torch_compile():
    X = torch.empty(4000, 3, 10, 10)
    assert len(fast.batch_slices(X)) == 5
    compiled = torch.compile(lambda X: X * len(fast.batch_slices(X)), backend="eager",
                             fullgraph=True)
    assert torch.equal(compiled(torch.ones(4000, 3, 10, 10))[0, 0, 0], torch.ones(10))
