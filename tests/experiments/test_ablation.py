"""The ablation command (bnref.experiments.commands.ablation): its arms change one thing each.

The arms are the note's LeNet-BN with BN removed from some layers, or with
its layers replaced by a variant of bnref.norm.variants (mean-only, std-only,
fixed-affine; the variants themselves are held to their formulas in
tests/norm/test_variants.py). Fixed-affine BN keeps gamma at 1 and beta at 0
through training, where the note's BN moves them. The command itself (its
tiny run, the file, resuming, the replay, the committed file and its page) is
checked in test_commands.py; the accuracy numbers live in
src/bnref/results/ablation-cpu.json, replayed by tests/experiments/test_replay.py.
"""

from __future__ import annotations

import pytest
import torch

from bnref import BatchNorm
from bnref.experiments.commands import ablation

pytestmark = pytest.mark.usefixtures("one_thread")


def test_fixed_affine_keeps_gamma_one_and_beta_zero_through_training():
    net, history = ablation.train_one("fixed-affine", 0, lr=1.0, batch_size=64, max_steps=5,
                                      test=False)
    layers = [m for m in net.modules() if isinstance(m, BatchNorm)]
    assert len(layers) == 4 and history.steps == 5
    for m in layers:
        assert torch.equal(m.gamma, torch.ones_like(m.gamma))
        assert torch.equal(m.beta, torch.zeros_like(m.beta))
    # the same five steps with the note's BN move gamma and beta
    net, _ = ablation.train_one("all", 0, lr=1.0, batch_size=64, max_steps=5, test=False)
    assert not torch.equal(net[1].gamma, torch.ones_like(net[1].gamma))


def test_the_arms_change_one_thing():
    kinds = {arm: [type(m).__name__ for m in ablation.build(arm)] for arm in ablation.ARMS}
    assert kinds["all"].count("BatchNorm") == 4 and "BatchNorm" not in kinds["none"]
    assert kinds["conv"].count("BatchNorm") == kinds["fc"].count("BatchNorm") == 2
    for arm, name in (("mean-only", "MeanOnlyBatchNorm"), ("std-only", "StdOnlyBatchNorm"),
                      ("fixed-affine", "FixedAffineBatchNorm")):
        assert kinds[arm] == [name if k == "BatchNorm" else k for k in kinds["all"]]
    with pytest.raises(ValueError, match="arm must be one of all, conv"):
        ablation.build("half")
