"""Numbers that cannot go stale: replay a short prefix of a results file's runs.

A results file of training runs carries, under ``replay``, the settings of a
few of its runs (one seed each) and the loss of each of their first steps,
computed on one thread on the CPU. :func:`check` recomputes those losses with
the code as it is now, through the same experiment's ``replay_losses`` and the
one training loop (:func:`bnref.d2l.train.fit`), and compares. The test suite
runs :func:`check` on every committed file (``tests/test_replay.py``): a file
whose numbers the code no longer produces fails, with the command that makes
it again.

The tolerance absorbs what differs between machines (the vector instruction
set changes how float32 sums are rounded) but not a change of the arithmetic:
the suite shows both (``tests/test_replay.py``). SGD at the note's learning
rate amplifies a rounding difference step after step, so the prefix is short:
LeNet-BN's losses under AVX2 and AVX-512 kernels agree to about 1e-5 (relative)
for the first 6 steps and drift to 1e-3 by step 30; BN at batch 2 amplifies it
much faster, so the small-batch file replays its largest batch.

Timing files cannot be replayed. They record ``code_hash``, a hash of the
source of the code they timed (:func:`bnref.experiments.record.code_hash`);
:func:`stale_timings` lists those whose code has changed since, and the suite
reports them without failing.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from pathlib import Path

import torch

from bnref.experiments import record

__all__ = ["RTOL", "ATOL", "replay_record", "check", "stale_timings", "one_thread"]

#: relative and absolute tolerance on each replayed loss
RTOL, ATOL = 1e-4, 1e-6


@contextlib.contextmanager
def one_thread():
    """Run the block on one torch thread (the order of float sums then depends only on the
    instruction set, not on how the work was split)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def replay_record(module: str, specs: list[dict], steps: int,
                  labels: list[str] | None = None) -> dict:
    """The ``replay`` entry of a results file: for each run ``spec``, its first ``steps`` losses
    computed now by ``module.replay_losses(spec, steps)`` on one thread.

    A file whose replayed numbers are not per-step losses names them in ``labels`` (one per
    number), and a failed replay says which one differs."""
    mod = importlib.import_module(module)
    with one_thread():
        runs = [{"run": spec, "losses": mod.replay_losses(spec, steps)} for spec in specs]
    entry = {"module": module, "steps": steps, "threads": 1, "rtol": RTOL, "atol": ATOL,
             "machine": record.machine("cpu"), "commit": record.git_commit(), "runs": runs}
    if labels is not None:
        if len(labels) != steps:
            raise ValueError(f"{len(labels)} labels for {steps} replayed numbers")
        entry["labels"] = list(labels)
    return entry


def check(path: str | Path) -> list[str]:
    """Replay a results file; return what differs (empty when every loss is within tolerance).

    Raises ``ValueError`` for a training-results file without replay data.
    """
    path = Path(path)
    data = record.load(path)
    replay = data.get("replay")
    if not replay:
        raise ValueError(f"{path} has no 'replay' entry: rerun `{data.get('command')}`")
    mod = importlib.import_module(replay["module"])
    problems = []
    with one_thread():
        for entry in replay["runs"]:
            now = mod.replay_losses(entry["run"], replay["steps"])
            for step, (then, new) in enumerate(zip(entry["losses"], now), start=1):
                if not math.isclose(then, new, rel_tol=RTOL, abs_tol=ATOL):
                    what = replay["labels"][step - 1] if "labels" in replay else f"step {step} loss"
                    problems.append(
                        f"{path.name}: run {entry['run']}: {what} {new!r} now, "
                        f"{then!r} in the file (tolerance rel {RTOL}, abs {ATOL}). The code "
                        f"no longer produces this file's numbers; make it again with: "
                        f"{data.get('command')}")
                    break
    return problems


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
