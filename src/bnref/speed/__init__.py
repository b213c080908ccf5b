"""Faster forms of the reference: the same functions, computed another way.

Every implementation of batch normalization in this room takes the
arguments of :func:`bnref.batch_norm` and returns what it returns; its layer
is a :class:`bnref.BatchNorm` that changes only ``function``. Each is
registered once, in :data:`IMPLEMENTATIONS`, and ``tests/speed/test_contract.py``
holds every registered one to the reference: outputs, the three gradients,
moving statistics (half-precision buffers included), evaluation mode, error
messages and ``state_dict``.

* :mod:`bnref.speed.fast` — single-pass statistics and an analytic backward
  (one ``autograd.Function``), in eager PyTorch;
* :mod:`bnref.speed.compiled` — the reference and the fast form under
  ``torch.compile``;
* :mod:`bnref.speed.fused` — C++ kernels (batch normalization alone, and with
  the sigmoid and pooling after it);
* :mod:`bnref.speed.conv`, :mod:`bnref.speed.pool` — LeNet's first
  convolution and its 2×2 max pooling, which the fast training path also swaps.

Nothing in :mod:`bnref.norm` imports this package. Choose an implementation
by name with :func:`get`; :func:`bnref.models.lenet_bn_with` builds LeNet-BN
with any of them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["Implementation", "IMPLEMENTATIONS", "get"]


@dataclass(frozen=True)
class Implementation:
    """One registered faster form of :func:`bnref.batch_norm`.

    Attributes:
        name: the name commands and :func:`bnref.models.lenet_bn_with` use.
        module: where it lives.
        function, layer: names of its functional core and of its layer (a
            :class:`bnref.BatchNorm` subclass) in ``module``.
        devices: device types it runs on; elsewhere it is not offered.
        summary: one line on how it differs from the reference.
    """

    name: str
    module: str
    function: str
    layer: str
    devices: tuple[str, ...]
    summary: str

    def load(self):
        """``(function, layer)``, imported on first use."""
        mod = importlib.import_module(self.module)
        return getattr(mod, self.function), getattr(mod, self.layer)


#: name -> implementation: the one list of faster forms of batch normalization
IMPLEMENTATIONS: dict[str, Implementation] = {i.name: i for i in (
    Implementation("fast", "bnref.speed.fast", "batch_norm", "FastBatchNorm", ("cpu", "cuda"),
                   "single-pass statistics and an analytic backward, eager PyTorch"),
    Implementation("fused", "bnref.speed.fused", "batch_norm", "FusedBatchNorm", ("cpu",),
                   "one C++ kernel forward and one backward (elsewhere: the fast form)"),
    Implementation("compiled", "bnref.speed.compiled", "batch_norm", "CompiledBatchNorm",
                   ("cpu", "cuda"), "the reference's own source under torch.compile"),
    Implementation("compiled_fast", "bnref.speed.compiled", "fast_batch_norm",
                   "CompiledFastBatchNorm", ("cpu", "cuda"), "the fast form under torch.compile"),
)}


def get(name: str) -> Implementation:
    """The registered implementation called ``name``; a clear error for any other name.

    Examples:
        >>> get("fast").load()[1].__name__
        'FastBatchNorm'
    """
    try:
        return IMPLEMENTATIONS[name]
    except KeyError:
        raise ValueError(f"no implementation named {name!r}; registered: "
                         f"{', '.join(IMPLEMENTATIONS)}") from None
