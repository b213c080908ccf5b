"""bnref.models.ReproducibleDropout: dropout whose masks the seed fixes on every CPU.

``nn.Dropout`` draws its masks with MKL's generator on Intel CPUs, so a run
with dropout is not the same run on two machines; ReproducibleDropout draws
them with PyTorch's own generator (one float64 uniform per element, in
order), whatever the threads and the kernels, and is otherwise ``nn.Dropout``:
the same scaling, the same gradient, the same bits where PyTorch draws
``nn.Dropout``'s masks itself. The dropout experiment (python -m bnref
dropout) and its replay rely on it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from bnref.experiments.harness import record

pytestmark = pytest.mark.usefixtures("one_thread")


def test_dropout_masks_are_fixed_by_the_seed_whatever_the_threads_and_kernels():
    from bnref.models import ReproducibleDropout

    def mask(threads):
        torch.set_num_threads(threads)
        torch.manual_seed(3)
        return "".join("1" if v else "0" for v in
                       (ReproducibleDropout(0.5)(torch.ones(256, 120)) > 0).flatten().tolist())

    one, two = mask(1), mask(2)
    torch.set_num_threads(1)
    code = ("import torch; from bnref.models import ReproducibleDropout; "
            "torch.set_num_threads(1); torch.manual_seed(3); "
            "m = ReproducibleDropout(0.5)(torch.ones(256, 120)); "
            "print(''.join('1' if v else '0' for v in (m > 0).flatten().tolist()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "ATEN_CPU_CAPABILITY": "default",
                                           "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"})
    assert one == two == done.stdout.strip()
    assert 0.45 < one.count("1") / len(one) < 0.55
    # the draw PyTorch's own Bernoulli kernel makes (the tensor-probability kernel, which has
    # no MKL path on any CPU): one float64 uniform per element, in order
    torch.manual_seed(3)
    theirs = torch.bernoulli(torch.full((256, 120), 0.5, dtype=torch.float64))
    assert one == "".join("1" if v else "0" for v in (theirs > 0).flatten().tolist())


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_reproducible_dropout_scales_and_backpropagates_as_nn_dropout(p):
    from bnref.models import ReproducibleDropout

    X = torch.randn(64, 30, requires_grad=True)
    torch.manual_seed(0)
    Y = ReproducibleDropout(p)(X)
    kept = Y != 0
    scale = torch.ones(()).div_(1 - p)  # 1 / (1 - p) in float32, as nn.Dropout scales
    assert torch.equal(Y[kept], X[kept] * scale)
    Y.sum().backward()
    assert torch.equal(X.grad, kept.float() * scale)
    assert torch.equal(ReproducibleDropout(p).eval()(X), X)
    assert torch.equal(ReproducibleDropout(1.0)(X), torch.zeros_like(X))
    assert isinstance(ReproducibleDropout(p), nn.Dropout)


@pytest.mark.skipif(record.cpu_name().startswith("Intel"),
                    reason="on an Intel CPU nn.Dropout draws its masks with MKL's generator "
                    "(bernoulli_scalar_kernel, aten/src/ATen/native/cpu/DistributionKernels.cpp), "
                    "so its masks are not ReproducibleDropout's there, by design")
def test_reproducible_dropout_is_nn_dropout_bit_for_bit_where_pytorch_draws_the_masks():
    """Where nn.Dropout uses PyTorch's own generator (every CPU but Intel's), both layers give
    the same outputs and gradients and leave the generator in the same state: the dropout
    results made with nn.Dropout on such a CPU are what ReproducibleDropout gives anywhere."""
    from bnref.models import ReproducibleDropout

    X, dY = torch.randn(256, 120), torch.randn(256, 120)
    for p in (0.1, 0.3, 0.5):
        outs = []
        for layer in (nn.Dropout(p), ReproducibleDropout(p)):
            x = X.clone().requires_grad_()
            torch.manual_seed(7)
            Y = layer(x)
            (Y * dY).sum().backward()
            outs.append((Y, x.grad, torch.rand(3)))
        assert all(torch.equal(a, b) for a, b in zip(*outs)), p
