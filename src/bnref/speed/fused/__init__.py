r"""Batch normalization fused with the sigmoid and the 2×2 max pooling that follow it,
and batch normalization alone, as C++ kernels.

In LeNet-BN every batch normalization is followed by a sigmoid, and after a
convolution by a 2×2 max pooling too. Run as three layers, they write three
tensors (:math:`y`, :math:`\sigma(y)`, the pooled values and their positions)
and the backward pass writes three more, each a separate pass over memory
and a separate operation to launch. This module computes each run of layers
in one C++ kernel forward and one backward (``fused.cpp`` beside this file, built on first use
with ``torch.utils.cpp_extension``).

**Forward, training**, per channel, over its :math:`M` values: the batch
mean and variance from one pass of shifted sums (:math:`d = x - K`, with
:math:`K` the channel's first value, so that what cancels in
:math:`\overline{d^2}-\bar d^{\,2}` is :math:`\hat\mu-K`, not the mean),
then :math:`a = \gamma/\sqrt{\hat\sigma^2+\epsilon}`, :math:`b = \beta - a\hat\mu` and

.. math::

    \text{(N, C, H, W):}\quad
    \text{out}_{ij} = \sigma\Big(\max_{(p,q)\in\text{window}_{ij}} (a\,x_{pq} + b)\Big),
    \qquad
    \text{(N, C):}\quad \text{out} = \sigma(a\,x + b) .

The sigmoid is increasing, so pooling before it gives the values of pooling
after it, and only a quarter of the values go through it. The kernel writes
the pooled output, per window which of its four positions held the maximum
(one byte), chosen by ``nn.MaxPool2d``'s rule (the first maximum in
row-major order; a NaN wins), and the input :math:`x` at that position. The
normalized :math:`a x + b` never reaches memory.

**Backward**, with :math:`s` the saved output,
:math:`dz = \partial\ell/\partial\text{out}\cdot s(1-s)` at the window's
maximum and :math:`0` at its other three positions (for (N, C): everywhere),
:math:`\hat x = (x-\hat\mu)/\sqrt{\hat\sigma^2+\epsilon}`:

.. math::

    \frac{\partial\ell}{\partial\gamma} = \sum dz\,\hat x,\qquad
    \frac{\partial\ell}{\partial\beta} = \sum dz,\qquad
    \frac{\partial\ell}{\partial x} = a\Big(dz - \frac{1}{M}\sum dz
        - \frac{\hat x}{M}\sum dz\,\hat x\Big),

one pass for the two sums (over the saved inputs at the maxima, a quarter of
the values) and one that writes
:math:`\partial\ell/\partial x = a\,dz + B x + C` with per-channel :math:`B, C`.
In evaluation mode the statistics are constants and
:math:`\partial\ell/\partial x = a\,dz`.

**Batch normalization alone** (:func:`batch_norm`, :class:`FusedBatchNorm`)
is the same computation with no layer after it: :math:`y = a x + b`
forward, :math:`\partial\ell/\partial x = a\,dy + Bx + C` backward, for
``(N, C)`` and ``(N, C, H, W)`` input. Each direction reads its inputs twice
(the sums, then the output) and writes one full-size tensor.

:class:`BatchNormSigmoidMaxPool2x2` and :class:`BatchNormSigmoid` are
:class:`bnref.BatchNorm` layers (same parameters, buffers, ``state_dict``
keys, checks and d2l momentum) whose forward includes the layers after them;
:func:`with_fused_layers` swaps them into a network and leaves
``nn.Identity`` in the places of the layers they absorbed, so that indices
such as ``net[1].gamma`` keep working. The kernels run on the CPU in float32
and float64 (half precision is computed in float32). On other devices, under
``torch.compile`` and for odd heights or widths, the same layers compute
``bnref.speed.fast.batch_norm``, ``torch.sigmoid`` and ``F.max_pool2d`` one after
the other.

The first use on a machine compiles ``fused.cpp`` (about 15 s; a C++
compiler, ``ninja`` and Python's headers are needed, and ``bash .ci/setup``
installs them) with the instruction set PyTorch uses on that CPU; later
processes load the cached library from ``TORCH_EXTENSIONS_DIR`` (default
``~/.cache/torch_extensions``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import moving_average, resolve_training
from bnref.norm.batch_norm import BatchNorm

__all__ = ["BatchNormSigmoid", "BatchNormSigmoidMaxPool2x2", "FusedBatchNorm", "batch_norm",
           "batch_norm_sigmoid", "batch_norm_sigmoid_max_pool2x2", "load", "with_fused_layers",
           "SOURCE"]

#: the kernels' C++ source, beside this file
SOURCE = Path(__file__).with_name("fused.cpp")

#: compiler flags per instruction set, as ``torch.backends.cpu.get_cpu_capability()`` names
#: it: the kernels are built for the vector instructions PyTorch's own kernels use here
_ISA_FLAGS = {
    "AVX512": ["-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512",
               "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma"],
    "AVX2": ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma"],
}


@functools.cache
def load():
    """Build (once per machine) and load the fused kernels; returns ``torch.ops.bnref_fused``.

    The build is named by the instruction set and a hash of the source and of the torch
    installation it compiles against, and compiles a copy of the source kept beside it in
    torch's extension cache: every copy of bnref with the same ``fused.cpp`` under the same
    torch (a checkout, ``pip install``, a test's temporary install) loads one build, and a
    changed source or another virtual environment gets a build of its own. (Built from each
    copy's own path, or against another torch, the same name would be rebuilt whenever the
    other one had loaded it.)

    Raises ``RuntimeError`` with the compiler's message when the build fails.
    """
    import hashlib

    from torch.utils import cpp_extension

    isa = torch.backends.cpu.get_cpu_capability()
    code = SOURCE.read_bytes()
    # the source, and the torch it builds against (its headers and libraries: one build per
    # installation of torch, e.g. per virtual environment, sharing one extension cache)
    key = hashlib.sha256(code + str(Path(torch.__file__).parent).encode()).hexdigest()[:12]
    name = f"bnref_fused_{isa.lower()}_{key}"
    source = Path(cpp_extension._get_build_directory(name, verbose=False)) / SOURCE.name
    if not source.is_file() or source.read_bytes() != code:
        tmp = source.with_suffix(".cpp.tmp")
        tmp.write_bytes(code)
        tmp.replace(source)  # atomic: a process building beside this one sees all or nothing
    try:
        cpp_extension.load(
            name=name, sources=[str(source)],
            extra_cflags=["-O3", "-fopenmp", *_ISA_FLAGS.get(isa, [])],
            extra_ldflags=["-fopenmp"], is_python_module=False, verbose=False)
    except (RuntimeError, OSError) as e:
        raise RuntimeError(
            f"bnref.speed.fused could not build its kernels from {SOURCE}: it needs a C++ compiler "
            f"(g++), ninja and Python's headers (`bash .ci/setup` installs them on Debian). "
            f"The build said: {e}") from e
    return torch.ops.bnref_fused


def _uses_kernel(X: torch.Tensor, pool: bool) -> bool:
    """Whether the C++ kernel computes this call (else: the composed PyTorch operations)."""
    return (X.device.type == "cpu" and not torch.compiler.is_compiling()
            and (not pool or (X.shape[2] % 2 == 0 and X.shape[3] % 2 == 0)))


class _BatchNorm(torch.autograd.Function):
    """``a x + b`` (batch normalization alone) forward and its backward, by the kernels."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean_in, var_in, eps, training):
        y, mean, var = load().bn_forward(x, gamma, beta, mean_in, var_in, eps, training)
        ctx.save_for_backward(x, gamma, beta, mean, var)
        ctx.eps, ctx.training = eps, training
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _dmean, _dvar):
        if dy is None:
            return None, None, None, None, None, None, None
        x, gamma, beta, mean, var = ctx.saved_tensors
        dx, dgamma, dbeta = load().bn_backward(dy, x, gamma, beta, mean, var, ctx.eps,
                                               ctx.training)
        return dx, dgamma, dbeta, None, None, None, None


def _fused(function, X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """Run ``function`` in the compute dtype and update the moving statistics (d2l convention)."""
    dtype = torch.promote_types(X.dtype, torch.float32)
    C = X.shape[1]
    Y, mean, var = function.apply(
        X.to(dtype).contiguous(), gamma.reshape(C).to(dtype), beta.reshape(C).to(dtype),
        moving_mean.reshape(C), moving_var.reshape(C), float(eps), bool(training))
    if training:  # moving = momentum * moving + (1 - momentum) * batch statistic
        moving_mean = moving_average(moving_mean, mean, momentum)
        moving_var = moving_average(moving_var, var, momentum)
    return Y.to(X.dtype), moving_mean.detach(), moving_var.detach()


def batch_norm(
    X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
    moving_var: torch.Tensor, eps: float, momentum: float, *, training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Batch normalization alone, ``(N, C)`` or ``(N, C, H, W)``, in one C++ kernel each way.

    .. math::

        y = a\,x + b,\qquad a = \frac{\gamma}{\sqrt{\hat\sigma^2+\epsilon}},\quad
        b = \beta - a\hat\mu

    The statistics come from one pass of shifted sums, the output from a
    second pass; the backward pass reads ``dY`` and ``X`` once for its two
    sums and once more to write ``dX``. Arguments, checks, conventions and
    return value as :func:`bnref.batch_norm`. On other devices and under
    ``torch.compile`` it computes :func:`bnref.speed.fast.batch_norm`. The backward
    cannot itself be differentiated (``once_differentiable``).

    Examples:
        >>> import torch
        >>> from bnref import batch_norm as readable
        >>> X = torch.randn(8, 3, 5, 5)
        >>> g, b, m, v = torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)
        >>> Y, m2, v2 = batch_norm(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> Y1, m1, v1 = readable(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> torch.allclose(Y, Y1, atol=1e-5), torch.allclose(m2, m1), torch.allclose(v2, v1)
        (True, True, True)
    """
    training = resolve_training(training)
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    if not _uses_kernel(X, pool=False):
        from bnref.speed import fast

        return fast.batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training=training)
    return _fused(_BatchNorm, X, gamma, beta, moving_mean, moving_var, eps, momentum, training)


class FusedBatchNorm(BatchNorm):
    """A drop-in :class:`bnref.BatchNorm` whose forward is :func:`batch_norm` (the C++ kernels).

    Examples:
        >>> bn = FusedBatchNorm(6, num_dims=4)
        >>> bn(torch.randn(4, 6, 10, 10)).shape, sorted(bn.state_dict())
        (torch.Size([4, 6, 10, 10]), ['beta', 'gamma', 'moving_mean', 'moving_var'])
    """

    function = staticmethod(batch_norm)


# The layers that fuse the sigmoid (and the pooling) after batch normalization.
from bnref.speed.fused.layers import (  # noqa: E402  (they use load and _fused above)
    BatchNormSigmoid, BatchNormSigmoidMaxPool2x2, batch_norm_sigmoid,
    batch_norm_sigmoid_max_pool2x2, with_fused_layers,
)
