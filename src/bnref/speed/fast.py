r"""A fast batch normalization: single-pass statistics and the analytic backward.

:func:`bnref.batch_norm` lets autograd differentiate its formula, so every
intermediate (``x - mean``, ``x_hat``, ``gamma * x_hat``) is a fresh tensor as
large as the input, written once and read again in the backward pass. This
variant is one :class:`torch.autograd.Function` that touches the input as few
times as eager PyTorch allows:

* **forward, training** — per channel, the sum :math:`S_1=\sum x` and the sum
  of squares :math:`S_2=\sum x^2` (two reductions in one loop over ``x``), then

  .. math::

      \hat\mu = S_1/M,\qquad \hat\sigma^2 = S_2/M - \hat\mu^2,\qquad
      y = a\,x + b,\quad a = \gamma/\sqrt{\hat\sigma^2+\epsilon},\;
      b = \beta - a\hat\mu

  (``M`` values per channel; ``y`` is the only tensor as large as ``x`` that
  is written). Only ``x`` and per-channel numbers are saved for the backward.
* **backward, training** — per channel, :math:`\sum dy` and
  :math:`\sum dy\,x` (again two reductions in one loop), then

  .. math::

      dx = \frac{\gamma}{\sigma}\Big(dy - \overline{dy}
           - \hat x\,\overline{dy\,\hat x}\Big),\qquad
      d\gamma = \sum dy\,\hat x,\qquad d\beta = \sum dy,

  written as ``dx = a * dy + b * x + c`` with per-channel ``a, b, c``.

Eager PyTorch runs one operation at a time, and each reads its inputs from
memory and writes its output back. On the CPU this variant therefore walks a
large batch in slices of about 1 MB (:func:`batch_slices`): the reductions,
and the two or three operations that write a slice of ``y`` or ``dx``, run one
after the other on the same slice while it is still in cache, so that main
memory sees about one read of each input per loop and one write of each
output, as with a fused kernel. A batch of at most 4 MB is one slice: it stays
in the processor's last-level cache between operations anyway, and each
operation costs several microseconds before it touches any data, so a loop of
slices would only add operations.

For the same reason the code keeps the number of operations small: at the
shapes of LeNet's BatchNorm layers (from 84 KB to 3.5 MB) much of the time
goes to launching operations, not to moving data.

The price of single-pass statistics: :math:`S_2/M-\hat\mu^2` cancels digits
when the mean is large next to the standard deviation; the error grows as
:math:`(|\hat\mu|/\hat\sigma)^2`. In float32, measured on a
``(32, 4, 8, 8)`` batch against float64: about ``6e-5`` at
``|mean| = 10 std``, ``1e-3`` at ``50 std`` and ``0.2`` at ``500 std``
(:func:`bnref.batch_norm`, which centres the data before squaring, stays below
``1e-5`` there). The per-channel combination is done in float64 so that no
more is lost than the float32 sums already lost.

:func:`batch_norm` has the signature and the conventions of
:func:`bnref.batch_norm` (d2l momentum, biased moving variance) and
:class:`FastBatchNorm` is a drop-in :class:`bnref.BatchNorm`.
"""

from __future__ import annotations

import torch

from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import moving_average, resolve_training
from bnref.norm.batch_norm import BatchNorm

__all__ = ["batch_norm", "FastBatchNorm", "batch_slices", "channel_sums",
           "channel_sum_and_dot", "channel_dot", "scale_shift", "SLICE_ELEMENTS",
           "WHOLE_BATCH_ELEMENTS"]


#: On the CPU, a large batch is processed in slices of at most this many
#: elements (1 MB of float32), so that the second and later passes over a
#: slice find it in the core's cache instead of main memory.
SLICE_ELEMENTS = 1 << 18

#: A batch of at most this many elements (4 MB of float32) is one slice: it
#: stays in the last-level cache between passes, and slicing it would only
#: add operations.
WHOLE_BATCH_ELEMENTS = 1 << 20


def batch_slices(X: torch.Tensor) -> list[slice]:
    """Slices of the batch axis of ``X``, each of at most :data:`SLICE_ELEMENTS` elements.

    A slice holds at least one sample. A batch of at most
    :data:`WHOLE_BATCH_ELEMENTS` elements is one slice; so is any batch on a
    GPU, or under ``torch.compile`` (which fuses the passes itself).

    Examples:
        >>> batch_slices(torch.empty(1000, 3, 10, 10))  # 300,000 elements: one slice
        [slice(0, 1000, None)]
        >>> batch_slices(torch.empty(4000, 3, 10, 10))  # 873 samples fit in a slice
        [slice(0, 873, None), slice(873, 1746, None), slice(1746, 2619, None), slice(2619, 3492, None), slice(3492, 4000, None)]
    """
    N = X.shape[0]
    if (X.device.type != "cpu" or torch.compiler.is_compiling()
            or X.numel() <= WHOLE_BATCH_ELEMENTS):
        return [slice(0, N)]
    step = max(1, SLICE_ELEMENTS // max(1, X[0].numel()))
    return [slice(i, min(i + step, N)) for i in range(0, N, step)]


def _in_slices(*tensors: torch.Tensor | None):
    """For each of :func:`batch_slices` of the first tensor, that slice of every
    tensor (``None`` stays ``None``); the tensors themselves when there is one slice."""
    parts = batch_slices(tensors[0])
    if len(parts) == 1:
        return [tensors]
    return [tuple(None if t is None else t[part] for t in tensors) for part in parts]


def channel_sums(X: torch.Tensor) -> torch.Tensor:
    """Per-channel sum of ``X`` (``(N, C)`` or ``(N, C, H, W)``), shape ``(C,)``.

    For 4-D input the contiguous ``H, W`` axes are summed first, then the
    batch axis: faster on the CPU than one reduction over ``(0, 2, 3)``.
    """
    return X.sum(dim=0) if X.dim() == 2 else X.sum(dim=(2, 3)).sum(dim=0)


def channel_sum_and_dot(U: torch.Tensor, V: torch.Tensor,
                        scratch: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per channel, :math:`\sum u` and :math:`\sum u\,v`, each of shape ``(C,)``, in float64.

    One loop over :func:`batch_slices`: each slice of ``U`` is read from
    memory once for both sums, and the product ``u * v`` is a slice-sized
    temporary that stays in cache. The slices' sums (in ``U``'s dtype) are
    added in float64. ``scratch``, a tensor with ``U``'s shape (the output
    about to be written, say), lends its first slice to hold the products, so
    that no memory is allocated for them; its contents are overwritten.
    """
    if scratch is not None and torch.compiler.is_compiling():
        scratch = None
    s_u = s_uv = None
    for u, v in _in_slices(U, V):
        if scratch is None:
            uv = u * v
        else:  # always the first slice of scratch: it stays in cache from one slice to the next
            uv = torch.mul(u, v, out=scratch if u is U else scratch[: u.shape[0]])
        su, suv = channel_sums(u).double(), channel_sums(uv).double()
        s_u, s_uv = (su, suv) if s_u is None else (s_u + su, s_uv + suv)
    return s_u, s_uv


def channel_dot(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r"""Per-channel :math:`\sum u\,v` (shape ``(C,)``, ``U``'s dtype), slice by slice."""
    return channel_sum_and_dot(U, V)[1].to(U.dtype)


def _per_channel(t: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """View a ``(C,)`` tensor so it broadcasts against ``X``."""
    return t.view(1, -1) if X.dim() == 2 else t.view(1, -1, 1, 1)


def scale_shift(X: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                Z: torch.Tensor | None = None, c: torch.Tensor | None = None,
                *, out: torch.Tensor | None = None) -> torch.Tensor:
    """``a * X + b``, plus ``c * Z`` when given; ``a``, ``b``, ``c`` per channel, shape ``(C,)``.

    Written slice by slice (into ``out`` if given, else a new tensor): each
    slice of the output is produced by two or three operations in a row that
    find it in cache, so that the output is written to memory once.
    For 4-D ``X``, ``torch.addcmul(b, X, a)`` would be one operation, but
    PyTorch's CPU loops vectorize an elementwise operation only when at most
    one operand is broadcast along the innermost axis; with two per-channel
    operands it runs as a scalar loop, several times slower than ``mul`` then
    ``add`` on a batch that fits in cache. For 2-D ``X`` the per-feature
    operands vary along the innermost axis, and ``addcmul`` is one fast loop.
    """
    a, b = _per_channel(a, X), _per_channel(b, X)
    c = None if c is None else _per_channel(c, X)
    if torch.compiler.is_compiling():  # the compiler fuses these into one loop itself
        return a * X + b if Z is None else a * X + b + c * Z
    out = torch.empty_like(X) if out is None else out
    for x, z, o in _in_slices(X, Z, out):
        if X.dim() == 2:  # per-feature operands vary along the innermost axis: one loop
            torch.addcmul(b, x, a, out=o)
        else:
            torch.mul(x, a, out=o)
            o += b
        if z is not None:
            o.addcmul_(z, c)
    return out


class _BatchNormFunction(torch.autograd.Function):
    """Forward and analytic backward; see the module docstring for the formulas.

    ``forward`` takes ``x`` in a float32/float64 compute dtype, ``gamma`` and
    ``beta`` of shape ``(C,)``, and the statistics to use: in training the
    batch's ``(mean, invstd)`` are computed here, in eval they are passed in.
    It returns ``y`` and the mean and biased variance it normalized with
    (the batch's in training, for the moving averages).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, mean_in, var_in, eps, training):
        count = x.numel() // x.shape[1]
        y = torch.empty_like(x)
        if training:
            s1, s2 = channel_sum_and_dot(x, x, scratch=y)  # sum x, sum x^2 (float64)
            mean64 = s1 / count
            var64 = torch.addcmul(s2 / count, mean64, mean64, value=-1).clamp_min_(0.0)
            mean, var = mean64.to(x.dtype), var64.to(x.dtype)
        else:
            mean, var = mean_in.to(x.dtype, copy=True), var_in.to(x.dtype, copy=True)
        invstd = (var + eps).rsqrt_()
        a = gamma * invstd
        y = scale_shift(x, a, torch.addcmul(beta, a, mean, value=-1), out=y)  # y = a x + b
        ctx.save_for_backward(x, a, mean, invstd)
        ctx.training, ctx.count = training, count
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)  # no zero tensors for mean's and var's gradients
        return y, mean, var

    @staticmethod
    def backward(ctx, dy, _dmean, _dvar):
        if dy is None:  # y did not reach the loss
            return None, None, None, None, None, None, None
        x, a, mean, invstd = ctx.saved_tensors
        dy = dy.contiguous()
        dx = torch.empty_like(x)
        sum_dy, sum_dy_x = (s.to(x.dtype) for s in channel_sum_and_dot(dy, x, scratch=dx))
        # sum(dy * x_hat) = invstd * (sum(dy * x) - mean * sum(dy))
        sum_dy_xhat = torch.addcmul(sum_dy_x, mean, sum_dy, value=-1).mul_(invstd)
        if ctx.training:
            # dx = a * (dy - mean(dy) - x_hat * mean(dy * x_hat)) = a*dy + b*x + c
            b = (a * invstd).mul_(sum_dy_xhat).mul_(-1.0 / ctx.count)
            c = torch.addcmul((a * sum_dy).mul_(-1.0 / ctx.count), b, mean, value=-1)
            dx = scale_shift(x, b, c, dy, a, out=dx)
        else:
            dx = torch.mul(dy, _per_channel(a, x), out=dx)  # mean and variance are constants
        return dx, sum_dy_xhat, sum_dy, None, None, None, None


def batch_norm(
    X: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    moving_mean: torch.Tensor,
    moving_var: torch.Tensor,
    eps: float,
    momentum: float,
    *,
    training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r""":func:`bnref.batch_norm`, computed by one autograd Function.

    .. math::

        y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta,\qquad
        \text{moving} \leftarrow m\cdot\text{moving} + (1-m)\cdot\text{batch statistic}

    Same arguments, shapes, checks and return value ``(Y, moving_mean,
    moving_var)`` as :func:`bnref.batch_norm`; half-precision input is
    computed in float32.

    Examples:
        >>> import torch
        >>> import bnref
        >>> X = torch.randn(8, 3, 5, 5, dtype=torch.float64)
        >>> ones, zeros = torch.ones(3, dtype=X.dtype), torch.zeros(3, dtype=X.dtype)
        >>> Y, mean, var = batch_norm(X, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9,
        ...                            training=True)
        >>> Y1, mean1, var1 = bnref.batch_norm(X, ones, zeros, zeros, ones, eps=1e-5,
        ...                                    momentum=0.9, training=True)
        >>> torch.allclose(Y, Y1), torch.allclose(mean, mean1), torch.allclose(var, var1)
        (True, True, True)
    """
    training = resolve_training(training)
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    dtype = torch.promote_types(X.dtype, torch.float32)  # the compute dtype
    C = X.shape[1]
    Y, mean, var = _BatchNormFunction.apply(
        _as(X, dtype).contiguous(), _as(gamma.reshape(C), dtype), _as(beta.reshape(C), dtype),
        moving_mean.reshape(C), moving_var.reshape(C), float(eps), bool(training),
    )
    if training:
        moving_mean = moving_average(moving_mean, mean, momentum)
        moving_var = moving_average(moving_var, var, momentum)
    return _as(Y, X.dtype), moving_mean.detach(), moving_var.detach()


def _as(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` in ``dtype`` (``t`` itself when it already is: no operation dispatched)."""
    return t if t.dtype == dtype else t.to(dtype)


class FastBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` whose arithmetic is :func:`bnref.speed.fast.batch_norm`.

    Same parameters, buffers, ``state_dict`` keys and checks; only the
    forward and backward computation differ.

    Examples:
        >>> import torch
        >>> bn = FastBatchNorm(3, num_dims=4)
        >>> bn(torch.randn(8, 3, 5, 5)).shape
        torch.Size([8, 3, 5, 5])
    """

    function = staticmethod(batch_norm)
