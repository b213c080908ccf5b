r"""Batch normalization's variants: the reference with one thing changed.

Each variant is a functional core with :func:`~bnref.norm.batch_norm.batch_norm`'s
signature, checks and return value ``(Y, moving_mean, moving_var)``, and a
:class:`~bnref.norm.batch_norm.BatchNorm` subclass that changes only ``function``,
never ``forward``: ghost BN (statistics over virtual sub-batches), noisy BN
(noise added in training), moving-statistics BN (no batch statistics in the
output), and mean-only, std-only and fixed-affine BN (one part of BN at a time,
the section's exercises). In evaluation mode each uses the moving statistics.
"""

from __future__ import annotations

import functools

import torch

from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import moving_average, resolve_training
from bnref.norm.batch_norm import BatchNorm, batch_norm

__all__ = ["ghost_batch_norm", "GhostBatchNorm", "ghost_layer", "NOISE_MEAN", "NOISE_STD",
           "noisy_batch_norm", "NoisyBatchNorm", "moving_statistics_batch_norm",
           "MovingStatisticsBatchNorm", "running_batch_norm", "RunningBatchNorm",
           "mean_only_batch_norm", "MeanOnlyBatchNorm", "std_only_batch_norm",
           "StdOnlyBatchNorm", "fixed_affine_batch_norm", "FixedAffineBatchNorm"]

#: noisy BN: at every step each channel draws a noise mean from U(-NOISE_MEAN, NOISE_MEAN)
#: and a noise standard deviation from U(*NOISE_STD) (our choice of numbers)
NOISE_MEAN = 0.5
NOISE_STD = (0.5, 1.5)


def ghost_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                     training=None, virtual_batch: int = 32):
    r""":func:`~bnref.norm.batch_norm.batch_norm` over sub-batches of ``virtual_batch`` examples.

    Ghost batch normalization (Hoffer, Hubara & Soudry 2017, "Train longer,
    generalize better", arXiv:1705.08741). In training, ``X`` is cut along the
    batch axis into sub-batches :math:`\mathcal B_1, \dots, \mathcal B_K` of
    ``virtual_batch`` consecutive examples (the last may be smaller; a last one
    of a single example joins the one before it), and each is normalized with
    its own mean and biased variance:

    .. math::

        y_i = \gamma\,\frac{x_i-\hat\mu_{\mathcal B_k}}{\sqrt{\hat\sigma^2_{\mathcal B_k}+\epsilon}}
            + \beta \quad (i\in\mathcal B_k),\qquad
        \text{moving} \leftarrow m\cdot\text{moving} + (1-m)\,\frac1K\sum_{k}\text{statistic}_k .

    The moving statistics are updated once per call with the unweighted mean
    over the sub-batches of their statistics, so the moving variance is the
    mean within-sub-batch variance. (Recipes that call ``nn.BatchNorm`` on each
    chunk in turn apply the moving average once per chunk instead.) In
    evaluation, and when ``virtual_batch >= len(X)``, it is
    :func:`~bnref.norm.batch_norm.batch_norm`.

    Args:
        X, gamma, beta, moving_mean, moving_var, eps, momentum, training: as
            :func:`~bnref.norm.batch_norm.batch_norm`.
        virtual_batch: examples per sub-batch, an int ``>= 2``.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[0.0], [2.0], [10.0], [14.0]])
        >>> ones, zeros = torch.ones(1), torch.zeros(1)
        >>> Y, mean, var = ghost_batch_norm(X, ones, zeros, zeros, ones, eps=1e-5,
        ...                                 momentum=0.9, training=True, virtual_batch=2)
        >>> Y.flatten()  # each pair normalized on its own
        tensor([-1.0000,  1.0000, -1.0000,  1.0000])
        >>> mean, var  # 0.1 * mean(1, 12) and 0.9 + 0.1 * mean(1, 4)
        (tensor([0.6500]), tensor([1.1500]))
    """
    if not isinstance(virtual_batch, int) or virtual_batch < 2:
        raise ValueError(f"virtual_batch must be an int >= 2 (a variance needs two values); "
                         f"got {virtual_batch!r}")
    training = resolve_training(training)
    if not training or len(X) <= virtual_batch:
        return batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                          training=training)
    chunks = list(X.split(virtual_batch))
    if len(chunks[-1]) == 1:
        chunks[-2:] = [torch.cat(chunks[-2:])]
    outs, means, variances = [], [], []
    for chunk in chunks:
        # each call returns m * moving + (1 - m) * stat_k; their mean is
        # m * moving + (1 - m) * mean_k(stat_k)
        y, mean, var = batch_norm(chunk, gamma, beta, moving_mean, moving_var, eps, momentum,
                                  training=True)
        outs.append(y)
        means.append(mean)
        variances.append(var)
    return (torch.cat(outs), torch.stack(means).mean(dim=0).to(moving_mean.dtype),
            torch.stack(variances).mean(dim=0).to(moving_var.dtype))


class GhostBatchNorm(BatchNorm):
    r""":class:`~bnref.norm.batch_norm.BatchNorm` computing :func:`ghost_batch_norm` over
    sub-batches of ``VIRTUAL_BATCH`` examples (32; another size: :func:`ghost_layer`).

    .. math::

        y_i = \gamma\,\frac{x_i-\hat\mu_{\mathcal B_k}}{\sqrt{\hat\sigma^2_{\mathcal B_k}+\epsilon}}
            + \beta \quad (i\in\mathcal B_k)
    """

    VIRTUAL_BATCH = 32
    function = staticmethod(functools.partial(ghost_batch_norm, virtual_batch=VIRTUAL_BATCH))


@functools.cache
def ghost_layer(virtual_batch: int) -> type[BatchNorm]:
    """The :class:`GhostBatchNorm` subclass for sub-batches of ``virtual_batch`` examples
    (one class per size, made once).

    Examples:
        >>> layer = ghost_layer(16)
        >>> layer.__name__, layer.VIRTUAL_BATCH, layer is ghost_layer(16)
        ('GhostBatchNorm16', 16, True)
    """
    if not isinstance(virtual_batch, int) or virtual_batch < 2:
        raise ValueError(f"virtual_batch must be an int >= 2; got {virtual_batch!r}")
    return type(f"GhostBatchNorm{virtual_batch}", (GhostBatchNorm,), {
        "VIRTUAL_BATCH": virtual_batch,
        "function": staticmethod(functools.partial(ghost_batch_norm,
                                                   virtual_batch=virtual_batch)),
        "__module__": __name__})


def noisy_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                     training=None, noise_mean: float = NOISE_MEAN,
                     noise_std: tuple[float, float] = NOISE_STD):
    r""":func:`~bnref.norm.batch_norm.batch_norm`, then, in training, Gaussian noise *added*
    to every activation.

    After Santurkar, Tsipras, Ilyas & Madry 2018 ("How does batch normalization
    help optimization?", arXiv:1805.11604, section 2.1), who perturb BN's
    output with i.i.d. noise of non-zero mean and non-unit variance whose
    distribution changes at every step. Here, at every call in training, each
    channel :math:`c` draws a mean and a standard deviation

    .. math::

        \mu_c \sim U(-a, a),\qquad s_c \sim U(s_{\min}, s_{\max}),\qquad
        y = \mathrm{BN}(x) + \mu_c + s_c\,z,\quad z \sim \mathcal N(0, 1),

    with :math:`a` = ``noise_mean`` and :math:`(s_{\min}, s_{\max})` =
    ``noise_std``, and a fresh :math:`z` for every activation (each example,
    each position): noise :math:`\mathcal N(\mu_c, s_c^2)` is added to BN's
    output (after :math:`\gamma` and :math:`\beta`). It is additive noise, not a
    random scale. The draws come from torch's global generator, in this order:
    the means, the standard deviations, then :math:`z`. The moving statistics
    are plain BN's (the noise comes after them); in evaluation there is no
    noise and nothing is drawn.

    Args:
        X, gamma, beta, moving_mean, moving_var, eps, momentum, training: as
            :func:`~bnref.norm.batch_norm.batch_norm`.
        noise_mean: :math:`a`, the half-width of the interval the channel means are drawn from.
        noise_std: :math:`(s_{\min}, s_{\max})`, the interval the channel standard deviations
            are drawn from.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> ones, zeros = torch.ones(2), torch.zeros(2)
        >>> plain = batch_norm(X, ones, zeros, zeros, ones, 1e-5, 0.9, training=True)
        >>> noisy = noisy_batch_norm(X, ones, zeros, zeros, ones, 1e-5, 0.9, training=True)
        >>> torch.equal(noisy[0], plain[0]), torch.equal(noisy[1], plain[1])
        (False, True)
        >>> Y = noisy_batch_norm(X, ones, zeros, zeros, ones, 1e-5, 0.9, training=False)[0]
        >>> torch.equal(Y, batch_norm(X, ones, zeros, zeros, ones, 1e-5, 0.9, training=False)[0])
        True
    """
    training = resolve_training(training)
    Y, moving_mean, moving_var = batch_norm(X, gamma, beta, moving_mean, moving_var, eps,
                                            momentum, training=training)
    if training:
        shape = (1, X.shape[1]) + (1,) * (X.dim() - 2)
        lo, hi = noise_std
        mu = (torch.rand(shape, device=X.device) * 2 - 1) * noise_mean
        std = lo + torch.rand(shape, device=X.device) * (hi - lo)
        Y = Y + (mu + std * torch.randn(Y.shape, device=X.device)).to(Y.dtype)
    return Y, moving_mean, moving_var


class NoisyBatchNorm(BatchNorm):
    r""":class:`~bnref.norm.batch_norm.BatchNorm` computing :func:`noisy_batch_norm`: noise
    :math:`\mathcal N(\mu_c, s_c^2)`, with :math:`\mu_c` and :math:`s_c` drawn per channel
    per step, added to its output in training.

    .. math::

        y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta + \mu_c + s_c\,z
    """

    function = staticmethod(noisy_batch_norm)


def moving_statistics_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                                 training=None):
    r"""BN that normalizes with its moving statistics in training too, and updates them.

    The output is :func:`~bnref.norm.batch_norm.batch_norm` in evaluation mode
    with the moving statistics as they are before this call, so it depends on
    no other example of the batch (its training output is deterministic):

    .. math::

        y = \gamma\,\frac{x-\text{moving\_mean}}{\sqrt{\text{moving\_var}+\epsilon}} + \beta .

    In training the moving statistics are then updated with the batch's mean
    and biased variance, as :func:`~bnref.norm.batch_norm.batch_norm` does; no
    gradient flows through any statistic.

    Args:
        X, gamma, beta, moving_mean, moving_var, eps, momentum, training: as
            :func:`~bnref.norm.batch_norm.batch_norm`.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> ones, zeros = torch.ones(2), torch.zeros(2)
        >>> Y, mean, var = moving_statistics_batch_norm(X, ones, zeros, zeros, ones, eps=1e-5,
        ...                                             momentum=0.9, training=True)
        >>> Y  # normalized with the moving statistics (0, 1): X, up to eps
        tensor([[1.0000, 2.0000],
                [3.0000, 6.0000]])
        >>> mean, var  # updated as batch_norm updates them
        (tensor([0.2000, 0.4000]), tensor([1.0000, 1.3000]))
    """
    training = resolve_training(training)
    Y = batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training=False)[0]
    if training:
        with torch.no_grad():
            _, moving_mean, moving_var = batch_norm(
                X.detach(), gamma.detach(), beta.detach(), moving_mean, moving_var, eps,
                momentum, training=True)
    return Y, moving_mean, moving_var


class MovingStatisticsBatchNorm(BatchNorm):
    r""":class:`~bnref.norm.batch_norm.BatchNorm` computing :func:`moving_statistics_batch_norm`:
    the moving statistics normalize in training too.

    .. math::

        y = \gamma\,\frac{x-\text{moving\_mean}}{\sqrt{\text{moving\_var}+\epsilon}} + \beta
    """

    function = staticmethod(moving_statistics_batch_norm)


#: the earlier names (committed results name ``RunningBatchNorm``)
running_batch_norm = moving_statistics_batch_norm
RunningBatchNorm = MovingStatisticsBatchNorm


def _partial_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training,
                        *, center: bool, scale: bool):
    """:func:`~bnref.norm.batch_norm.batch_norm` with the mean subtraction (``center``) and
    the division by the standard deviation (``scale``) each switched on or off; same
    arguments, checks and moving statistics."""
    training = resolve_training(training)
    shape = check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                                  training)
    gamma, beta = gamma.view(shape), beta.view(shape)
    x = X.to(torch.promote_types(X.dtype, torch.float32))
    if training:
        dims = (0,) if X.dim() == 2 else (0, 2, 3)
        mean = x.mean(dim=dims, keepdim=True)
        var = (x - mean).square().mean(dim=dims, keepdim=True)  # biased, as the note's
    else:
        mean, var = moving_mean.view(shape).to(x.dtype), moving_var.view(shape).to(x.dtype)
    y = x - mean if center else x
    if scale:
        y = y * torch.rsqrt(var + eps)
    Y = gamma * y + beta
    if training:
        moving_mean = moving_average(moving_mean, mean, momentum)
        moving_var = moving_average(moving_var, var, momentum)
    return Y.to(X.dtype), moving_mean.detach(), moving_var.detach()


def mean_only_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                         training=None):
    r"""Batch normalization that only removes the mean (the scale of ``X`` is kept).

    .. math::

        y = \gamma\,(x-\hat\mu) + \beta

    Arguments, checks, moving statistics (both updated) and return value as
    :func:`~bnref.norm.batch_norm.batch_norm`; in evaluation mode the moving
    mean is subtracted.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> ones, zeros = torch.ones(2), torch.zeros(2)
        >>> mean_only_batch_norm(X, ones, zeros, zeros, ones, 1e-5, 0.9, training=True)[0]
        tensor([[-1., -2.],
                [ 1.,  2.]])
    """
    return _partial_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training, center=True, scale=False)


def std_only_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                        training=None):
    r"""Batch normalization that only divides by the standard deviation (the mean is kept,
    scaled).

    .. math::

        y = \gamma\,\frac{x}{\sqrt{\hat\sigma^2+\epsilon}} + \beta

    Arguments, checks, moving statistics (both updated) and return value as
    :func:`~bnref.norm.batch_norm.batch_norm`; in evaluation mode the input is
    divided by the square root of the moving variance.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # variances 1 and 4
        >>> ones, zeros = torch.ones(2), torch.zeros(2)
        >>> std_only_batch_norm(X, ones, zeros, zeros, ones, 1e-5, 0.9, training=True)[0]
        tensor([[1.0000, 1.0000],
                [3.0000, 3.0000]])
    """
    return _partial_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training, center=False, scale=True)


def fixed_affine_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                            training=None):
    r"""Batch normalization with :math:`\gamma=1` and :math:`\beta=0` fixed.

    .. math::

        y = \frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}

    ``gamma`` and ``beta`` are checked but not used (ones and zeros of their
    shape take their place), so no gradient reaches them. Arguments, moving
    statistics and return value as :func:`~bnref.norm.batch_norm.batch_norm`.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> ones, zeros = torch.ones(2), torch.zeros(2)
        >>> gamma, beta = torch.full((2,), 5.0), ones  # ignored
        >>> fixed_affine_batch_norm(X, gamma, beta, zeros, ones, 1e-5, 0.9, training=True)[0]
        tensor([[-1.0000, -1.0000],
                [ 1.0000,  1.0000]])
    """
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                          resolve_training(training))
    return _partial_batch_norm(X, torch.ones_like(gamma), torch.zeros_like(beta), moving_mean,
                               moving_var, eps, momentum, training, center=True, scale=True)


class MeanOnlyBatchNorm(BatchNorm):
    r""":class:`~bnref.norm.batch_norm.BatchNorm` that only subtracts the batch mean (then
    :math:`\gamma`, :math:`\beta`): :func:`mean_only_batch_norm`.

    .. math::

        y = \gamma\,(x-\hat\mu) + \beta
    """

    function = staticmethod(mean_only_batch_norm)


class StdOnlyBatchNorm(BatchNorm):
    r""":class:`~bnref.norm.batch_norm.BatchNorm` that only divides by the batch standard
    deviation (then :math:`\gamma`, :math:`\beta`): :func:`std_only_batch_norm`.

    .. math::

        y = \gamma\,\frac{x}{\sqrt{\hat\sigma^2+\epsilon}} + \beta
    """

    function = staticmethod(std_only_batch_norm)


class FixedAffineBatchNorm(BatchNorm):
    r""":class:`~bnref.norm.batch_norm.BatchNorm` with :math:`\gamma = 1` and :math:`\beta = 0`
    fixed: :func:`fixed_affine_batch_norm`. Its ``gamma`` and ``beta`` are ignored, get no
    gradient (their ``.grad`` stays ``None``; ``requires_grad`` is still ``True``) and so
    keep their initial values under SGD.

    .. math::

        y = \frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}
    """

    function = staticmethod(fixed_affine_batch_norm)
