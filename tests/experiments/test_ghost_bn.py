"""The noise-view command (bnref.experiments.commands.ghost_bn): one BN layer per arm.

Each arm is the note's LeNet-BN with one thing changed, the BN layer's
``function``: plain, ghost (over sub-batches of 16 to 128), noisy and
deterministic BN, the layers of bnref.norm.variants, held there to what they
claim (tests/norm/test_variants.py). The command itself (its tiny run, the
scores as trained and with precise statistics, resuming, the replay, the
committed file and its page and figure) is checked in test_commands.py; the
accuracy numbers live in src/bnref/results/ghost-bn-cpu.json, replayed by
tests/experiments/test_replay.py.
"""

from __future__ import annotations

import pytest

from bnref import BatchNorm
from bnref.experiments.commands import ghost_bn
from bnref.norm.variants import MovingStatisticsBatchNorm, NoisyBatchNorm, ghost_layer


def test_each_arm_is_a_batchnorm_that_changes_only_its_function():
    for arm in ghost_bn.ARMS:
        cls = ghost_bn.layer_for(arm)
        assert issubclass(cls, BatchNorm)
        assert all("forward" not in k.__dict__ for k in cls.__mro__ if k is not BatchNorm
                   and issubclass(k, BatchNorm))
    assert ghost_bn.layer_for("bn") is BatchNorm
    assert ghost_bn.layer_for("noisy") is NoisyBatchNorm
    assert ghost_bn.layer_for("deterministic") is MovingStatisticsBatchNorm
    for size in ghost_bn.GHOST_SIZES:
        assert ghost_bn.layer_for(f"ghost-{size}") is ghost_layer(size)
        assert ghost_layer(size).VIRTUAL_BATCH == size
    with pytest.raises(ValueError, match="arm must be one of bn, ghost-128.*; got 'ghost-7'"):
        ghost_bn.layer_for("ghost-7")


def test_the_arms_train_the_same_network_but_for_the_bn_layer():
    nets = {arm: ghost_bn.train_one(arm, seed=0, epochs=None, max_steps=0)[0]
            for arm in ghost_bn.ARMS}
    shapes = {arm: [(type(m).__name__ if not isinstance(m, BatchNorm) else "BN",
                     tuple(p.shape for p in m.parameters())) for m in net]
              for arm, net in nets.items()}
    assert all(s == shapes["bn"] for s in shapes.values())
    for arm, net in nets.items():
        assert [type(m) for m in net if isinstance(m, BatchNorm)] == [ghost_bn.layer_for(arm)] * 4
