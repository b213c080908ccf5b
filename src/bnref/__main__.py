"""Command line: ``python -m bnref <command>`` (or ``bnref <command>``).

Each command lives in its own module (of :mod:`bnref.experiments`, except ``doctor``, the
library's :mod:`bnref.doctor`), which defines ``configure(parser)`` to
add its options and ``run(args) -> int`` to carry it out; the first line of
the module's docstring is the command's one-line help.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> module implementing it
COMMANDS = {
    "reproduce": "bnref.experiments.reproduce",
    "small-batch": "bnref.experiments.small_batch",
    "ghost-bn": "bnref.experiments.ghost_bn",
    "inference": "bnref.experiments.inference",
    "placement": "bnref.experiments.placement",
    "dropout": "bnref.experiments.dropout",
    "lr-sweep": "bnref.experiments.lr_sweep",
    "init-scale": "bnref.experiments.init_scale",
    "throughput": "bnref.experiments.throughput",
    "bench": "bnref.experiments.bench",
    "figures": "bnref.experiments.figures",
    "validate": "bnref.experiments.validate",
    "ablation": "bnref.experiments.ablation",
    "ddp": "bnref.experiments.ddp",
    "sync-check": "bnref.experiments.sync_check",
    "replay": "bnref.experiments.replay",
    "doctor": "bnref.doctor",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bnref",
        description="bnref: batch normalization experiments, figures and benchmarks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or name).strip().splitlines()[0]
        command = sub.add_parser(name, help=doc, description=module.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
