"""bnref.speed.fused: BatchNorm + sigmoid (+ 2x2 max pooling) in one kernel, held to the three layers;
BatchNorm alone in one kernel, held to bnref.batch_norm and F.batch_norm."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bnref
from bnref.speed import fused
from bnref.speed.fused import (BatchNormSigmoid, BatchNormSigmoidMaxPool2x2, FusedBatchNorm,
                         batch_norm_sigmoid, batch_norm_sigmoid_max_pool2x2, with_fused_layers)
from bnref.models import lenet_bn

EPS, MOMENTUM = 1e-5, 0.9


def inputs(kind: str, shape, dtype=torch.float64, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        return torch.randn(shape, generator=g, dtype=dtype) * 3 + 1
    if kind == "ties":  # three values only: most windows hold equal maxima
        return torch.randint(0, 3, shape, generator=g).to(dtype)
    if kind == "blank":  # LeNet's case: one value over most of the image
        x = torch.zeros(shape, dtype=dtype)
        h, w = shape[-2] // 4, shape[-1] // 4
        x[..., h:shape[-2] - h, w:shape[-1] - w] = torch.randn(
            shape[:-2] + (shape[-2] - 2 * h, shape[-1] - 2 * w), generator=g, dtype=dtype)
        return x
    raise ValueError(kind)


def params(C, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    gamma = torch.rand(C, generator=g, dtype=dtype) * 2 - 0.5  # some negative: z = a x + b flips
    beta = torch.randn(C, generator=g, dtype=dtype)
    mean = torch.randn(C, generator=g, dtype=dtype)
    var = torch.rand(C, generator=g, dtype=dtype) + 0.5
    return gamma, beta, mean, var


def kernel_function(X, alone=False):
    """The fused function for X: the layers after BatchNorm included, or batch norm alone."""
    if alone:
        return fused.batch_norm
    return batch_norm_sigmoid_max_pool2x2 if X.dim() == 4 else batch_norm_sigmoid


def reference(X, gamma, beta, mean, var, training, alone=False):
    """The layers one after the other: bnref.batch_norm, then sigmoid and F.max_pool2d
    (unless alone)."""
    Y, m, v = bnref.batch_norm(X, gamma, beta, mean, var, EPS, MOMENTUM, training=training)
    if alone:
        return Y, m, v
    Y = torch.sigmoid(Y)
    return (F.max_pool2d(Y, 2, 2) if X.dim() == 4 else Y), m, v


def compare(X, training, atol=1e-12, alone=False):
    """Output, moving statistics and gradients of the fused function against reference()."""
    C = X.shape[1]
    gamma, beta, mean, var = params(C, X.dtype)
    fn = kernel_function(X, alone)
    leaves = [t.clone().requires_grad_() for t in (X, gamma, beta)]
    leaves_ref = [t.clone().requires_grad_() for t in (X, gamma, beta)]
    y, m, v = fn(*leaves, mean, var, EPS, MOMENTUM, training=training)
    y_ref, m_ref, v_ref = reference(*leaves_ref, mean, var, training, alone)
    for name, a, b in (("Y", y, y_ref), ("moving_mean", m, m_ref), ("moving_var", v, v_ref)):
        torch.testing.assert_close(a, b, rtol=0, atol=atol, msg=lambda s, n=name: f"{n}: {s}")
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(2), dtype=y.dtype)
    grads = torch.autograd.grad(y, leaves, dy)
    grads_ref = torch.autograd.grad(y_ref, leaves_ref, dy)
    for name, a, b in zip(("X", "gamma", "beta"), grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=atol * max(1.0, b.abs().max().item()),
                                   msg=lambda m, name=name: f"d{name}: {m}")


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kind", ["random", "ties", "blank"])
@pytest.mark.parametrize("shape", [(16, 6, 24, 24), (16, 16, 8, 8), (3, 2, 2, 6),
                                   (5, 3, 6, 34)])
def test_pooled_layer_equals_the_three_layers(shape, kind, training):
    # (5, 3, 6, 34): rows of 17 windows, more than one vector of lanes and a remainder
    compare(inputs(kind, shape), training)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(256, 120), (256, 84), (7, 3), (2, 33)])
def test_2d_layer_equals_the_two_layers(shape, training):
    compare(inputs("random", shape), training)


def against_nn_batchnorm2d(layer, after, X, atol):
    """Train ``layer`` and ``nn.BatchNorm2d`` (same gamma and beta), then ``after``, on
    float32 ``X``: outputs, gradients and moving mean agree; returns the nn layer."""
    C = X.shape[1]
    bn = nn.BatchNorm2d(C)
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.bias, -0.5, 0.5)
    with torch.no_grad():
        layer.gamma.copy_(bn.weight.view(1, C, 1, 1))
        layer.beta.copy_(bn.bias.view(1, C, 1, 1))
    x1, x2 = X.clone().requires_grad_(), X.clone().requires_grad_()
    y1, y2 = layer(x1), after(bn(x2))
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=atol)
    dy = torch.randn_like(y1)
    y1.backward(dy)
    y2.backward(dy)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=atol)
    torch.testing.assert_close(layer.gamma.grad.view(C), bn.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(layer.beta.grad.view(C), bn.bias.grad, rtol=1e-4, atol=1e-4)
    # d2l momentum 0.9 is PyTorch's 0.1; the mean follows the same average
    torch.testing.assert_close(layer.moving_mean.view(C), bn.running_mean, rtol=1e-5, atol=1e-6)
    return bn


def test_float32_against_torch_nn_layers():
    torch.manual_seed(0)
    X = torch.randn(32, 6, 24, 24) * 2 + 0.5
    against_nn_batchnorm2d(BatchNormSigmoidMaxPool2x2(6),
                           lambda y: F.max_pool2d(torch.sigmoid(y), 2, 2), X, atol=1e-6)


ALONE = pytest.mark.parametrize("alone", [False, True], ids=["with-layers-after", "alone"])


@ALONE
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(3, 2, 4, 6), (5, 4)])
def test_gradcheck(shape, training, alone):
    X = inputs("random", shape).requires_grad_()
    gamma, beta, mean, var = params(shape[1])
    gamma.requires_grad_()
    beta.requires_grad_()
    fn = kernel_function(X, alone)

    def f(X, gamma, beta):
        return fn(X, gamma, beta, mean, var, EPS, MOMENTUM, training=training)[0]

    assert torch.autograd.gradcheck(f, (X, gamma, beta))


@ALONE
@pytest.mark.parametrize("shape", [(8, 3, 10, 12), (64, 5)])
def test_the_number_of_threads_does_not_change_a_bit(shape, alone):
    # each thread sums whole channels, in the same order whatever the thread count
    X = inputs("random", shape, dtype=torch.float32)
    gamma, beta, mean, var = params(shape[1], torch.float32)
    fn = kernel_function(X, alone)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            leaves = [t.clone().requires_grad_() for t in (X, gamma, beta)]
            y, m, v = fn(*leaves, mean, var, EPS, MOMENTUM, training=True)
            results.append((y, m, v, *torch.autograd.grad(y.square().sum(), leaves)))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results):
        assert torch.equal(a, b)


@ALONE
@pytest.mark.parametrize("shape", [(32, 4, 8, 8), (2048, 4)])
def test_variance_of_a_large_mean_stays_accurate(shape, alone):
    # shifted sums: what cancels is mean - x[0], not the mean (fast.py's plain sums lose
    # about 0.2 of the variance at |mean| = 500 std in float32)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(shape, generator=g) + 500.0
    ones, zeros = torch.ones(4), torch.zeros(4)
    _, _, var = kernel_function(X, alone)(X, ones, zeros, zeros, ones, EPS, 0.0, training=True)
    exact = X.double().var(dim=(0, 2, 3) if X.dim() == 4 else 0, unbiased=False)
    assert ((var.double() - exact).abs() / exact).max() < 1e-3


def test_nan_in_eval_takes_the_window_as_nn_maxpool2d_does():
    X = inputs("random", (2, 3, 4, 6))
    X[0, 1, 2, 3] = float("nan")
    X[1, 0, 0, 0] = float("nan")
    gamma, beta, mean, var = params(3)
    y, _, _ = batch_norm_sigmoid_max_pool2x2(X, gamma, beta, mean, var, EPS, MOMENTUM,
                                             training=False)
    y_ref, _, _ = reference(X, gamma, beta, mean, var, False)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12, equal_nan=True)
    assert y.isnan().sum() == 2


def test_half_precision_is_computed_in_float32():
    X = inputs("random", (4, 3, 8, 8), dtype=torch.float16)
    gamma, beta, mean, var = (t.half() for t in params(3))
    y, m, v = batch_norm_sigmoid_max_pool2x2(X, gamma, beta, mean, var, EPS, MOMENTUM,
                                             training=True)
    assert y.dtype == torch.float16 and m.dtype == v.dtype == torch.float16
    y32, _, _ = batch_norm_sigmoid_max_pool2x2(X.float(), gamma.float(), beta.float(),
                                               mean.float(), var.float(), EPS, MOMENTUM,
                                               training=True)
    torch.testing.assert_close(y, y32.half())


def test_non_contiguous_input():
    X = inputs("random", (4, 6, 3, 8)).transpose(1, 3)  # (4, 8, 6, 3) seen through strides
    assert not X.is_contiguous()
    compare(X[..., :2], training=True)
    compare(inputs("random", (6, 10)).t(), training=True)


def test_odd_sizes_use_the_three_layers():
    # nn.MaxPool2d(2, 2) drops the last row and column; so does the fallback
    X = inputs("random", (4, 3, 7, 9))
    compare(X, training=True)
    y, _, _ = batch_norm_sigmoid_max_pool2x2(X, *params(3), EPS, MOMENTUM, training=True)
    assert y.shape == (4, 3, 3, 4)


def test_under_torch_compile_the_three_layers_run(monkeypatch):
    def no_kernel():
        raise AssertionError("the kernel ran under torch.compile")

    monkeypatch.setattr(fused, "load", no_kernel)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    X = inputs("random", (4, 3, 6, 6))
    y, _, _ = batch_norm_sigmoid_max_pool2x2(X, *params(3), EPS, MOMENTUM, training=True)
    y_ref, _, _ = reference(X, *params(3), True)
    torch.testing.assert_close(y, y_ref)


def test_device(device):
    # on the CPU the kernel, elsewhere the three layers: the same numbers
    layer = BatchNormSigmoidMaxPool2x2(3).double().to(device)
    X = inputs("random", (4, 3, 6, 6)).to(device)
    y = layer(X)
    y_ref, _, _ = reference(X, torch.ones(3, dtype=X.dtype, device=device),
                            torch.zeros(3, dtype=X.dtype, device=device),
                            torch.zeros(3, dtype=X.dtype, device=device),
                            torch.ones(3, dtype=X.dtype, device=device), True)
    torch.testing.assert_close(y, y_ref)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_wrong_rank_is_refused():
    g, b, m, v = params(3)
    with pytest.raises(ValueError, match=r"expects \(N, C, H, W\) input; got shape \(4, 3\)"):
        batch_norm_sigmoid_max_pool2x2(torch.randn(4, 3, dtype=torch.float64), g, b, m, v, EPS,
                                       MOMENTUM, training=True)
    with pytest.raises(ValueError, match=r"expects \(N, C\) input; got shape \(4, 3, 2, 2\)"):
        batch_norm_sigmoid(torch.randn(4, 3, 2, 2, dtype=torch.float64), g, b, m, v, EPS,
                           MOMENTUM, training=True)


def test_windows_need_two_rows_and_columns():
    with pytest.raises(ValueError, match=r"at least 2; got shape \(4, 3, 1, 6\)"):
        batch_norm_sigmoid_max_pool2x2(torch.randn(4, 3, 1, 6, dtype=torch.float64), *params(3),
                                       EPS, MOMENTUM, training=True)


def test_wrong_parameter_shape_is_refused_with_bnref_s_message():
    with pytest.raises(ValueError, match=r"gamma must have shape"):
        batch_norm_sigmoid(torch.randn(8, 5), torch.ones(4), torch.zeros(5), torch.zeros(5),
                           torch.ones(5), EPS, MOMENTUM, training=True)


def test_layer_input_checks():
    with pytest.raises(ValueError, match=r"^BatchNormSigmoidMaxPool2x2\(6, num_dims=4\) expects 6 "
                       r"features/channels at dim 1"):
        BatchNormSigmoidMaxPool2x2(6)(torch.randn(2, 5, 8, 8))
    with pytest.raises(ValueError, match=r"^BatchNormSigmoid\(num_dims=2\) expects \(N, C\) input "
                       r"with 2 dimensions"):
        BatchNormSigmoid(6)(torch.randn(2, 6, 8, 8))


def test_a_failed_build_says_what_is_needed(monkeypatch):
    from torch.utils import cpp_extension

    def fail(**kwargs):
        raise RuntimeError("Error building extension: c++: not found")

    monkeypatch.setattr(cpp_extension, "load", fail)
    with pytest.raises(RuntimeError, match=r"needs a C\+\+ compiler \(g\+\+\), ninja and "
                       r"Python's headers.*c\+\+: not found"):
        fused.load.__wrapped__()


def test_kernels_check_their_inputs():
    ops = fused.load()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float16)
    ones = torch.ones(3)
    with pytest.raises(RuntimeError, match="computes in float32 or float64; got Half"):
        ops.bn_sigmoid_pool_forward(x, ones, ones, ones, ones, EPS, True)
    with pytest.raises(RuntimeError, match="height and width must be even; got 5x4"):
        ops.bn_sigmoid_pool_forward(torch.randn(2, 3, 5, 4), ones, ones, ones, ones, EPS, True)
    with pytest.raises(RuntimeError, match="expects a 2-D input; got 4-D"):
        ops.bn_sigmoid_forward(torch.randn(2, 3, 4, 4), ones, ones, ones, ones, EPS, True)


# --------------------------------------------------------------------------
# Batch normalization alone: fused.batch_norm, FusedBatchNorm
# --------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(16, 6, 24, 24), (3, 2, 5, 7), (4, 5, 1, 1), (1, 3, 4, 4),
                                   (256, 120), (7, 3), (2, 33)])
def test_alone_equals_bnref_batch_norm(shape, training):
    # (3, 2, 5, 7): planes of 35 values, a vector of lanes and a remainder
    compare(inputs("random", shape), training, alone=True)


def test_alone_float32_against_torch_nn_batchnorm2d():
    torch.manual_seed(0)
    X = torch.randn(32, 6, 14, 14) * 2 + 0.5
    layer = FusedBatchNorm(6, num_dims=4)
    bn = against_nn_batchnorm2d(layer, lambda y: y, X, atol=1e-5)
    # 0.9 * 1 + 0.1 * var, with var biased here and unbiased (times m / (m - 1)) there
    m = X[:, 0].numel()
    torch.testing.assert_close(layer.moving_var.view(6),
                               0.9 + (bn.running_var - 0.9) * (m - 1) / m, rtol=1e-5, atol=1e-6)
    layer.eval(), bn.eval()
    with torch.no_grad():
        layer.moving_var.copy_(bn.running_var.view(1, 6, 1, 1))
    torch.testing.assert_close(layer(X), bn(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (6, 3)])
def test_alone_in_eval_an_infinite_input_keeps_a_finite_gradient(shape):
    # with fixed statistics dX = a dY whatever X holds (not a dY + 0 * X + 0 = NaN)
    X = inputs("random", shape)
    X.view(-1)[3] = float("inf")
    compare(X, training=False, alone=True)
    X.requires_grad_()
    y, _, _ = fused.batch_norm(X, *params(3), EPS, MOMENTUM, training=False)
    (dx,) = torch.autograd.grad(y.sum(), X)
    assert dx.isfinite().all()


def test_alone_half_precision_and_non_contiguous_input():
    X = inputs("random", (4, 3, 8, 8), dtype=torch.float16)
    gamma, beta, mean, var = (t.half() for t in params(3))
    y, m, v = fused.batch_norm(X, gamma, beta, mean, var, EPS, MOMENTUM, training=True)
    assert y.dtype == m.dtype == v.dtype == torch.float16
    y32, _, _ = fused.batch_norm(X.float(), gamma.float(), beta.float(), mean.float(),
                                 var.float(), EPS, MOMENTUM, training=True)
    torch.testing.assert_close(y, y32.half())
    X = inputs("random", (4, 6, 3, 8)).transpose(1, 3)  # (4, 8, 6, 3) seen through strides
    assert not X.is_contiguous()
    compare(X, training=True, alone=True)
    compare(inputs("random", (6, 10)).t(), training=True, alone=True)


def test_alone_under_torch_compile_runs_bnref_fast(monkeypatch):
    from bnref.speed import fast

    def no_kernel():
        raise AssertionError("the kernel ran under torch.compile")

    monkeypatch.setattr(fused, "load", no_kernel)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    X = inputs("random", (4, 3, 6, 6))
    y, _, _ = fused.batch_norm(X, *params(3), EPS, MOMENTUM, training=True)
    y_ref, _, _ = fast.batch_norm(X, *params(3), EPS, MOMENTUM, training=True)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)


def test_alone_device(device):
    layer = FusedBatchNorm(3, num_dims=4).double().to(device)
    X = inputs("random", (4, 3, 6, 6)).to(device)
    y_ref, _, _ = bnref.batch_norm(X, layer.gamma, layer.beta, layer.moving_mean,
                                   layer.moving_var, EPS, MOMENTUM, training=True)
    torch.testing.assert_close(layer(X), y_ref)


def test_alone_bad_input():
    g, b, m, v = params(3)
    with pytest.raises(ValueError, match=r"gamma must have shape"):
        fused.batch_norm(torch.randn(8, 5), torch.ones(4), torch.zeros(5), torch.zeros(5),
                         torch.ones(5), EPS, MOMENTUM, training=True)
    with pytest.raises(ValueError, match=r"a 2-D input \(N, C\) .* or a 4-D input "
                       r"\(N, C, H, W\) .*; got shape \(4, 3, 5\)"):
        fused.batch_norm(torch.randn(4, 3, 5, dtype=torch.float64), g, b, m, v, EPS, MOMENTUM,
                         training=True)
    with pytest.raises(ValueError, match=r"^FusedBatchNorm\(6, num_dims=4\) expects 6 "
                       r"features/channels at dim 1"):
        FusedBatchNorm(6, num_dims=4)(torch.randn(2, 5, 8, 8))
    ops = fused.load()
    ones = torch.ones(3)
    with pytest.raises(RuntimeError, match=r"expects a 2-D \(N, C\) or 4-D \(N, C, H, W\) "
                       r"input; got 3-D"):
        ops.bn_forward(torch.randn(2, 3, 4), ones, ones, ones, ones, EPS, True)
    with pytest.raises(RuntimeError, match="computes in float32 or float64; got Half"):
        ops.bn_forward(torch.randn(2, 3).half(), ones, ones, ones, ones, EPS, True)


# --------------------------------------------------------------------------
# In a network
# --------------------------------------------------------------------------


def test_with_fused_layers_keeps_the_parameters_and_the_indices():
    net = lenet_bn()
    old = [net[i] for i in (1, 5, 10, 13)]
    keys = sorted(net.state_dict())
    fused_net = with_fused_layers(net)
    assert fused_net is net
    assert [type(m).__name__ for m in net] == [
        "Conv2d", "BatchNormSigmoidMaxPool2x2", "Identity", "Identity",
        "Conv2d", "BatchNormSigmoidMaxPool2x2", "Identity", "Identity",
        "Flatten", "Linear", "BatchNormSigmoid", "Identity",
        "Linear", "BatchNormSigmoid", "Identity", "Linear"]
    for i, m in zip((1, 5, 10, 13), old):
        assert net[i].gamma is m.gamma and net[i].beta is m.beta
        assert net[i].moving_mean is m.moving_mean and net[i].moving_var is m.moving_var
        assert (net[i].eps, net[i].momentum) == (m.eps, m.momentum)
    assert sorted(net.state_dict()) == keys
    # a second call finds nothing left to fuse
    assert [type(m) for m in with_fused_layers(net)] == [type(m) for m in net]


def test_with_fused_layers_leaves_other_layers_alone():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Sigmoid(), nn.MaxPool2d(2),
                        bnref.BatchNorm(2, num_dims=4), nn.ReLU(),
                        bnref.BatchNorm(2, num_dims=4), nn.Sigmoid(),  # no pooling after it
                        bnref.BatchNorm(2, num_dims=4), nn.Sigmoid(), nn.MaxPool2d(3))
    before = [type(m) for m in net]
    assert [type(m) for m in with_fused_layers(net)] == before


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_lenet_bn_fused_computes_lenet_bn(training):
    torch.manual_seed(0)
    net = lenet_bn().double()
    fast = with_fused_layers(copy.deepcopy(net))
    net.train(training)
    fast.train(training)
    X = torch.rand(16, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(fast(X), net(X), rtol=0, atol=1e-12)
    for a, b in zip(fast.buffers(), net.buffers()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_sgd_steps_match_lenet_bn():
    torch.manual_seed(0)
    net = lenet_bn()
    fast = with_fused_layers(copy.deepcopy(net))
    loss = nn.CrossEntropyLoss()
    X, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    for model in (net, fast):
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        for _ in range(3):
            opt.zero_grad()
            loss(model(X), y).backward()
            opt.step()
    for (name, a), b in zip(fast.named_parameters(), net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")


# --------------------------------------------------------------------------
# The other instruction sets
# --------------------------------------------------------------------------

_CHECK_IN_SUBPROCESS = """
import sys, torch, torch.nn.functional as F
import bnref
from bnref.speed import fused
if torch.backends.cpu.get_cpu_capability() != sys.argv[1]:
    print("unsupported"); sys.exit(0)
fused.load()
g = torch.Generator().manual_seed(0)
for shape in [(8, 3, 6, 34), (16, 16, 8, 8), (9, 120)]:
    X = (torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 1).requires_grad_()
    C = shape[1]
    gamma = (torch.rand(C, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    beta = torch.randn(C, generator=g, dtype=torch.float64, requires_grad=True)
    m, v = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    pool = len(shape) == 4
    fn = fused.batch_norm_sigmoid_max_pool2x2 if pool else fused.batch_norm_sigmoid
    y = fn(X, gamma, beta, m, v, 1e-5, 0.9, training=True)[0]
    Y = torch.sigmoid(bnref.batch_norm(X, gamma, beta, m, v, 1e-5, 0.9, training=True)[0])
    Y = F.max_pool2d(Y, 2, 2) if pool else Y
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(y, (X, gamma, beta), dy),
                    torch.autograd.grad(Y, (X, gamma, beta), dy)):
        assert (a - b).abs().max() < 1e-10, shape
    assert (y - Y).abs().max() < 1e-12, shape
    y = fused.batch_norm(X, gamma, beta, m, v, 1e-5, 0.9, training=True)[0]
    Y = bnref.batch_norm(X, gamma, beta, m, v, 1e-5, 0.9, training=True)[0]
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(y, (X, gamma, beta), dy),
                    torch.autograd.grad(Y, (X, gamma, beta), dy)):
        assert (a - b).abs().max() < 1e-10, shape
    assert (y - Y).abs().max() < 1e-12, shape
print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("capability", ["AVX2", "DEFAULT"])
def test_kernels_built_for_another_instruction_set_agree(capability):
    # PyTorch runs with the instruction set ATEN_CPU_CAPABILITY names (up to what the CPU
    # has), and bnref.speed.fused builds its kernels for the same one: each build is its own code
    import os
    import subprocess
    import sys

    if capability == torch.backends.cpu.get_cpu_capability():
        pytest.skip(f"{capability} is this process's instruction set: the other tests cover it")
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability.lower())
    done = subprocess.run([sys.executable, "-c", _CHECK_IN_SUBPROCESS, capability], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    if done.stdout.strip() == "unsupported":
        pytest.skip(f"this CPU does not run PyTorch's {capability} kernels")
    assert done.stdout.strip().splitlines()[-1] == "ok"
