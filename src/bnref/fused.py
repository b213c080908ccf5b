r"""Batch normalization fused with the sigmoid and the 2×2 max pooling that follow it,
and batch normalization alone, as C++ kernels.

In LeNet-BN every batch normalization is followed by a sigmoid, and after a
convolution by a 2×2 max pooling too. Run as three layers, they write three
tensors (:math:`y`, :math:`\sigma(y)`, the pooled values and their positions)
and the backward pass writes three more, each a separate pass over memory
and a separate operation to launch. This module computes each run of layers
in one C++ kernel forward and one backward (``fused.cpp``, built on first use
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
``bnref.fast.batch_norm``, ``torch.sigmoid`` and ``F.max_pool2d`` one after
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
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

from bnref._checks import check_batch_norm_args
from bnref.batch_norm import BatchNorm

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

    Raises ``RuntimeError`` with the compiler's message when the build fails.
    """
    from torch.utils import cpp_extension

    isa = torch.backends.cpu.get_cpu_capability()
    try:
        cpp_extension.load(
            name=f"bnref_fused_{isa.lower()}", sources=[str(SOURCE)],
            extra_cflags=["-O3", "-fopenmp", *_ISA_FLAGS.get(isa, [])],
            extra_ldflags=["-fopenmp"], is_python_module=False, verbose=False)
    except (RuntimeError, OSError) as e:
        raise RuntimeError(
            f"bnref.fused could not build its kernels from {SOURCE}: it needs a C++ compiler "
            f"(g++), ninja and Python's headers (`bash .ci/setup` installs them on Debian). "
            f"The build said: {e}") from e
    return torch.ops.bnref_fused


def _uses_kernel(X: torch.Tensor, pool: bool) -> bool:
    """Whether the C++ kernel computes this call (else: the composed PyTorch operations)."""
    return (X.device.type == "cpu" and not torch.compiler.is_compiling()
            and (not pool or (X.shape[2] % 2 == 0 and X.shape[3] % 2 == 0)))


class _BatchNormSigmoidPool(torch.autograd.Function):
    """``sigmoid(max_pool2d(a x + b, 2, 2))`` forward and its backward, by the kernels."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean_in, var_in, eps, training):
        out, idx, xsel, mean, var = load().bn_sigmoid_pool_forward(x, gamma, beta, mean_in,
                                                                   var_in, eps, training)
        ctx.save_for_backward(out, idx, xsel, x, gamma, beta, mean, var)
        ctx.eps, ctx.training = eps, training
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)
        return out, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, _dmean, _dvar):
        if dout is None:
            return None, None, None, None, None, None, None
        out, idx, xsel, x, gamma, beta, mean, var = ctx.saved_tensors
        dx, dgamma, dbeta = load().bn_sigmoid_pool_backward(
            dout, out, idx, xsel, x, gamma, beta, mean, var, ctx.eps, ctx.training)
        return dx, dgamma, dbeta, None, None, None, None


class _BatchNormSigmoid(torch.autograd.Function):
    """``sigmoid(a x + b)`` for ``(N, C)`` forward and its backward, by the kernels."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean_in, var_in, eps, training):
        out, mean, var = load().bn_sigmoid_forward(x, gamma, beta, mean_in, var_in, eps,
                                                   training)
        ctx.save_for_backward(out, x, gamma, beta, mean, var)
        ctx.eps, ctx.training = eps, training
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)
        return out, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, _dmean, _dvar):
        if dout is None:
            return None, None, None, None, None, None, None
        out, x, gamma, beta, mean, var = ctx.saved_tensors
        dx, dgamma, dbeta = load().bn_sigmoid_backward(dout, out, x, gamma, beta, mean, var,
                                                       ctx.eps, ctx.training)
        return dx, dgamma, dbeta, None, None, None, None


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
    if training:
        with torch.no_grad():  # moving = momentum * moving + (1 - momentum) * batch statistic
            moving_mean = torch.lerp(mean.to(moving_mean.dtype).view(moving_mean.shape),
                                     moving_mean, momentum)
            moving_var = torch.lerp(var.to(moving_var.dtype).view(moving_var.shape),
                                    moving_var, momentum)
    return Y.to(X.dtype), moving_mean.detach(), moving_var.detach()


def batch_norm_sigmoid_max_pool2x2(
    X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
    moving_var: torch.Tensor, eps: float, momentum: float, *, training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``max_pool2d(sigmoid(batch_norm(X)), 2, 2)`` for ``(N, C, H, W)`` input, in one kernel.

    .. math::

        \text{out}_{ij} = \sigma\Big(\max_{(p,q)\in\text{window}_{ij}}
            \big(\gamma\,\tfrac{x_{pq}-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}+\beta\big)\Big)

    Arguments, checks and moving-statistics update as :func:`bnref.batch_norm`;
    returns ``(out, moving_mean, moving_var)`` with ``out`` of shape
    ``(N, C, H // 2, W // 2)``.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> from bnref import batch_norm
        >>> X = torch.randn(8, 3, 6, 6)
        >>> g, b, m, v = torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)
        >>> out, m2, v2 = batch_norm_sigmoid_max_pool2x2(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> Y, m1, v1 = batch_norm(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> out.shape, torch.allclose(out, F.max_pool2d(torch.sigmoid(Y), 2, 2), atol=1e-6)
        (torch.Size([8, 3, 3, 3]), True)
        >>> torch.allclose(m2, m1, atol=1e-6), torch.allclose(v2, v1, atol=1e-6)
        (True, True)
    """
    if training is None:
        training = torch.is_grad_enabled()
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    if X.dim() != 4:
        raise ValueError(f"batch_norm_sigmoid_max_pool2x2 expects (N, C, H, W) input; "
                         f"got shape {tuple(X.shape)}")
    if X.shape[2] < 2 or X.shape[3] < 2:
        raise ValueError(f"batch_norm_sigmoid_max_pool2x2 pools 2x2 windows: height and width "
                         f"must be at least 2; got shape {tuple(X.shape)}")
    if not _uses_kernel(X, pool=True):
        from bnref import fast

        Y, moving_mean, moving_var = fast.batch_norm(X, gamma, beta, moving_mean, moving_var,
                                                     eps, momentum, training=training)
        return F.max_pool2d(torch.sigmoid(Y), 2, 2), moving_mean, moving_var
    return _fused(_BatchNormSigmoidPool, X, gamma, beta, moving_mean, moving_var, eps,
                  momentum, training)


def batch_norm_sigmoid(
    X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
    moving_var: torch.Tensor, eps: float, momentum: float, *, training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``sigmoid(batch_norm(X))`` for ``(N, C)`` input, in one kernel.

    .. math::

        \text{out} = \sigma\Big(\gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}+\beta\Big)

    Arguments, checks and moving-statistics update as :func:`bnref.batch_norm`;
    returns ``(out, moving_mean, moving_var)``.

    Example:
        >>> import torch
        >>> from bnref import batch_norm
        >>> X = torch.randn(16, 5)
        >>> g, b, m, v = torch.ones(5), torch.zeros(5), torch.zeros(5), torch.ones(5)
        >>> out, _, _ = batch_norm_sigmoid(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> Y, _, _ = batch_norm(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> torch.allclose(out, torch.sigmoid(Y), atol=1e-6)
        True
    """
    if training is None:
        training = torch.is_grad_enabled()
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    if X.dim() != 2:
        raise ValueError(f"batch_norm_sigmoid expects (N, C) input; got shape {tuple(X.shape)}")
    if not _uses_kernel(X, pool=False):
        from bnref import fast

        Y, moving_mean, moving_var = fast.batch_norm(X, gamma, beta, moving_mean, moving_var,
                                                     eps, momentum, training=training)
        return torch.sigmoid(Y), moving_mean, moving_var
    return _fused(_BatchNormSigmoid, X, gamma, beta, moving_mean, moving_var, eps, momentum,
                  training)


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
    ``torch.compile`` it computes :func:`bnref.fast.batch_norm`. The backward
    cannot itself be differentiated (``once_differentiable``).

    Example:
        >>> import torch
        >>> from bnref import batch_norm as readable
        >>> X = torch.randn(8, 3, 5, 5)
        >>> g, b, m, v = torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)
        >>> Y, m2, v2 = batch_norm(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> Y1, m1, v1 = readable(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> torch.allclose(Y, Y1, atol=1e-5), torch.allclose(m2, m1), torch.allclose(v2, v1)
        (True, True, True)
    """
    if training is None:
        training = torch.is_grad_enabled()
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    if not _uses_kernel(X, pool=False):
        from bnref import fast

        return fast.batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training=training)
    return _fused(_BatchNorm, X, gamma, beta, moving_mean, moving_var, eps, momentum, training)


class FusedBatchNorm(BatchNorm):
    """A drop-in :class:`bnref.BatchNorm` whose forward is :func:`batch_norm` (the C++ kernels).

    Example:
        >>> bn = FusedBatchNorm(6, num_dims=4)
        >>> bn(torch.randn(4, 6, 10, 10)).shape, sorted(bn.state_dict())
        (torch.Size([4, 6, 10, 10]), ['beta', 'gamma', 'moving_mean', 'moving_var'])
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self._check_input(X)
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var,
            eps=self.eps, momentum=self.momentum, training=self.training)
        return Y


class _FusedLayer(BatchNorm):
    """A :class:`bnref.BatchNorm` whose forward is ``_function`` (the layers after it
    included); its input has ``_num_dims`` dimensions."""

    _num_dims: int

    @staticmethod
    def _function(X, gamma, beta, moving_mean, moving_var, eps, momentum, *, training):
        raise NotImplementedError

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.9) -> None:
        super().__init__(num_features, num_dims=self._num_dims, eps=eps, momentum=momentum)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self._check_input(X)
        Y, self.moving_mean, self.moving_var = self._function(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var,
            eps=self.eps, momentum=self.momentum, training=self.training)
        return Y

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNormSigmoidMaxPool2x2(_FusedLayer):
    """``BatchNorm(C, num_dims=4)``, ``nn.Sigmoid()``, ``nn.MaxPool2d(2, 2)`` as one layer.

    A :class:`bnref.BatchNorm` (parameters ``gamma``, ``beta`` of shape
    ``(1, C, 1, 1)``, buffers ``moving_mean``, ``moving_var``) whose forward
    is :func:`batch_norm_sigmoid_max_pool2x2`.

    Example:
        >>> layer = BatchNormSigmoidMaxPool2x2(6)
        >>> layer(torch.randn(4, 6, 24, 24)).shape, sorted(layer.state_dict())
        (torch.Size([4, 6, 12, 12]), ['beta', 'gamma', 'moving_mean', 'moving_var'])
    """

    _num_dims = 4
    _function = staticmethod(batch_norm_sigmoid_max_pool2x2)


class BatchNormSigmoid(_FusedLayer):
    """``BatchNorm(C, num_dims=2)`` and ``nn.Sigmoid()`` as one layer.

    A :class:`bnref.BatchNorm` (parameters ``gamma``, ``beta`` of shape
    ``(1, C)``, buffers ``moving_mean``, ``moving_var``) whose forward is
    :func:`batch_norm_sigmoid`.

    Example:
        >>> layer = BatchNormSigmoid(120)
        >>> layer(torch.randn(4, 120)).shape
        torch.Size([4, 120])
    """

    _num_dims = 2
    _function = staticmethod(batch_norm_sigmoid)


def _is_max_pool2x2(m: nn.Module) -> bool:
    """``nn.MaxPool2d(kernel_size=2, stride=2)``: no padding, dilation 1, no extras."""
    return (isinstance(m, nn.MaxPool2d) and _pair(m.kernel_size) == (2, 2)
            and _pair(m.stride) == (2, 2) and _pair(m.padding) == (0, 0)
            and _pair(m.dilation) == (1, 1) and not m.ceil_mode and not m.return_indices)


def with_fused_layers(net: nn.Sequential) -> nn.Sequential:
    """Replace, in place, each ``BatchNorm → nn.Sigmoid`` of ``net`` (and the
    ``nn.MaxPool2d(2, 2)`` after a 4-D one) by one fused layer, and return ``net``.

    The BatchNorm layers are :class:`bnref.BatchNorm` and its subclasses (the
    note's class and ``nn.BatchNorm2d`` keep their own conventions and are
    left alone). The fused layer takes over the old layer's parameters and
    moving statistics (the same tensors, so an optimizer built on them still
    updates them), and ``nn.Identity()`` fills the places of the sigmoid and
    the pooling: ``net[1]`` is still the first BatchNorm, and ``state_dict``
    has the same keys.

    Example:
        >>> from bnref.models import lenet_bn
        >>> net = with_fused_layers(lenet_bn())
        >>> tuple(type(m).__name__ for m in net[:4])
        ('Conv2d', 'BatchNormSigmoidMaxPool2x2', 'Identity', 'Identity')
        >>> type(net[10]).__name__, type(net[11]).__name__, net[1].gamma.shape
        ('BatchNormSigmoid', 'Identity', torch.Size([1, 6, 1, 1]))
    """
    layers = list(net)
    for i, m in enumerate(layers):
        if (not isinstance(m, BatchNorm) or isinstance(m, _FusedLayer)
                or i + 1 >= len(layers) or type(layers[i + 1]) is not nn.Sigmoid):
            continue
        pool = m.num_dims == 4 and i + 2 < len(layers) and _is_max_pool2x2(layers[i + 2])
        if m.num_dims == 4 and not pool:
            continue  # a 4-D BatchNorm and sigmoid without the pooling: no kernel for it
        cls = BatchNormSigmoidMaxPool2x2 if pool else BatchNormSigmoid
        fused = cls(m.num_features, eps=m.eps, momentum=m.momentum)
        fused.gamma, fused.beta = m.gamma, m.beta
        fused.moving_mean, fused.moving_var = m.moving_mean, m.moving_var
        net[i] = fused
        for j in range(i + 1, i + (3 if pool else 2)):
            net[j] = nn.Identity()
            layers[j] = net[j]
    return net
