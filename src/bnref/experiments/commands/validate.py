"""Time the full test suite and the strict site build (run inside a checkout).

    python -m bnref validate      # writes src/bnref/results/bench-validation.json

The page shows the file with :func:`bnref.experiments.report.pages.validation_table`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bnref.experiments.harness import record

__all__ = ["configure", "run", "validate"]


def validate(out: Path) -> int:
    """Time the full test suite and the strict site build; write their wall times to ``out``.

    Runs ``python -m pytest -q`` and ``mkdocs build --strict`` from the
    repository root, one after the other, and keeps each one's last summary line.
    """
    import subprocess
    import tempfile
    import time

    root = record.checkout_root()
    if root is None:
        raise SystemExit("validate runs the project's own tests and build: run it inside a "
                         "checkout of the project")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    site = tempfile.mkdtemp(prefix="bnref-site-")
    commands = [
        ("pytest", [sys.executable, "-m", "pytest", "-q", "--durations=15"], 180),
        ("build", [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", site], 60),
    ]
    steps, failed = [], 0
    load_before = [round(x, 2) for x in os.getloadavg()]
    for name, command, target in commands:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        summary = next((line for line in reversed(lines)
                        if " passed" in line or " failed" in line or "Documentation built" in line),
                       lines[-1] if lines else "")
        shown = " ".join(["python" if c == sys.executable else c for c in command])
        shown = shown.replace(site, "<tmp>")
        steps.append({"name": name, "command": shown, "wall_s": round(wall, 1),
                      "target_s": target, "returncode": done.returncode, "result": summary})
        print("\n".join(lines[-40:]))  # the slowest tests, failures, the summary
        print(f"{name}: {wall:.1f} s (rc {done.returncode}) {summary}")
        failed |= done.returncode != 0
    import torch

    result = {"date": record.now(), "command": record.command_line(),
              "machine": f"{record.cpu_name()}, {os.cpu_count()} cores (shared)",
              "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "commit": record.git_commit(), "load_average_before": load_before,
              "load_average_after": [round(x, 2) for x in os.getloadavg()], "steps": steps}
    record.write_json(out, result)
    print(f"wrote {out}")
    return int(failed)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file (default: bench-validation.json). " + record.WHERE_HELP)


def run(args: argparse.Namespace) -> int:
    return validate(args.out or record.results_dir() / "bench-validation.json")
