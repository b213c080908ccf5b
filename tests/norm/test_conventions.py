"""Moving between the two momentum conventions (bnref.convert): N steps under one give the
other's moving statistics after the conversion.

The note's layer (momentum 0.9 weighs the old value, biased batch variance) and PyTorch's
(momentum 0.1 weighs the new batch, unbiased batch variance) see the same batches: the
moving means agree as they are, the moving variances after ``unbiased_moving_var`` /
``biased_running_var``; on a linear layer's (N, C) input and a convolution's (N, C, H, W).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bnref
from bnref.convert import biased_running_var, convert_momentum, unbiased_moving_var


@pytest.mark.parametrize("shape", [(16, 5), (8, 3, 4, 4)])
@pytest.mark.parametrize("steps", [1, 7, 60])
def test_n_steps_under_one_convention_give_the_others_statistics_after_conversion(shape, steps):
    g = torch.Generator().manual_seed(steps)
    C = shape[1]
    ours = bnref.BatchNorm(C, num_dims=len(shape), momentum=0.9)
    theirs = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(
        C, momentum=convert_momentum(0.9)).double()
    ours = ours.double()
    for _ in range(steps):
        X = torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 1
        ours(X), theirs(X)
    n = shape[0] * (shape[2] * shape[3] if len(shape) == 4 else 1)
    mean, var = ours.moving_mean.reshape(-1), ours.moving_var.reshape(-1)
    torch.testing.assert_close(mean, theirs.running_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(unbiased_moving_var(var, n, steps=steps), theirs.running_var,
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(biased_running_var(theirs.running_var, n, steps=steps), var,
                               rtol=1e-12, atol=1e-12)
    # without the conversion they differ, by up to n / (n - 1) once the start has decayed
    assert not torch.allclose(var, theirs.running_var, rtol=1e-6)


def test_with_steps_none_the_start_counts_as_decayed():
    # after many steps the ratio is n / (n - 1) exactly
    assert unbiased_moving_var(3.0, 4) == pytest.approx(4.0)
    assert biased_running_var(4.0, 4) == pytest.approx(3.0)
    assert unbiased_moving_var(1.0, 4, steps=0) == 1.0  # nothing mixed in yet


@pytest.mark.parametrize("n", [1, 0, 2.5, "4"])
def test_n_must_be_an_int_of_at_least_two(n):
    with pytest.raises(ValueError, match=f"must be an int >= 2; got {n!r}"):
        unbiased_moving_var(1.0, n)


def test_steps_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match="steps must be a non-negative int or None; got -1"):
        biased_running_var(1.0, 4, steps=-1)
