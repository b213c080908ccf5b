"""The sync-check command (bnref.experiments.sync_check) and its committed file.

``python -m bnref sync-check`` runs bnref.SyncBatchNorm (and per-process
bnref.BatchNorm) on two CPU processes (gloo), 5 + 3 samples, against
bnref.BatchNorm on the whole batch in one process, and writes
docs/results/sync-check-cpu.json; docs/reference/sync-bn.md prints that file.
Here the check runs again (two gloo processes, a few seconds), and:

* every SyncBatchNorm difference is below the page's bound, 1e-5;
* the committed file is what the code produces now, bit for bit, when this
  machine has the file's instruction set and torch version and the checked code
  has the file's hash (every process runs on one thread, so the numbers do not
  change from run to run). On any machine, the file's ``replay`` entry (the
  same differences) is held to the code within the replay's tolerance by
  tests/test_replay.py, as every results file is;
* the file's settings are the function's defaults;
* the check can fail: per-process BN, which does not synchronize, is far above
  the bound (except for the beta gradient, the sum of dY, which no statistics
  enter).
"""

from __future__ import annotations

import json

import pytest
import torch

from bnref.__main__ import main
from bnref.experiments import pages, record, replay, sync_check

from results_support import RESULTS

COMMITTED = RESULTS / "sync-check-cpu.json"
BOUND = 1e-5   # the page's claim: every difference below 1e-5


@pytest.fixture(scope="module")
def fresh():
    return sync_check.checked()  # once per process: the replay of the file uses it too


@pytest.fixture(scope="module")
def committed():
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def same_setting(committed: dict) -> bool:
    """Whether this run should reproduce the file bit for bit."""
    here = record.machine()["cpu_capability"], torch.__version__, record.code_hash(
        *committed["checked_code"]["modules"])
    p = committed["provenance"]
    return here == (p["machine"]["cpu_capability"], p["versions"]["torch"],
                    committed["checked_code"]["hash"])


def test_sync_batch_norm_is_within_the_bound(fresh):
    for quantity, diff in fresh["differences"]["sync"].items():
        assert diff < BOUND, f"{quantity}: max abs diff {diff:.2e}, expected < {BOUND}"


def test_the_committed_file_is_what_the_check_gives(fresh, committed):
    assert committed["config"] == fresh["settings"]
    assert committed["torch_sync_error"] == fresh["torch_sync_error"]
    for layer, diffs in fresh["differences"].items():
        assert list(committed["differences"][layer]) == list(diffs)
    # the replay entry holds the same numbers as the table the page prints
    replayed = {entry["run"]["layer"]: entry["losses"] for entry in committed["replay"]["runs"]}
    assert committed["replay"]["labels"] == list(sync_check.QUANTITIES)
    assert replayed == {layer: list(diffs.values())
                        for layer, diffs in committed["differences"].items()}
    if not same_setting(committed):
        return  # another machine or code: tests/test_replay.py holds the file within tolerance
    problems = [f"{layer} {quantity}: file {then:.2e}, now {diffs[quantity]:.2e}"
                for layer, diffs in fresh["differences"].items()
                for quantity, then in committed["differences"][layer].items()
                if diffs[quantity] != then]
    assert not problems, (f"{COMMITTED.name} is stale (bit-for-bit comparison on a machine "
                          f"like the file's); rerun `{committed['command']}`:\n"
                          + "\n".join(problems))


def test_the_file_holds_the_defaults_and_its_provenance(committed):
    import inspect

    defaults = {k: v.default for k, v in
                inspect.signature(sync_check.compare_split).parameters.items()}
    c = committed["config"]
    assert (tuple(c["shape"]), tuple(c["sizes"]), c["steps"], c["seed"]) == (
        defaults["shape"], defaults["sizes"], defaults["steps"], defaults["seed"])
    assert c["world_size"] == len(c["sizes"]) and c["threads_per_process"] == 1
    assert committed["command"] == "python -m bnref sync-check"
    p = committed["provenance"]
    assert p["commit"] and "+dirty" not in p["commit"]
    assert {"machine", "versions", "date"} <= set(p) and committed["wall_seconds"] > 0
    assert list(committed["checked_code"]["modules"]) == list(sync_check.CHECKED_MODULES)


def test_torch_sync_batch_norm_needs_a_gpu_for_training(fresh):
    """torch.nn.SyncBatchNorm refuses CPU tensors in training inside a process group."""
    assert "expected input tensor to be on GPU" in fresh["torch_sync_error"]


def test_the_check_fails_without_synchronization(fresh):
    """Per-process BN: each process normalizes with its own slice's statistics."""
    bn = fresh["differences"]["bn"]
    assert all(diff > 1e-2 for q, diff in bn.items() if q != "beta grad"), bn
    assert bn["beta grad"] < BOUND  # dbeta = sum dY: no statistics enter it


def test_a_changed_difference_fails_the_replay_and_is_named(fresh, committed, tmp_path,
                                                            monkeypatch):
    import copy

    changed = copy.deepcopy(fresh)
    changed["differences"]["sync"]["moving_var"] = 0.48  # SyncBatchNorm stopped synchronizing
    monkeypatch.setattr(sync_check, "checked", lambda: changed)
    path = tmp_path / "sync-check.json"
    path.write_text(json.dumps(committed), encoding="utf-8")
    problems = replay.check(path)
    assert len(problems) == 1, problems
    assert "{'layer': 'sync'}: moving_var 0.48 now" in problems[0]
    assert "python -m bnref sync-check" in problems[0]


def test_the_command_writes_the_file_and_the_page_prints_it(fresh, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setattr(sync_check, "checked", lambda: fresh)  # the check ran above
    out = tmp_path / "sync.json"
    assert main(["sync-check", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["experiment"] == "sync-check" and data["config"]["sizes"] == [5, 3]
    assert [entry["losses"] for entry in data["replay"]["runs"]] == [
        list(fresh["differences"][layer].values()) for layer in sync_check.LAYERS]
    assert f"wrote {out}" in printed and "| moving variance |" in printed
    pages.sync_check_table(COMMITTED)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + len(sync_check.QUANTITIES)
