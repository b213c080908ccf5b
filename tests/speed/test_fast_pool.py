"""bnref.speed.pool: 2x2 max pooling held to F.max_pool2d, values, indices and gradients."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnref.speed.pool import MaxPool2x2, _maxima_and_indices, max_pool2x2, with_max_pool2x2
from bnref.models import lenet, lenet_bn


def inputs(kind: str, shape=(16, 6, 24, 24), dtype=torch.float32, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        return torch.randn(shape, generator=g, dtype=dtype)
    if kind == "ties":  # three values only: most windows hold equal maxima
        return torch.randint(0, 3, shape, generator=g).to(dtype)
    if kind == "blank":  # LeNet's case: one value over most of the image
        x = torch.zeros(shape, dtype=dtype)
        h, w = shape[-2] // 4, shape[-1] // 4
        x[..., h:3 * h, w:3 * w] = torch.randn(shape[:-2] + (2 * h, 2 * w), generator=g,
                                               dtype=dtype)
        return x
    raise ValueError(kind)


def check_against_torch(x: torch.Tensor) -> None:
    """Values, and the gradient for a random upstream gradient, equal F.max_pool2d's."""
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    y1, y2 = max_pool2x2(x1), F.max_pool2d(x2, 2, 2)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0, equal_nan=True)
    dy = torch.randn(y2.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    y1.backward(dy)
    y2.backward(dy)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["random", "ties", "blank"])
@pytest.mark.parametrize("shape", [(16, 6, 24, 24), (16, 16, 8, 8), (2, 3, 2, 6)])
def test_values_and_gradients_equal_torch(kind, shape):
    check_against_torch(inputs(kind, shape))


@pytest.mark.parametrize("seed", range(5))
def test_indices_equal_torch_with_ties(seed):
    x = inputs("ties", (8, 4, 10, 12), seed=seed)
    y, idx = _maxima_and_indices(x)
    y_ref, idx_ref = F.max_pool2d(x, 2, 2, return_indices=True)
    assert torch.equal(y, y_ref)
    assert torch.equal(idx, idx_ref)


def test_first_maximum_in_row_major_order():
    # each window's maximum 1 sits at the positions marked; PyTorch keeps the first
    windows = [[[1, 0], [0, 0]], [[0, 1], [1, 0]], [[0, 0], [1, 1]], [[0, 0], [0, 1]],
               [[1, 1], [1, 1]], [[0, 1], [0, 1]]]
    x = torch.cat([torch.tensor(w, dtype=torch.float32) for w in windows], dim=1)[None, None]
    _, idx = _maxima_and_indices(x)
    W = x.shape[-1]
    assert idx.flatten().tolist() == [0, 3, W + 4, W + 7, 8, 11]
    assert torch.equal(idx, F.max_pool2d(x, 2, 2, return_indices=True)[1])


@pytest.mark.parametrize("special", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_left_to_torch(special):
    x = inputs("ties", (4, 3, 6, 6))
    x[0, 0, 1, 1] = special
    x[2, 1, 4, 5] = special
    check_against_torch(x)


@pytest.mark.parametrize("shape", [(4, 3, 7, 6), (4, 3, 6, 9), (3, 6, 6)])
def test_other_shapes_are_left_to_torch(shape):
    check_against_torch(inputs("random", shape))


def test_too_small_input_gets_torchs_error():
    with pytest.raises(RuntimeError, match="Output size is too small"):
        max_pool2x2(torch.randn(4, 3, 1, 1))


def test_non_contiguous_and_float64():
    big = inputs("ties", (8, 6, 24, 24), dtype=torch.float64)
    check_against_torch(big[::2, 1:5])
    check_against_torch(big.transpose(2, 3))


def test_without_grad_only_maxima():
    x = inputs("blank", (8, 6, 24, 24))
    with torch.no_grad():
        y = max_pool2x2(x)
    assert y.grad_fn is None and torch.equal(y, F.max_pool2d(x, 2, 2))
    x.requires_grad_()
    with torch.no_grad():
        assert torch.equal(max_pool2x2(x), F.max_pool2d(x, 2, 2))


def test_gradcheck_in_double():
    x = torch.randn(2, 3, 6, 8, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(max_pool2x2, (x,))


def test_module_and_swap():
    assert repr(MaxPool2x2()) == "MaxPool2x2(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    net = nn.Sequential(nn.MaxPool2d(2, 2), nn.MaxPool2d(2), nn.MaxPool2d(3, 2),
                        nn.MaxPool2d(2, 2, padding=1), nn.MaxPool2d(2, 2, ceil_mode=True),
                        nn.AvgPool2d(2, 2))
    swapped = [type(m).__name__ for m in with_max_pool2x2(net)]
    assert swapped == ["MaxPool2x2", "MaxPool2x2", "MaxPool2d", "MaxPool2d", "MaxPool2d",
                       "AvgPool2d"]
    # LeNet pools by averaging: nothing to swap
    assert not any(isinstance(m, MaxPool2x2) for m in with_max_pool2x2(lenet()))


def test_lenet_bn_training_step_is_unchanged():
    # one SGD step on a blank-background batch, with and without the swap: the
    # same loss and the same parameters afterwards, bit for bit
    torch.manual_seed(0)
    net = lenet_bn()
    fast = with_max_pool2x2(copy.deepcopy(net))
    x = inputs("blank", (32, 1, 28, 28))
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(2))
    losses = []
    for model in (net, fast):
        opt = torch.optim.SGD(model.parameters(), lr=0.9)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == losses[1]
    for p, q in zip(net.parameters(), fast.parameters()):
        assert torch.equal(p, q)
