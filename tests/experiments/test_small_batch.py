"""The small-batch command (bnref.experiments.commands.small_batch): its budget, its batch of one.

A run trains for a fixed budget of examples (steps = examples // batch size)
at a learning rate scaled linearly with the batch size; at a batch of one, BN
after a linear layer is refused and BN after the convolutions trains. The
command itself (its tiny run, the file with the recalibrated error of BN's
runs, resuming, the committed file and its page and figure) is checked in
test_commands.py; the accuracy numbers live in
src/bnref/results/small-batch-cpu.json, replayed by tests/experiments/test_replay.py.
"""

from __future__ import annotations

import pytest
import torch

from bnref.experiments.commands import small_batch
from bnref.experiments.harness import sweep

# tiny batches: one thread avoids the oversubscription a busy 2-core machine shows
pytestmark = pytest.mark.usefixtures("one_thread")


def test_batch_of_one_bn_after_a_linear_layer_is_refused_and_after_convolutions_trains():
    assert "more than one value per channel" in small_batch.batch_of_one_fc_error()
    net, history = small_batch.train_one("bn-conv", 1, examples=6, base_lr=1.0)
    assert history.steps == 6 and all(torch.isfinite(torch.tensor(history.train_loss)))


def test_train_one_counts_steps_and_scales_the_learning_rate():
    net, history = small_batch.train_one("gn", 4, examples=30, base_lr=1.0)
    assert (history.steps, history.examples_seen) == (7, 28)
    net, history = small_batch.train_one("bn", 8, examples=120, base_lr=1.0, record_losses=3)
    assert history.steps == 15 and len(history.step_losses) == 3
    assert 0.0 <= sweep.score(net) <= 1.0
