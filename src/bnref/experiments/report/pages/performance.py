"""The performance page: the bench and validation files (``python -m bnref bench`` / ``validate``),
the site's own measurements (``bash .ci/lighthouse``), and how any timing file was made
(:func:`measured_on`). The page shows current results only: dates and commits stay in the files."""

from __future__ import annotations

from pathlib import Path

from bnref.experiments.commands.bench import COMPILED_IMPLS, format_table
from bnref.experiments.report.pages._common import load


def bench_table(path: str | Path, targets: bool = True) -> None:
    """Print a bench results file: its command, machine and settings, then the table, the
    compiled forms' first calls and (``targets``) whether :data:`TARGETS` are met.

    The page shows current results only: the file's date and commit stay in the file."""
    r = load(path)
    m = r["machine"]
    print(f"command: {r['command']} (wall {r['wall_s']} s)")
    print(f"machine: {m['cpu']}, {m['cpu_count']} cores" + (f", {m['gpu']}" if "gpu" in m else ""))
    print(f"torch {r['torch']}, {r['threads']} thread(s), {r['dtype']}, "
          f"load average before/after {r['load_average_before']} / {r['load_average_after']}")
    print(f"allocator: {r.get('allocator', 'default')}; median of {r.get('rounds', 1)} "
          f"interleaved round(s) of {r['min_run_time_s']} s per implementation")
    print(format_table(r))
    firsts = [f"{x['impl']:13} {'x'.join(map(str, x['shape'])):14} {x['mode']:5} "
              f"{x['first_call_s']:5.1f} s"
              for x in r["rows"] if x["impl"] in COMPILED_IMPLS and "first_call_s" in x]
    if firsts:
        print("first call of the compiled ones (compilation):")
        for line in firsts:
            print("  " + line)
    for line in target_lines(r) if targets else []:
        print(line)
    for t in r.get("lenet", []):
        print(f"LeNet-BN training, {t['variant']:5} BatchNorm: {t['examples_per_s']:7.0f} "
              f"examples/s ({t['speed_vs_torch']:.2f}x nn.BatchNorm; {t['steps']} steps "
              f"of {t['batch_size']})")


#: issue 7's CPU targets: (implementation, largest ratio to F.batch_norm), large shape, train
TARGETS = (("bnref", 2.0), ("fast", 1.0), ("fused", 1.0), ("compiled", 1.0),
           ("compiled_fast", 1.0))


#: on a GPU: within 1.1x of cuDNN, and at least 70 % of the memory bandwidth bound
GPU_TARGETS = (("fast", 1.1), ("compiled", 1.1), ("compiled_fast", 1.1))


GPU_BANDWIDTH_SHARE = 0.7


def target_lines(results: dict) -> list[str]:
    """Whether the targets are met, from the large-shape training rows."""
    lines = []
    large = {r["impl"]: r for r in results["rows"]
             if r["shape_name"] == "large" and r["mode"] == "train" and "error" not in r}
    gpu = results.get("device") == "cuda"
    for impl, limit in GPU_TARGETS if gpu else TARGETS:
        if impl in large:
            ratio = large[impl]["ratio_to_torch"]
            lines.append(f"target {impl} <= {limit:.1f}x torch (large, train): "
                         f"{ratio:.2f}x, {'met' if ratio <= limit else 'not met'}")
    peak = results.get("machine", {}).get("peak_gb_per_s")
    if gpu and peak:
        for impl in ("fast", "compiled", "compiled_fast", "torch"):
            if impl in large:
                share = large[impl]["gb_per_s"] / peak
                lines.append(f"target {impl} >= {GPU_BANDWIDTH_SHARE:.0%} of {peak:.0f} GB/s "
                             f"(large, train): {share:.0%}, "
                             f"{'met' if share >= GPU_BANDWIDTH_SHARE else 'not met'}")
    return lines


def validation_table(path: str | Path) -> None:
    """Print the recorded wall times of the full test suite and the strict build (the file's date
    and commit stay in the file)."""
    v = load(path)
    isa = f" ({v['cpu_capability']})" if v.get("cpu_capability") else ""
    print(f"command: {v.get('command', 'python -m bnref validate')}, machine: {v['machine']}{isa}")
    if "load_average_before" in v:
        print(f"load average before: {v['load_average_before']}, after: "
              f"{v['load_average_after']}")
    elif "load_average_after" in v:
        print(f"load average after: {v['load_average_after']}")
    for step in v["steps"]:
        over = step["wall_s"] - step["target_s"]
        verdict = "within the target" if over <= 0 else f"over the target by {over:.1f} s"
        print(f"{step['wall_s']:6.1f} s  (target {step['target_s']} s: {verdict})  {step['command']}")
        print(f"          {step['result']}")


def lighthouse_table(path: str | Path, labels: list[str] | None = None) -> None:
    """Print Lighthouse's scores, bytes and timings of one page, one line per labelled run.

    ``labels`` picks and orders the runs (default: every run in the file, in file order). Each
    run is the median of its Lighthouse runs by performance score; ``all perf`` lists every run's
    score, so the spread is visible. Timings are Lighthouse's simulated mobile timings (4x CPU
    slowdown, slow 4G), in ms. The commit of each run stays in the file.
    """
    r = load(path)
    runs = r["runs"]
    labels = list(runs) if labels is None else labels
    missing = [label for label in labels if label not in runs]
    if missing:
        raise KeyError(f"{path}: no run labelled {missing}; it has {sorted(runs)}")
    print(f"command: {r['command']}")
    first = runs[labels[0]]
    print(f"Lighthouse {first['versions']['lighthouse']}, "
          f"{first['form_factor']} emulation, {first['throttling']} throttling")
    width = max(len(label) for label in labels)
    print(f"{'run':{width}} {'page':22} {'served':6} {'perf':>4} {'all perf':24} {'a11y':>4} "
          f"{'KB':>5} {'FCP':>5} {'LCP':>5} {'TBT':>4} {'CLS':>5} {'build s':>7} {'load':>5}")
    for label in labels:
        run = runs[label]
        s, t = run["scores"], run["metrics_ms"]
        served = "plain" if run["served"].startswith("uncompressed") else "gzip"
        every = "/".join(f"{x:.2f}" for x in run["scores_all_runs"]["performance"])
        print(f"{label:{width}} {run['page'] or '/':22} {served:6} {s['performance']:4.2f} {every:24} "
              f"{s['accessibility']:4.2f} {run['total_bytes'] / 1000:5.0f} "
              f"{t['first-contentful-paint']:5} {t['largest-contentful-paint']:5} "
              f"{t['total-blocking-time']:4} {t['cumulative-layout-shift']:5.3f} "
              f"{run['build_strict_s']:7.1f} {run['machine']['load_average'][0]:5.1f}")


def measured_on(path: str | Path) -> None:
    """Print how a timing file was made: its command, machine and torch version.

    Reads both layouts: the bench's (``command``, ``machine``, ``torch`` at the top) and
    :class:`~bnref.experiments.harness.record.Record`'s (``provenance``). Dates and commits
    stay in the file.
    """
    r = load(path)
    if "provenance" in r:
        p = r["provenance"]
        m, torch_version = p["machine"], p["versions"]["torch"]
        command = r.get("command") or p["command"]
        cores, threads = m["cores"], m["torch_threads"]
    else:
        m, torch_version, command = r["machine"], r["torch"], r["command"]
        cores, threads = m["cpu_count"], r["threads"]
    isa = f" ({m['cpu_capability']})" if m.get("cpu_capability") else ""
    print(f"command: {command}")
    print(f"machine: {m['cpu']}{isa}, {cores} cores, {threads} torch thread(s); "
          f"torch {torch_version}")


def _allocator(results: dict) -> str:
    """The allocator setting of a bench file, in a word or two."""
    if results.get("huge_pages", {}).get("requested"):
        return "huge pages"
    if str(results.get("allocator", "default")).startswith("glibc"):
        return "retained"
    return "default"


def allocator_table(paths: list[str | Path], shape_name: str = "large",
                    modes: tuple[str, ...] = ("train", "eval")) -> None:
    """Print one shape's bench rows from several files side by side, one column per file's
    allocator setting (default, memory retained, transparent huge pages): the median in ms,
    then the ratio to ``F.batch_norm`` under the same setting; ``modes`` picks the rows."""
    files = [load(path) for path in paths]
    names = [_allocator(r) for r in files]
    rows = [{(x["impl"], x["mode"]): x for x in r["rows"]
             if x["shape_name"] == shape_name and x["mode"] in modes and "error" not in x}
            for r in files]
    shape = next("x".join(map(str, x["shape"])) for r in files for x in r["rows"]
                 if x["shape_name"] == shape_name)
    print(f"{shape_name} shape {shape}, {files[0]['dtype']}, {files[0]['threads']} thread(s); "
          f"the allocator settings:")
    for name, r in zip(names, files):
        print(f"  {name:10}  {r['command']}")
    for machine in dict.fromkeys(f"{r['machine']['cpu']}, {r['machine']['cpu_count']} cores"
                                 for r in files):
        print(f"machine: {machine}")
    width = max(10, *(len(n) for n in names))
    group = (width + 1) * len(names)
    print(f"{'':19}{'median ms':^{group}}  {'x torch':^{group}}".rstrip())
    print(f"{'mode':5} {'impl':13}" + "".join(f" {n:>{width}}" for n in names) + " "
          + "".join(f" {n:>{width}}" for n in names))
    for impl, mode in dict.fromkeys(key for r in rows for key in r):
        cells = [r.get((impl, mode)) for r in rows]
        ms = "".join(f" {c['median_s'] * 1e3:{width}.3f}" if c else f" {'-':>{width}}"
                     for c in cells)
        ratio = "".join(f" {c['ratio_to_torch']:{width}.2f}" if c else f" {'-':>{width}}"
                        for c in cells)
        print(f"{mode:5} {impl:13}{ms} {ratio}")
