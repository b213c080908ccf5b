"""Numbers that cannot go stale, on any machine: every committed training-results file is replayed.

Each shipped results file (src/bnref/results) with a ``replay`` entry is re-run
for its short prefix, in float64 on one thread, with the code as it is now
(bnref.experiments.harness.replay.check). Then checks of the check itself: a deliberate
change to the batch-normalization core makes a replay fail, naming the file and
its command; the same replay under another kernel set (PyTorch's, oneDNN's and
MKL's instruction sets lowered through their environment variables) passes; a
replay entry computed in float32 is refused with the command that records it
again; and ``python -m bnref replay`` checks and records.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from bnref import BatchNorm
from bnref.__main__ import main
from bnref.experiments.harness import record, replay

from results_support import RESULTS

FILES = sorted(p for p in RESULTS.glob("*.json") if "replay" in json.loads(p.read_text()))
TRAINING = ("reproduce", "activations", "small-batch", "lr-sweep", "init-scale", "ghost-bn", "ddp",
            "ablation", "placement", "dropout", "moving-statistics", "convergence", "regularization",
            "sync-check")  # not training: one two-process run, replayed whole (7 differences)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_training_results_file_can_be_replayed():
    experiments = {p.name: json.loads(p.read_text()).get("experiment")
                   for p in RESULTS.glob("*.json")}
    training = sorted(n for n, e in experiments.items() if e in TRAINING)
    assert training, "no training results found"
    assert sorted(p.name for p in FILES) == training


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_committed_results_are_what_the_code_produces(path):
    problems = replay.check(path)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def fresh_file(tmp_path_factory):
    """A results file whose replay entry the current code just made (LeNet-BN, 6 steps)."""
    path = tmp_path_factory.mktemp("replay") / "r.json"
    spec = {"model": "lenet_bn", "seed": 0, "batch_size": 256, "lr": 1.0}
    data = {"experiment": "reproduce", "command": "python -m bnref reproduce (test)",
            "replay": replay.replay_record("bnref.experiments.commands.reproduce", [spec], 6)}
    path.write_text(json.dumps(data))
    return path


def unbiased_core(X, gamma, beta, moving_mean, moving_var, eps, momentum, *, training=None):
    """The reference core with one deliberate change: the batch variance divided by m - 1."""
    from bnref.norm.batch_norm import batch_norm

    if not training or X.dim() != 2:
        return batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                          training=training)
    m = X.shape[0]
    mean = X.mean(dim=0, keepdim=True)
    var = ((X - mean) ** 2).sum(dim=0, keepdim=True) / (m - 1)  # the change
    Y = gamma.view(1, -1) * (X - mean) / torch.sqrt(var + eps) + beta.view(1, -1)
    return Y, moving_mean, moving_var


def test_a_deliberate_change_to_the_core_fails_the_replay(fresh_file, monkeypatch):
    assert replay.check(fresh_file) == []
    # the fully connected layers' variance over 256 samples, times 256/255: 0.4 %
    monkeypatch.setattr(BatchNorm, "function", staticmethod(unbiased_core))
    problems = replay.check(fresh_file)
    assert len(problems) == 1
    assert "r.json" in problems[0] and "python -m bnref reproduce (test)" in problems[0]
    assert "no longer produces" in problems[0]
    # how far the change moves the first loss that differs, against the tolerance
    now, then = (float(x) for x in re.search(r"loss (\S+) now, (\S+) in the file",
                                              problems[0]).groups())
    assert abs(now - then) / abs(then) > 1e3 * replay.RTOL  # measured: 1e-5 at step 1


#: another kernel set than this machine's: PyTorch's own kernels without vectors, and
#: oneDNN's and MKL's limited to SSE4 (each reads its own variable; without the last
#: two, oneDNN and MKL would keep choosing from the CPU itself)
OTHER_KERNELS = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                 "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}


def test_another_kernel_set_passes_the_replay(fresh_file):
    code = ("import sys, torch; from bnref.experiments.harness import replay; "
            "assert torch.backends.cpu.get_cpu_capability() == 'DEFAULT'; "
            "p = replay.check(sys.argv[1]); print('\\n'.join(p)); sys.exit(bool(p))")
    done = subprocess.run([sys.executable, "-c", code, str(fresh_file)], capture_output=True,
                          text=True, env={**os.environ, **OTHER_KERNELS})
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_float32_replay_entry_is_refused_with_the_command_that_records_it_again(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"command": "python -m bnref x", "replay": {
        "module": "bnref.experiments.commands.reproduce", "steps": 1, "runs": []}}))
    with pytest.raises(ValueError, match=r"computed in float32, which depends on the machine; "
                       r"record it again in float64 with: python -m bnref replay --record old.json"):
        replay.check(path)


def test_the_replay_command_checks_and_records(fresh_file, tmp_path, capsys):
    copy = tmp_path / "copy.json"
    data = json.loads(fresh_file.read_text())
    data["replay"]["runs"][0]["losses"][2] += 0.01
    copy.write_text(json.dumps(data))
    assert main(["replay", str(copy)]) == 1
    assert "copy.json: differs" in capsys.readouterr().out
    assert main(["replay", "--record", str(copy)]) == 0
    assert main(["replay", str(copy)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "copy.json: ok"
    assert json.loads(copy.read_text())["replay"]["runs"] == json.loads(
        fresh_file.read_text())["replay"]["runs"]


def test_every_shipped_results_file_is_in_the_package():
    from bnref import results

    assert results.folder() == RESULTS
    assert results.names() == sorted(p.name for p in RESULTS.glob("*.json"))
    with pytest.raises(FileNotFoundError, match="no shipped results file 'nope.json'; there are: "
                       "ablation-cpu.json, "):
        results.path("nope.json")


def test_a_file_without_replay_data_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"experiment": "small-batch", "command": "python -m bnref x"}))
    with pytest.raises(ValueError, match="has no 'replay' entry: rerun `python -m bnref x`"):
        replay.check(path)


def test_stale_timings_are_found_by_their_code_hash(tmp_path):
    modules = ["bnref.norm"]
    current = {"modules": modules, "hash": record.code_hash(*modules)}
    (tmp_path / "now.json").write_text(json.dumps({"command": "a", "timed_code": current}))
    (tmp_path / "old.json").write_text(json.dumps(
        {"command": "python -m bnref bench", "timed_code": {**current, "hash": "0" * 16}}))
    (tmp_path / "training.json").write_text(json.dumps({"command": "c", "runs": {}}))
    stale = replay.stale_timings(tmp_path)
    assert len(stale) == 1 and stale[0].startswith("old.json: the code it timed (bnref.norm)")
