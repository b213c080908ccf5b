"""bnref: batch normalization, from scratch and held to ``torch.nn``.

A small teaching reference that accompanies the bilingual notes on Mu Li's
*Dive into Deep Learning* lecture on batch normalization. The package has
three rooms:

* :mod:`bnref.norm` — the reference: the formulas, read first;
* :mod:`bnref.speed` — faster forms of the same functions, each held to the
  reference by one contract test (``tests/speed/test_contract.py``);
* :mod:`bnref.experiments` — the commands (``python -m bnref --help``); the
  library never imports them.

Beside them: :mod:`bnref.note` (the note's listings, verbatim),
:mod:`bnref.models` (the LeNets), :mod:`bnref.d2l` (data and the one training
loop) and :mod:`bnref.convert` (to and from ``torch.nn``).
"""

from bnref import d2l
from bnref.models import lenet, lenet_bn, lenet_bn_concise, lenet_norm
from bnref.norm import (
    BatchNorm, GroupNorm, InstanceNorm, LayerNorm, SyncBatchNorm, batch_norm, group_norm,
    instance_norm, layer_norm, sync_batch_norm,
)

__version__ = "0.1.0"

__all__ = [
    "BatchNorm",
    "batch_norm",
    "d2l",
    "lenet",
    "lenet_bn",
    "lenet_bn_concise",
    "lenet_norm",
    "GroupNorm",
    "group_norm",
    "InstanceNorm",
    "instance_norm",
    "LayerNorm",
    "layer_norm",
    "SyncBatchNorm",
    "sync_batch_norm",
]
