"""Check that the results files' numbers are still what the code produces (or record them again).

``python -m bnref replay`` recomputes, in float64 on one thread, the first
steps of a few runs of every shipped results file that has a replay entry,
and compares them with the file (:mod:`bnref.experiments.harness.replay`
says how, and why this holds on any CPU). ``--record`` writes the entries
again instead: after a change that moves only the float64 fingerprint, never
the float32 numbers the pages print.

    python -m bnref replay                       # every shipped file
    python -m bnref replay lr-sweep-cpu.json     # one file (a path)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bnref import results
from bnref.experiments.harness import record
from bnref.experiments.harness.replay import check, rerecord

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path,
                        help="results files (default: every shipped file with a replay entry)")
    parser.add_argument("--record", action="store_true",
                        help="compute the replay entries again and write them into the files, "
                        "instead of checking them")


def run(args) -> int:
    files = args.files or [p for p in results.paths() if "replay" in record.load(p)]
    failed = 0
    for path in files:
        if args.record:
            rerecord(path)
            print(f"{path.name}: replay entry recorded")
            continue
        problems = check(path)
        failed += bool(problems)
        print(f"{path.name}: " + ("\n  ".join(["differs", *problems]) if problems else "ok"))
    return 1 if failed else 0
