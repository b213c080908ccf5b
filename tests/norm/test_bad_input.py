"""Bad input to bnref.batch_norm / bnref.BatchNorm: each case fails with a message that
says what was expected and what was given. NaN/inf input behaves as in torch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bnref


def call(X, C=None, *, eps=1e-5, momentum=0.9, training=True, gamma=None, beta=None):
    C = X.shape[1] if C is None else C
    gamma = torch.ones(C) if gamma is None else gamma
    beta = torch.zeros(C) if beta is None else beta
    return bnref.batch_norm(X, gamma, beta, torch.zeros(C), torch.ones(C), eps=eps,
                            momentum=momentum, training=training)


def test_wrong_number_of_dimensions_for_num_dims():
    with pytest.raises(ValueError, match=r"BatchNorm\(num_dims=4\) expects \(N, C, H, W\) "
                       r"input with 4 dimensions; got shape \(2, 3\) \(2 dimensions\)"):
        bnref.BatchNorm(3, num_dims=4)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"expects \(N, C\) input with 2 dimensions; "
                       r"got shape \(2, 3, 4, 4\)"):
        bnref.BatchNorm(3, num_dims=2)(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"batch_norm expects a 2-D input \(N, C\) .* or a "
                       r"4-D input \(N, C, H, W\) .*; got shape \(2, 3, 4\) \(3 dimensions\)"):
        call(torch.randn(2, 3, 4))


def test_channel_count_that_does_not_match():
    with pytest.raises(ValueError, match=r"BatchNorm\(3, num_dims=4\) expects 3 features/"
                       r"channels at dim 1; got shape \(2, 5, 4, 4\) with 5"):
        bnref.BatchNorm(3, num_dims=4)(torch.randn(2, 5, 4, 4))
    with pytest.raises(ValueError, match=r"gamma must have shape \(5,\) or \(1, 5\) to match "
                       r"X of shape \(2, 5\); got shape \(3,\)"):
        call(torch.randn(2, 5), gamma=torch.ones(3))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_one_value_per_channel_in_training(shape):
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm2d(3)(torch.randn(1, 3, 1, 1)) if len(shape) == 4 else \
            nn.BatchNorm1d(3)(torch.randn(1, 3))  # torch refuses too
    bn = bnref.BatchNorm(3, num_dims=len(shape))
    with pytest.raises(ValueError, match=r"more than one value per channel to compute a "
                       rf"variance; got input of shape \({shape[0]}, 3.*\) \(N\*H\*W = 1\)"):
        bn(torch.randn(shape))
    bn.eval()
    assert bn(torch.randn(shape)).shape == shape  # evaluation mode accepts it, as torch does


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_non_floating_dtype(dtype):
    X = torch.ones(4, 3, dtype=dtype)
    with pytest.raises(TypeError, match=rf"X must be a floating-point tensor \(float16, "
                       rf"bfloat16, float32 or float64\); got dtype {dtype}\. Convert it first"):
        bnref.BatchNorm(3, num_dims=2)(X)
    with pytest.raises(TypeError, match="X must be a torch.Tensor; got list"):
        call([[1.0, 2.0]], C=2)


@pytest.mark.parametrize("eps", [0, -1e-5, float("nan"), float("inf")])
def test_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match=rf"eps must be a finite number > 0; got eps={eps!r}"):
        bnref.BatchNorm(3, num_dims=2, eps=eps)
    with pytest.raises(ValueError, match=r"eps must be a finite number > 0"):
        call(torch.randn(4, 3), eps=eps)


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
def test_momentum_outside_unit_interval(momentum):
    msg = (r"momentum must be a number in \[0, 1\] \(the note's convention, as in the Chinese "
           rf"edition of d2l: the weight of the old moving statistic, e.g. 0.9; .*\); "
           rf"got momentum={momentum!r}")
    with pytest.raises(ValueError, match=msg):
        bnref.BatchNorm(3, num_dims=2, momentum=momentum)
    with pytest.raises(ValueError, match=msg):
        call(torch.randn(4, 3), momentum=momentum)


@pytest.mark.parametrize("num_dims", [1, 3, 5, "4"])
def test_num_dims_other_than_2_or_4(num_dims):
    with pytest.raises(ValueError, match=r"num_dims must be 2 \(fully connected, input "
                       rf"\(N, C\)\) or 4 \(convolution, input \(N, C, H, W\)\); "
                       rf"got num_dims={num_dims!r}"):
        bnref.BatchNorm(3, num_dims=num_dims)


def test_gamma_beta_of_the_wrong_shape():
    X = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\) or \(1, 3, 1, 1\) to "
                       r"match X of shape \(2, 3, 4, 4\); got shape \(1, 3\)"):
        call(X, gamma=torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"beta must have shape .*; got shape \(3, 1\)"):
        call(X, beta=torch.zeros(3, 1))


def test_input_and_parameters_on_different_devices():
    # No GPU here: the meta device stands in for "another device".
    X = torch.randn(4, 3)
    with pytest.raises(RuntimeError, match=r"gamma is on meta but X is on cpu; move them to "
                       r"one device, e.g. module.to\(X.device\)"):
        call(X, gamma=torch.ones(3, device="meta"))
    bn = bnref.BatchNorm(3, num_dims=2).to("meta")
    with pytest.raises(RuntimeError, match="gamma is on meta but X is on cpu"):
        bn(X)


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4, 4), (2, 3, 0, 4)])
def test_empty_batch(shape):
    with pytest.raises(ValueError, match=r"batch_norm expects at least one value per channel; "
                       rf"got an empty input of shape \({shape[0]}, 3"):
        bnref.BatchNorm(3, num_dims=len(shape))(torch.randn(shape))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("training", [True, False])
def test_nan_and_inf_propagate_as_in_torch(bad, training):
    """No error: a NaN/inf value spoils what torch's batch norm spoils, and nothing else."""
    torch.manual_seed(0)
    X = torch.randn(4, 3, 2, 2)
    X[1, 0, 0, 1] = bad
    ours = bnref.BatchNorm(3, num_dims=4).train(training)
    theirs = nn.BatchNorm2d(3).train(training)
    Y, Yt = ours(X), theirs(X)
    assert torch.equal(Y.isnan(), Yt.isnan()) and torch.equal(Y.isinf(), Yt.isinf())
    assert torch.allclose(Y, Yt, atol=1e-5, equal_nan=True)
    assert torch.allclose(ours.moving_mean.reshape(-1), theirs.running_mean, equal_nan=True)
    if training:  # channel 0's statistics are spoilt, the other channels are not
        assert Y[:, 0].isnan().all() and Y[:, 1:].isfinite().all()
        assert ours.moving_var.reshape(-1)[0].isnan()
    else:  # evaluation: only the bad element itself is not finite
        assert (~Y.isfinite()).sum() == 1 and not Y[1, 0, 0, 1].isfinite()
