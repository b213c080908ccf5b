"""Printers for the bench and validation files (python -m bnref bench / validate)."""

from __future__ import annotations

from pathlib import Path

from bnref.experiments.pages._common import load


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


def bench_table(path: str | Path) -> None:
    """Print a bench results file: where it comes from, then the table."""
    from bnref.experiments.bench import COMPILED_IMPLS

    r = load(path)
    m = r["machine"]
    print(f"command: {r['command']}")
    commit = f", commit {r['git_commit'][:12]}" if "git_commit" in r else ""
    print(f"date: {r['date']}, wall {r['wall_s']} s{commit}")
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
    for line in target_lines(r):
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
    """Print the recorded wall times of the full test suite and the strict build."""
    v = load(path)
    commit = f", commit {v['commit'][:12]}" if v.get("commit") else ""
    isa = f" ({v['cpu_capability']})" if v.get("cpu_capability") else ""
    print(f"date: {v['date']}, machine: {v['machine']}{isa}{commit}")
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
