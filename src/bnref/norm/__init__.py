"""The reference: batch normalization and its family, one idea per file.

Read these first. Each file holds one functional core (the formula, written
as it reads on paper) and one module that owns the state and calls it:

* :mod:`bnref.norm.batch_norm` — :func:`batch_norm`, :class:`BatchNorm`;
* :mod:`bnref.norm.layer_norm`, :mod:`bnref.norm.instance_norm`,
  :mod:`bnref.norm.group_norm` — the rest of the family;
* :mod:`bnref.norm.sync_batch_norm` — the batch statistics of all processes;
* :mod:`bnref.norm.variants` — batch normalization with one thing changed
  (ghost, noisy, moving-statistics, mean-only, std-only, fixed-affine);
* :mod:`bnref.norm._checks` and :mod:`bnref.norm._moving` — the argument
  checks and the two rules (mode, moving average) every implementation shares.

Nothing here imports the faster forms (:mod:`bnref.speed`) or the commands
(:mod:`bnref.experiments`); ``tests/test_layout.py`` checks that.
"""

from bnref.norm.batch_norm import BatchNorm, batch_norm
from bnref.norm.group_norm import GroupNorm, group_norm
from bnref.norm.instance_norm import InstanceNorm, instance_norm
from bnref.norm.layer_norm import LayerNorm, layer_norm
from bnref.norm.sync_batch_norm import SyncBatchNorm, sync_batch_norm
from bnref.norm.variants import (
    FixedAffineBatchNorm, GhostBatchNorm, MeanOnlyBatchNorm, MovingStatisticsBatchNorm,
    NoisyBatchNorm, RunningBatchNorm, StdOnlyBatchNorm, fixed_affine_batch_norm,
    ghost_batch_norm, ghost_layer, mean_only_batch_norm, moving_statistics_batch_norm,
    noisy_batch_norm, running_batch_norm, std_only_batch_norm,
)

__all__ = ["BatchNorm", "batch_norm", "GroupNorm", "group_norm", "InstanceNorm",
           "instance_norm", "LayerNorm", "layer_norm", "SyncBatchNorm", "sync_batch_norm",
           "ghost_batch_norm", "GhostBatchNorm", "ghost_layer", "noisy_batch_norm",
           "NoisyBatchNorm", "moving_statistics_batch_norm", "MovingStatisticsBatchNorm",
           "running_batch_norm", "RunningBatchNorm", "mean_only_batch_norm",
           "MeanOnlyBatchNorm", "std_only_batch_norm", "StdOnlyBatchNorm",
           "fixed_affine_batch_norm", "FixedAffineBatchNorm"]
