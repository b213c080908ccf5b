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
    "reproduce": "bnref.experiments.commands.reproduce",
    "activations": "bnref.experiments.commands.activations",
    "small-batch": "bnref.experiments.commands.small_batch",
    "moving-statistics": "bnref.experiments.commands.moving_statistics",
    "ghost-bn": "bnref.experiments.commands.ghost_bn",
    "inference": "bnref.experiments.commands.inference",
    "placement": "bnref.experiments.commands.placement",
    "dropout": "bnref.experiments.commands.dropout",
    "lr-sweep": "bnref.experiments.commands.lr_sweep",
    "init-scale": "bnref.experiments.commands.init_scale",
    "convergence": "bnref.experiments.commands.convergence",
    "regularization": "bnref.experiments.commands.regularization",
    "throughput": "bnref.experiments.commands.throughput",
    "bench": "bnref.experiments.commands.bench",
    "figures": "bnref.experiments.report.figures",
    "validate": "bnref.experiments.commands.validate",
    "ablation": "bnref.experiments.commands.ablation",
    "ddp": "bnref.experiments.commands.ddp",
    "sync-check": "bnref.experiments.commands.sync_check",
    "replay": "bnref.experiments.commands.replay",
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
