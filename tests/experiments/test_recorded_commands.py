"""Every command a committed results file records still runs: its options still parse.

A results file names the command that makes it again (and a failed replay prints it), so an
option a command drops must keep parsing, or the files that record it must be made again.
"""

from __future__ import annotations

import shlex

import pytest

from bnref import results
from bnref.__main__ import build_parser
from bnref.experiments.harness import record

PREFIX = "python -m bnref "


def recorded_commands() -> list[tuple[str, str]]:
    found = set()
    for path in results.paths():
        data = record.load(path)
        runs = data.get("runs") if isinstance(data.get("runs"), dict) else {}
        commands = {data.get("command")} | {
            r.get("provenance", {}).get("command") for r in runs.values() if isinstance(r, dict)}
        for command in commands:
            if command and PREFIX in command:  # e.g. "THP_MEM_ALLOC_ENABLE=1 python -m bnref ..."
                found.add((path.name, command[command.index(PREFIX):]))
    return sorted(found)


COMMANDS = recorded_commands()


def test_the_results_files_record_commands():
    assert len({name for name, _ in COMMANDS}) >= 10


@pytest.mark.parametrize("name, command", COMMANDS, ids=[f"{n}:{i}" for i, (n, _) in
                                                         enumerate(COMMANDS)])
def test_a_recorded_command_still_parses(name, command):
    args = build_parser().parse_args(shlex.split(command)[len(PREFIX.split()):])
    assert args._run.__module__.startswith(("bnref.experiments", "bnref.doctor")), name


def test_a_dropped_option_is_caught():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["placement", "--no-such-option"])
