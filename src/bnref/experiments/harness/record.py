"""The record helper every command writes through: where results go, what produced them.

A results file is one JSON object::

    {"experiment": "small-batch",
     "command": "python -m bnref small-batch --seeds 3",
     "config": {...},            # the settings that define the runs
     "runs": {"bn/b=2/seed=0": {..., "provenance": {...}}, ...},
     "provenance": {...},        # of the invocation that wrote the file last
     "replay": {...}}            # optional: a short prefix to re-run (see replay())

:class:`Record` writes the file again after every finished run, so a
command stopped half-way leaves every finished run on disk; run again with
the same settings it skips them and goes on (``resume``). Each run carries
its own provenance (machine, versions, commit, date, seconds), because the
runs of one file may come from several invocations, even several machines.

Where files go (:func:`results_dir`): inside a checkout of the project
(a folder with ``mkdocs.yml`` and ``src/bnref``, found from the current
folder upwards) the commands write the shipped results, ``src/bnref/results/``
(:mod:`bnref.results`), and the site's ``docs/figures/``; anywhere else
``./bnref-results/``. ``--out`` overrides both. Nothing is ever written next
to an installed package.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch
import torchvision

import bnref

__all__ = ["Record", "checkout_root", "results_dir", "figures_dir", "machine", "versions",
           "git_commit", "command_line", "provenance", "load", "write_json", "code_hash"]


def checkout_root(start: str | os.PathLike | None = None) -> Path | None:
    """The project checkout containing ``start`` (default: the current folder), or ``None``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "mkdocs.yml").is_file() and (folder / "src" / "bnref").is_dir():
            return folder
    return None


def results_dir() -> Path:
    """Where the commands write: ``src/bnref/results`` of the checkout we are in (the files the
    package ships, :mod:`bnref.results`), else ``./bnref-results``."""
    root = checkout_root()
    return root / "src" / "bnref" / "results" if root else Path.cwd() / "bnref-results"


def figures_dir() -> Path:
    """``docs/figures`` of the checkout we are in, else ``./bnref-results``."""
    root = checkout_root()
    return root / "docs" / "figures" if root else Path.cwd() / "bnref-results"


WHERE_HELP = ("Inside a checkout of the project the default is the shipped results, "
              "src/bnref/results (figures: docs/figures); anywhere else ./bnref-results/.")


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (or what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device | str = "cpu") -> dict:
    """What ran it: CPU (and GPU), the instruction set PyTorch uses, cores, threads, OS."""
    device = torch.device(device)
    facts = {"cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
             "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
             "platform": platform.platform(), "device": str(device)}
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "bnref": bnref.__version__}


@functools.cache
def git_commit() -> str | None:
    """The checkout's commit (``+dirty-src`` if tracked code under ``src/`` has changes; the
    results files of ``src/bnref/results`` do not count), or ``None`` outside one.

    Read once per process, at its first call: the code a command runs is the
    code it imported, whatever is committed while it runs.
    """
    root = checkout_root(Path(__file__).parent)
    if root is None:
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "src", ":(exclude)src/bnref/results"],  # code, not results
                               cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty-src" if dirty else "")


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed: ``python -m bnref ...``."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m bnref", *map(shlex.quote, argv)])


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def provenance(device: torch.device | str = "cpu") -> dict:
    return {"machine": machine(device), "versions": versions(), "commit": git_commit(),
            "command": command_line(), "date": now()}


def code_hash(*modules: str) -> str:
    """A short hash of the source files of ``modules`` (for timing files: which code was timed)."""
    h = hashlib.sha256()
    for name in sorted(modules):
        mod = importlib.import_module(name)
        files = [Path(mod.__file__)]
        if files[0].name == "__init__.py":  # a package: every source file in it
            files = sorted(p for p in files[0].parent.rglob("*") if p.suffix in (".py", ".cpp"))
        for f in files:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def load(path: str | os.PathLike) -> dict:
    """Read a results file, with an error that says which file and which command makes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no results file at {path}; the commands write it (python -m bnref --help), "
            f"and the committed ones ship with the package: bnref.results.path(name)")
    return json.loads(path.read_text(encoding="utf-8"))


class Record:
    """One results file, written again after every finished run; resumable.

    Args:
        path: the JSON file.
        experiment: the command's name.
        config: the settings that define the runs; a file with other
            settings is not resumed but refused (use another ``--out``, or
            ``fresh=True`` to start over).
        device: for the provenance.
        fresh: ignore an existing file.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.json"
        >>> rec = Record(path, "demo", {"lr": 0.1})
        >>> rec.add("seed=0", {"loss": 0.5})
        >>> Record(path, "demo", {"lr": 0.1}).done("seed=0")  # doctest: +ELLIPSIS
        resuming .../r.json: 1 runs already done
        True
    """

    def __init__(self, path: str | os.PathLike, experiment: str, config: dict, *,
                 device: torch.device | str = "cpu", fresh: bool = False) -> None:
        self.path, self.device = Path(path), device
        self._began = time.perf_counter()
        git_commit()  # the commit of the code this process imported, read now
        config = json.loads(json.dumps(config))  # as it will read back (tuples -> lists)
        old = load(self.path) if self.path.is_file() and not fresh else None
        if old is not None and (old.get("experiment") != experiment
                                or old.get("config") != config):
            raise SystemExit(
                f"{self.path} holds results of other settings ({old.get('experiment')}: "
                f"{old.get('config')}); given {experiment}: {config}. Use another --out, or "
                f"--fresh to replace it.")
        self.data = old or {"experiment": experiment, "command": command_line(),
                            "config": config, "runs": {}}
        self._added = 0  # runs this invocation finished
        self._previous_wall = float(self.data.get("wall_seconds", 0.0))
        if old is not None and self.data["runs"]:
            print(f"resuming {self.path}: {len(self.data['runs'])} runs already done",
                  flush=True)

    @property
    def runs(self) -> dict:
        return self.data["runs"]

    def done(self, key: str) -> bool:
        return key in self.data["runs"]

    def add(self, key: str, result: dict, seconds: float | None = None) -> None:
        """Store one finished run under ``key`` (with its provenance) and write the file."""
        self._added += 1
        self.data["runs"][key] = {**result, "provenance": {
            **provenance(self.device), **({"seconds": round(seconds, 2)} if seconds else {})}}
        self.save()

    def set(self, field: str, value) -> None:
        """A top-level field (``replay``, a summary ...), written at the next save."""
        self.data[field] = value

    @property
    def added(self) -> int:
        """How many runs this invocation finished (0: everything was resumed)."""
        return self._added

    def save(self) -> None:
        self.data["provenance"] = provenance(self.device)
        self.data["wall_seconds"] = round(
            self._previous_wall + time.perf_counter() - self._began, 1)
        write_json(self.path, self.data)


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write a results file atomically: an interrupted write never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
