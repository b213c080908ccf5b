"""Run code blocks as a reader pasting them into a fresh Python session would.

Used by ``tests/site/test_copy_paste.py``; run as a script::

    python tests/copy_paste_runner.py JOBS.json OUT_DIR

``JOBS.json`` is a list of ``{"id", "blocks": [source, ...]}``. Each job runs in
a process of its own, with its own fresh ``__main__`` namespace, its blocks one
after the other; ``OUT_DIR/<id>.json`` receives, per block, what it wrote to
stdout and the exception it raised, if any. Each top-level statement is
compiled in ``"single"`` mode, as the interactive interpreter compiles what is
pasted into it, so a bare expression whose value is not ``None`` is displayed
(``sys.displayhook``), exactly as a reader would see it.

Why fork: importing torch takes 5 to 10 s on the shared 2-core machine, and
importing ``bnref`` (which loads torchvision) about 1.5 s more, and there are
dozens of jobs. This process imports ``torch``, ``torchvision`` and ``bnref``
(nothing a block could see: no name is defined in any job's namespace, no
setting is changed, no random number is drawn) and then forks one child per
job, so each job starts from the state right after those imports in a new
process. A block must still import what it uses: its namespace is empty, so a
missing import is still a NameError. ``sys.path[0]``
and ``sys.argv`` are set as the interactive interpreter sets them (``''``: the
current directory: the reader's empty folder, in tests/site/test_copy_paste.py).
"""

from __future__ import annotations

import ast
import io
import json
import os
import sys
import time
import traceback
from contextlib import redirect_stdout

PARALLEL = int(os.environ.get("BNREF_COPY_PASTE_JOBS", "2"))
TIMEOUT_S = float(os.environ.get("BNREF_COPY_PASTE_TIMEOUT", "240"))


def run_block(source: str, namespace: dict, name: str) -> dict:
    """Execute one block; return what it printed and the error it raised."""
    buffer = io.StringIO()
    error = None
    try:
        tree = ast.parse(source, filename=name, mode="exec")
        with redirect_stdout(buffer):
            for statement in tree.body:
                exec(compile(ast.Interactive(body=[statement]), name, "single"), namespace)
    except BaseException as err:  # noqa: BLE001 - report everything, SystemExit included
        error = {
            "type": type(err).__name__,
            "traceback": "".join(traceback.format_exception(err)),
        }
    return {"stdout": buffer.getvalue(), "error": error}


def child(job: dict, out_dir: str) -> None:
    err_path = os.path.join(out_dir, f"{job['id']}.stderr")
    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    sys.argv = [""]
    sys.path[0] = ""
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    results = []
    start = time.perf_counter()
    for i, source in enumerate(job["blocks"]):
        results.append(run_block(source, namespace, f"<block {i + 1}>"))
    sys.stdout.flush()
    sys.stderr.flush()
    with open(os.path.join(out_dir, f"{job['id']}.json"), "w", encoding="utf-8") as f:
        json.dump({"blocks": results, "seconds": time.perf_counter() - start}, f)


def main(jobs_path: str, out_dir: str) -> None:
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    import torch  # noqa: F401  (what every job inherits: see the docstring)
    import torchvision  # noqa: F401
    import bnref  # noqa: F401  (the installed copy, first on PYTHONPATH)

    pending = list(jobs)
    running: dict[int, tuple[dict, float]] = {}
    while pending or running:
        while pending and len(running) < PARALLEL:
            job = pending.pop(0)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    child(job, out_dir)
                except BaseException:  # noqa: BLE001
                    traceback.print_exc()
                    code = 1
                os._exit(code)
            running[pid] = (job, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for pid_, (job, started) in list(running.items()):
                if now - started > TIMEOUT_S:
                    os.kill(pid_, 9)
                    os.waitpid(pid_, 0)
                    del running[pid_]
                    write_failure(out_dir, job, f"timed out after {TIMEOUT_S:.0f} s")
            time.sleep(0.02)
            continue
        job, _ = running.pop(pid)
        if not os.path.exists(os.path.join(out_dir, f"{job['id']}.json")):
            write_failure(out_dir, job, f"the process ended with status {status} and no result")


def write_failure(out_dir: str, job: dict, message: str) -> None:
    with open(os.path.join(out_dir, f"{job['id']}.json"), "w", encoding="utf-8") as f:
        json.dump({"failure": message}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
