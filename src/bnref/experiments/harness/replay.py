"""Numbers that cannot go stale, on any machine: replay a short prefix of a results file's runs.

A results file of training runs carries, under ``replay``, the settings of a
few of its runs (one seed each) and the loss of each of their first steps.
Those losses are not the float32 numbers of the runs: they are the same runs
(same seed, initialization, data order, dropout masks) recomputed in
**float64, on one thread** (:func:`reference_arithmetic`). :func:`check`
recomputes them with the code as it is now, through the experiment's
``replay_losses`` and the one training loop (:func:`bnref.d2l.train.fit`), and
compares them at a tolerance near float64 rounding. The test suite runs
:func:`check` on every committed file (``tests/experiments/test_replay.py``): a file whose
numbers the code no longer produces fails, with the command that makes it again.

Why float64: the CPU decides how float32 sums are split into vector lanes
(AVX2 or AVX-512 in PyTorch's kernels; MKL and oneDNN choose their own from
the CPU itself), and SGD at the note's learning rates amplifies the last-bit
differences step after step: after 6 steps float32 losses differ by up to
3e-4 (relative) between an AVX2 and an AVX-512 machine. Rounding in float64 is
2^29 times finer: measured with every kernel set this project can select
(PyTorch's ``ATEN_CPU_CAPABILITY``, oneDNN's ``ONEDNN_MAX_CPU_ISA``, MKL's
``MKL_ENABLE_INSTRUCTIONS``: AVX-512, AVX2, and the non-vectorized default with
SSE4.1/SSE4.2), the replayed losses of every committed file agree within
3e-12 (relative). The tolerance, :data:`RTOL` = 1e-9, leaves a margin of
several hundred above that, and ten thousand times below a small change of the
arithmetic: the batch variance divided by m - 1 instead of m moves LeNet-BN's
first loss by 1e-5 (``tests/experiments/test_replay.py`` shows both). What a run draws at random is drawn the
same way on every CPU: PyTorch's own generator for the initialization, the data
order and the noise, and :class:`bnref.models.ReproducibleDropout` for the
dropout masks (``nn.Dropout`` draws them with MKL on Intel CPUs only).

Timing files cannot be replayed. They record ``code_hash``, a hash of the
source of the code they timed (:func:`bnref.experiments.harness.record.code_hash`);
:func:`stale_timings` lists those whose code has changed since, and the suite
reports them without failing.

``python -m bnref replay`` (:mod:`bnref.experiments.commands.replay`) checks the
shipped results on this machine; ``--record`` writes the replay entries again.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
from pathlib import Path

import torch

from bnref.experiments.harness import record

__all__ = ["DTYPE", "DTYPE_NAME", "RTOL", "ATOL", "reference_arithmetic", "one_thread", "replay_record",
           "is_current", "check", "rerecord", "stale_timings"]

#: the dtype every replay computes in, and its name in a results file
DTYPE = torch.float64
DTYPE_NAME = "float64"
#: relative and absolute tolerance on each replayed number
RTOL, ATOL = 1e-9, 1e-12


@contextlib.contextmanager
def one_thread():
    """Run the block on one torch thread (the order of float sums then depends only on the
    kernels, not on how the work was split between threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def reference_arithmetic():
    """The replay's arithmetic for the block: one torch thread, and float64 as torch's default
    dtype, so that the models an experiment builds inside it are float64 (and
    :func:`bnref.d2l.train.fit` gives them float64 minibatches)."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    try:
        with one_thread():
            yield
    finally:
        torch.set_default_dtype(dtype)


def replay_record(module: str, specs: list[dict], steps: int,
                  labels: list[str] | None = None) -> dict:
    """The ``replay`` entry of a results file: for each run ``spec``, its first ``steps`` losses
    computed now by ``module.replay_losses(spec, steps)`` under :func:`reference_arithmetic`.

    A file whose replayed numbers are not per-step losses names them in ``labels`` (one per
    number), and a failed replay says which one differs."""
    if labels is not None and len(labels) != steps:
        raise ValueError(f"{len(labels)} labels for {steps} replayed numbers")
    mod = importlib.import_module(module)
    with reference_arithmetic():
        runs = [{"run": spec, "losses": mod.replay_losses(spec, steps)} for spec in specs]
    entry = {"module": module, "steps": steps, "dtype": DTYPE_NAME,
             "threads": 1, "rtol": RTOL, "atol": ATOL, "machine": record.machine("cpu"),
             "commit": record.git_commit(), "runs": runs}
    if labels is not None:
        entry["labels"] = list(labels)
    return entry


def is_current(entry: dict | None, module: str, specs: list[dict], steps: int) -> bool:
    """Whether a file's replay ``entry`` replays these ``specs`` of ``module`` for ``steps``
    steps in the replay's dtype (so a resumed command need not compute it again)."""
    entry = entry or {}
    return (entry.get("module") == module and entry.get("steps") == steps
            and entry.get("dtype") == DTYPE_NAME
            and [e["run"] for e in entry.get("runs", [])] == json.loads(json.dumps(specs)))


def _replay_entry(path: Path, data: dict) -> dict:
    replay = data.get("replay")
    if not replay:
        raise ValueError(f"{path} has no 'replay' entry: rerun `{data.get('command')}`")
    if replay.get("dtype") != DTYPE_NAME:
        raise ValueError(
            f"{path}: its replay entry was computed in {replay.get('dtype', 'float32')}, which "
            f"depends on the machine; record it again in float64 with: "
            f"python -m bnref replay --record {path.name}")
    return replay


def check(path: str | Path) -> list[str]:
    """Replay a results file; return what differs (empty when every number is within tolerance).

    Raises ``ValueError`` for a file without replay data, or with replay data not in float64.
    """
    path = Path(path)
    data = record.load(path)
    replay = _replay_entry(path, data)
    mod = importlib.import_module(replay["module"])
    problems = []
    with reference_arithmetic():
        for entry in replay["runs"]:
            now = mod.replay_losses(entry["run"], replay["steps"])
            for step, (then, new) in enumerate(zip(entry["losses"], now), start=1):
                if not math.isclose(then, new, rel_tol=RTOL, abs_tol=ATOL):
                    what = replay["labels"][step - 1] if "labels" in replay else f"step {step} loss"
                    problems.append(
                        f"{path.name}: run {entry['run']}: {what} {new!r} now, "
                        f"{then!r} in the file (float64; tolerance rel {RTOL}, abs {ATOL}). The "
                        f"code no longer produces this file's numbers; make it again with: "
                        f"{data.get('command')}")
                    break
    return problems


def rerecord(path: str | Path) -> None:
    """Compute a file's replay entry again (same module, runs, steps and labels) and write it."""
    path = Path(path)
    data = record.load(path)
    old = data.get("replay")
    if not old:
        raise ValueError(f"{path} has no 'replay' entry to record again")
    data["replay"] = replay_record(old["module"], [e["run"] for e in old["runs"]], old["steps"],
                                   old.get("labels"))
    record.write_json(path, data)


def stale_timings(folder: str | Path) -> list[str]:
    """Timing files in ``folder`` whose timed code has changed since they were measured."""
    stale = []
    for path in sorted(Path(folder).glob("*.json")):
        data = record.load(path)
        timed = data.get("timed_code")
        if not timed:
            continue  # not a timing file
        if timed["hash"] is None:
            stale.append(f"{path.name}: {timed.get('note', 'no hash of the timed code')}; "
                         f"whether that code has changed is unknown; rerun `{data.get('command')}`")
        elif record.code_hash(*timed["modules"]) != timed["hash"]:
            stale.append(f"{path.name}: the code it timed ({', '.join(timed['modules'])}) has "
                         f"changed since; rerun `{data.get('command')}`")
    return stale
