"""Time batch normalization implementations against F.batch_norm.

Times seven implementations of the same batch normalization with
``torch.utils.benchmark``: the note's verbatim ``batch_norm``
(``bnref.note``), bnref's readable one (``bnref.batch_norm``), the fast one
(``bnref.speed.fast.batch_norm``: single-pass statistics, analytic backward), the
C++ kernels (``bnref.speed.fused.batch_norm``: the same maths, one kernel each way;
CPU only), the readable and the fast one under ``torch.compile``
(``bnref.speed.compiled.batch_norm``, ``bnref.speed.compiled.fast_batch_norm``) and
PyTorch's ``F.batch_norm`` — on a small ``(256, 16, 8, 8)`` and a large
``(128, 64, 56, 56)`` float32 input, in two modes:

  train   forward + backward with batch statistics (moving statistics updated);
          the backward is ``torch.autograd.grad`` of ``Y`` for ``X``, gamma
          and beta, so no ``.grad`` is accumulated between runs.
  eval    forward only, under ``torch.no_grad()``, with the moving statistics.

Byte model for GB/s (the memory-traffic lower bound, E = elements, 4 bytes):
  train   read X, write Y, read dY, write dX = 16 E bytes. Reading X a second
          time (every implementation does: statistics first, normalization
          after, and again in the backward) is NOT counted.
  eval    read X, write Y = 8 E bytes.
GB/s = bytes / median time; per-channel vectors are ignored.

Every implementation is called once before it is timed (for the compiled ones
that call compiles; its seconds are recorded as ``first_call_s``). The
implementations are then timed in ``--rounds`` interleaved rounds, and each
row keeps the median over the rounds, so that a slow minute of a shared
machine does not fall on one implementation only.

``--retain-memory`` asks glibc's allocator to keep freed memory in the
process (``mallopt``: no ``mmap`` for large blocks, no trimming), as caching
allocators do. By default glibc returns every freed block above 32 MiB to the
kernel, so each new large temporary is fresh memory whose pages fault, and
are zeroed by the kernel, on first write. PyTorch has its own switch for this
cost: with ``THP_MEM_ALLOC_ENABLE=1`` in the environment (read once, when
PyTorch first allocates, so it must be set before Python starts), blocks of
2 MiB and more are aligned and ``madvise``d for transparent huge pages, so a
new tensor faults once per 2 MiB instead of once per 4 KiB. The bench records
the variable and the kernel's THP mode, and names its file
``bench-cpu-thp.json``.

Writes a JSON file (default bench-<device>.json, see
:func:`bnref.experiments.harness.record.results_dir`) with the machine, versions,
threads, command, date and a hash of the timed code (``timed_code``: a
timing cannot be replayed, so the test suite reports when that code has
changed since). The page's tables come from
:func:`bnref.experiments.report.pages.bench_table`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import sys
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from bnref import note
from bnref.experiments.harness import record
from bnref.experiments.harness.timing import (
    huge_pages, load_average, peak_gb_per_s, retain_freed_memory,
)
from bnref.norm.batch_norm import batch_norm as readable_batch_norm
from bnref.speed import IMPLEMENTATIONS
from bnref.speed import fast

SHAPES = {"small": (256, 16, 8, 8), "large": (128, 64, 56, 56)}
#: the note's function, the reference, every registered faster form, and PyTorch's
IMPLS = ("note", "bnref", *IMPLEMENTATIONS, "torch")
#: the implementations that ``torch.compile`` builds on their first call
COMPILED_IMPLS = tuple(n for n in IMPLEMENTATIONS if n.startswith("compiled"))
#: the implementations that run op by op (``full_size_ops`` can record them)
EAGER_IMPLS = tuple(n for n in IMPLS if n not in COMPILED_IMPLS)
#: the implementations with kernels for the CPU only (elsewhere they would time a fallback)
CPU_ONLY_IMPLS = tuple(n for n, i in IMPLEMENTATIONS.items() if i.devices == ("cpu",))
#: the code whose speed this command measures (hashed into the results file)
TIMED_MODULES = ("bnref.speed", "bnref.norm", "bnref.note")
MODES = ("train", "eval")
EPS, MOMENTUM = 1e-5, 0.9  # d2l convention; torch's momentum is 1 - 0.9


def lower_bound_bytes(shape: tuple[int, ...], mode: str, itemsize: int = 4) -> int:
    """Bytes that must move at least: 4 tensors in train (X, Y, dY, dX), 2 in eval."""
    elements = 1
    for n in shape:
        elements *= n
    return (4 if mode == "train" else 2) * elements * itemsize


def make_call(impl: str, mode: str, shape: tuple[int, ...], device: str):
    """A zero-argument function running one forward (+ backward in train)."""
    C = shape[1]
    g = torch.Generator(device="cpu").manual_seed(0)
    X = torch.randn(shape, generator=g).to(device)
    dY = torch.randn(shape, generator=g).to(device)
    pshape = (1, C, 1, 1) if impl == "note" else (C,)  # the note needs 4-D parameters
    gamma = torch.ones(pshape, device=device, requires_grad=True)
    beta = torch.zeros(pshape, device=device, requires_grad=True)
    mean, var = torch.zeros(pshape, device=device), torch.ones(pshape, device=device)
    X.requires_grad_(mode == "train")

    function = (readable_batch_norm if impl == "bnref"
                else IMPLEMENTATIONS[impl].load()[0] if impl in IMPLEMENTATIONS else None)

    def forward():
        if impl == "note":  # mode from torch.is_grad_enabled(), as in the note
            return note.batch_norm(X, gamma, beta, mean, var, EPS, MOMENTUM)[0]
        if impl == "torch":
            return F.batch_norm(X, mean, var, gamma, beta, training=mode == "train",
                                momentum=1 - MOMENTUM, eps=EPS)
        return function(X, gamma, beta, mean, var, EPS, MOMENTUM, training=mode == "train")[0]

    if mode == "train":
        def call():
            torch.autograd.grad(forward(), (X, gamma, beta), dY)
    else:
        def call():
            with torch.no_grad():
                forward()
    return call


def full_size_ops(impl: str, mode: str, shape: tuple[int, ...] = (8, 4, 6, 6)) -> list[str]:
    """The ATen ops that write a new tensor as large as ``X`` during one call, in order.

    Each such tensor is written to memory at least once (and, with the
    default allocator, faulted in first): a full pass, plus the reads of the
    op's inputs. A tensor is counted once, at its first write, so that
    further in-place operations on it (the fast variant's, which run slice by
    slice while the slice is in cache) are not counted again; views,
    allocations without a write and reductions to per-channel vectors are not
    counted. Recorded with a ``TorchDispatchMode`` on a small input, with the
    fast variant cutting the batch into one-sample slices as it does for the
    large shape, so that its slice-sized temporaries are not counted: the
    count does not depend on the size.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    numel = 1
    for n in shape:
        numel *= n
    allocations = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops, self.written = [], set()
            self.alive = []  # freed memory would be reused: keep outputs until the end

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            outs = out if isinstance(out, (tuple, list)) else (out,)
            if func.is_view or func.__name__.split(".")[0] in allocations:
                return out
            for o in outs:
                if not isinstance(o, torch.Tensor):
                    continue
                storage = o.untyped_storage()
                if (storage.nbytes() >= numel * o.element_size()
                        and storage.data_ptr() not in self.written):
                    self.written.add(storage.data_ptr())
                    self.alive.append(o)
                    self.ops.append(func.__name__)
            return out

    call = make_call(impl, mode, shape, "cpu")
    with mock.patch.object(fast, "SLICE_ELEMENTS", 1), \
            mock.patch.object(fast, "WHOLE_BATCH_ELEMENTS", 0), Record() as record:
        call()
    return record.ops


def measure(call, threads: int, min_run_time: float) -> benchmark.Measurement:
    timer = benchmark.Timer(stmt="call()", globals={"call": call}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time)


def machine(device: str) -> dict:
    """The record helper's machine facts, plus the GPU's for ``cuda``."""
    info = {**record.machine(device), "cpu_count": os.cpu_count(),
            "python": platform.python_version()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["peak_gb_per_s"] = peak_gb_per_s()
    return info


def run_bench(device: str, shapes: dict, threads: int, min_run_time: float,
              impls=IMPLS, modes=MODES, rounds: int = 3, log=print) -> list[dict]:
    """Time every implementation; ratios are to ``torch`` (F.batch_norm) of the same row.

    For each shape and mode: one untimed first call per implementation, then
    ``rounds`` rounds that time each implementation in turn; a row keeps the
    median of its rounds' medians. An implementation other than ``torch``
    whose first call raises (``compiled`` without a working compiler, say) is
    not timed: its row holds the error instead, and the others go on.
    """
    import statistics
    import time

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows = []
    for shape_name, shape in shapes.items():
        for mode in modes:
            calls, first = {}, {}
            for impl in impls:
                calls[impl] = make_call(impl, mode, shape, device)
                start = time.perf_counter()
                try:
                    calls[impl]()  # compiles the compiled ones; warms caches for all
                    sync()
                except Exception as error:
                    if impl == "torch":
                        raise
                    del calls[impl]
                    message = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                    log(f"  {shape_name:5} {mode:5} {impl:13} failed, not timed: {message}")
                    rows.append({"impl": impl, "shape": list(shape), "shape_name": shape_name,
                                 "mode": mode, "error": message})
                    continue
                first[impl] = time.perf_counter() - start
            timed = {impl: [] for impl in calls}
            for _ in range(rounds):
                for impl in calls:
                    timed[impl].append(measure(calls[impl], threads, min_run_time))
            medians = {impl: statistics.median(m.median for m in ms) for impl, ms in timed.items()}
            for impl, ms in timed.items():
                nbytes = lower_bound_bytes(shape, mode)
                log(f"  {shape_name:5} {mode:5} {impl:13} {medians[impl] * 1e3:10.3f} ms  "
                    f"(rounds: {' '.join(f'{m.median * 1e3:.3f}' for m in ms)})")
                rows.append({
                    "impl": impl, "shape": list(shape), "shape_name": shape_name, "mode": mode,
                    "median_s": medians[impl],
                    "round_medians_s": [m.median for m in ms],
                    "iqr_s": statistics.median(m.iqr for m in ms),
                    "runs": sum(len(m.times) for m in ms),
                    "first_call_s": first[impl],
                    "ratio_to_torch": medians[impl] / medians["torch"] if "torch" in medians else None,
                    "lower_bound_bytes": nbytes, "gb_per_s": nbytes / medians[impl] / 1e9,
                })
    return rows


def format_table(results: dict) -> str:
    """The bench table: one line per shape, mode and implementation."""
    lines = [f"{'shape':14} {'mode':5} {'impl':13} {'median ms':>10} {'IQR ms':>8} {'runs':>4} "
             f"{'x torch':>7} {'GB/s':>6}"]
    for r in results["rows"]:
        shape = "x".join(str(n) for n in r["shape"])
        if "error" in r:
            lines.append(f"{shape:14} {r['mode']:5} {r['impl']:13} failed: {r['error']}")
            continue
        lines.append(f"{shape:14} {r['mode']:5} {r['impl']:13} {r['median_s'] * 1e3:10.3f} "
                     f"{r['iqr_s'] * 1e3:8.3f} {r['runs']:4} {r['ratio_to_torch']:7.2f} "
                     f"{r['gb_per_s']:6.2f}")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="where to run (default: cpu)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small shape only, short timings (a few seconds)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="intra-op CPU threads for the timers (default: %(default)s)")
    parser.add_argument("--impls", default=",".join(IMPLS),
                        help="comma-separated implementations to time; torch is always "
                             "included, as the reference (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved timing rounds per implementation; each row keeps "
                             "the median (default: 3, --quick: 1)")
    parser.add_argument("--retain-memory", action="store_true",
                        help="keep freed memory in the process (glibc mallopt), so that large "
                             "temporaries do not page-fault; recorded as the allocator")
    parser.add_argument("--min-run-time", type=float, default=None,
                        help="seconds per measurement (default: 1, --quick: 0.02)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file to write (default: bench-<device>.json, "
                             "bench-cpu-retain.json with --retain-memory, "
                             "bench-cpu-thp.json under THP_MEM_ALLOC_ENABLE=1; "
                             "'-' writes none). " + record.WHERE_HELP)


def select_impls(names: str, device: str, log=print) -> list[str]:
    """The implementations ``--impls`` names, in table order, ``torch`` always among them.

    Off the CPU the CPU-only ones are left out, with a line that says so: there
    they would time their fallback (``bnref.speed.fast``) under another name.

    Examples:
        >>> select_impls("fused,note", "cpu")
        ['note', 'fused', 'torch']
        >>> select_impls("fast,fused", "cuda")
        not timed on cuda: fused (CPU kernels; elsewhere they run bnref.speed.fast, which is timed as fast)
        ['fast', 'torch']
    """
    wanted = [i for i in names.split(",") if i]
    unknown = sorted(set(wanted) - set(IMPLS))
    if unknown:
        raise SystemExit(f"--impls: unknown implementation(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(IMPLS)}")
    impls = [i for i in IMPLS if i in wanted or i == "torch"]
    if device != "cpu":
        skipped = [i for i in impls if i in CPU_ONLY_IMPLS]
        if skipped:
            log(f"not timed on {device}: {', '.join(skipped)} (CPU kernels; elsewhere "
                f"they run bnref.speed.fast, which is timed as fast)")
        impls = [i for i in impls if i not in CPU_ONLY_IMPLS]
    return impls


def run(args: argparse.Namespace) -> int:
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench --device cuda: no CUDA device (torch.cuda.is_available() is False)",
              file=sys.stderr)
        return 2
    impls = select_impls(args.impls, args.device)
    shapes = {"small": SHAPES["small"]} if args.quick else SHAPES
    min_run_time = args.min_run_time or (0.02 if args.quick else 1.0)
    rounds = args.rounds or (1 if args.quick else 3)
    allocator = "default"
    if args.retain_memory:
        if args.device != "cpu":
            raise SystemExit("--retain-memory is about the CPU allocator; use it with --device cpu")
        if not retain_freed_memory():
            raise SystemExit("--retain-memory needs glibc (Linux); this is "
                             f"{platform.system()} {platform.libc_ver()}")
        allocator = "glibc, freed memory retained (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2**31-1)"
    thp = huge_pages()
    if thp["requested"]:
        if args.device != "cpu":
            raise SystemExit("THP_MEM_ALLOC_ENABLE is about PyTorch's CPU allocator; "
                             "unset it for --device cuda")
        if thp["kernel"] in (None, "never"):
            raise SystemExit("THP_MEM_ALLOC_ENABLE=1, but the kernel's transparent huge pages "
                             f"are {thp['kernel'] or 'absent'} "
                             "(/sys/kernel/mm/transparent_hugepage/enabled): nothing would change")
        allocator += (f"; PyTorch THP_MEM_ALLOC_ENABLE=1 (transparent huge pages for blocks "
                      f">= 2 MiB, kernel mode {thp['kernel']})")
    start = _dt.datetime.now(_dt.timezone.utc)
    load_before = load_average()
    print(f"bench on {args.device}, {args.threads} threads, torch {torch.__version__}, "
          f"min_run_time {min_run_time} s, {rounds} round(s), allocator: {allocator}")
    rows = run_bench(args.device, shapes, args.threads, min_run_time, impls=impls,
                     rounds=rounds)
    end = _dt.datetime.now(_dt.timezone.utc)
    results = {
        "command": ("THP_MEM_ALLOC_ENABLE=1 " if thp["requested"] else "")
                   + "python -m bnref bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"]
                                                        else sys.argv[1:]),
        "date": start.isoformat(timespec="seconds"),
        "wall_s": round((end - start).total_seconds(), 1),
        "device": args.device, "dtype": "float32", "threads": args.threads,
        "torch": torch.__version__, "machine": machine(args.device),
        "git_commit": record.git_commit(),
        "timed_code": {"modules": list(TIMED_MODULES), "hash": record.code_hash(*TIMED_MODULES)},
        "load_average_before": load_before, "load_average_after": load_average(),
        "min_run_time_s": min_run_time, "rounds": rounds, "allocator": allocator,
        "huge_pages": thp,
        "byte_model": {"train": "read X + write Y + read dY + write dX (X read once)",
                       "eval": "read X + write Y"},
        "rows": rows,
    }

    print(format_table(results))
    default_name = (f"bench-{args.device}" + ("-retain" if args.retain_memory else "")
                    + ("-thp" if thp["requested"] else ""))
    out = args.out or record.results_dir() / f"{default_name}.json"
    if str(out) != "-":
        record.write_json(out, results)
        print(f"wrote {out}")
    return 0
