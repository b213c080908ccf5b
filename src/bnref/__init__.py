"""bnref: batch normalization, from scratch and held to ``torch.nn``.

A small teaching reference that accompanies the bilingual notes on Mu Li's
*Dive into Deep Learning* lecture on batch normalization.
"""

from bnref import d2l
from bnref.batch_norm import BatchNorm, batch_norm
from bnref.group_norm import GroupNorm, group_norm
from bnref.instance_norm import InstanceNorm, instance_norm
from bnref.layer_norm import LayerNorm, layer_norm
from bnref.models import lenet, lenet_bn, lenet_bn_concise, lenet_norm
from bnref.sync_batch_norm import SyncBatchNorm, sync_batch_norm

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
