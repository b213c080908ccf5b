"""Printers for the site's pages: every number a page shows comes from a results file, here.

Each function takes the path of a results file explicitly (the committed
ones are under ``docs/results/`` of a checkout) and prints what the page
shows; the test suite runs the pages and compares their output.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

from bnref.experiments.record import load
from bnref.experiments.reproduce import NOTE_BETA, NOTE_GAMMA, NOTE_RESULTS
from bnref.experiments.throughput import NOTE_SETUP, setting

__all__ = ["note_lines", "summary", "summary_table", "throughput_table",
           "reached_note_accuracy", "describe", "gamma_beta", "format_table", "bench_table",
           "target_lines", "validation_table", "small_batch_table", "ablation_table",
           "ablation_affine", "placement_table", "dropout_table", "dropout_variance_shift",
           "inference_table", "ghost_bn_table"]


def note_lines(path: str | Path, model: str, seed: int = 0) -> None:
    """Print d2l's two summary lines for one of our runs (the note's format)."""
    data = load(path)
    r = _run(data, model, seed)
    print(f"loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
          f"test acc {r['test_acc'][-1]:.3f}")
    print(f"{r['examples_per_sec_overall']:.1f} examples/sec on {data['config']['device']}")


def _runs(data: dict, model: str) -> list[dict]:
    """The finished runs of ``model`` in a reproduce file, by seed."""
    if model not in data["config"]["models"]:
        raise KeyError(f"no model {model!r} in the results; have {data['config']['models']}")
    return sorted((r for r in data["runs"].values() if r["model"] == model),
                  key=lambda r: r["seed"])


def _run(data: dict, model: str, seed: int) -> dict:
    for r in _runs(data, model):
        if r["seed"] == seed:
            return r
    raise KeyError(f"no seed {seed} for {model!r}")


def _mean_std(values: list[float], fmt: str) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{mean:{fmt}} ± {std:{fmt}}"


def summary(data: dict, model: str) -> dict[str, list[float]]:
    """Final-epoch metrics of every seed of ``model``."""
    runs = _runs(data, model)
    return {
        "loss": [r["train_loss"][-1] for r in runs],
        "train_acc": [r["train_acc"][-1] for r in runs],
        "test_acc": [r["test_acc"][-1] for r in runs],
        "examples_per_sec": [r["examples_per_sec_overall"] for r in runs],
    }


def summary_table(path: str | Path) -> None:
    """Print ours (mean ± sample std over seeds, last epoch) beside the note's run."""
    data = load(path)
    rows = [("model", "source", "loss", "train acc", "test acc", "examples/sec")]
    for model in data["config"]["models"]:
        if not _runs(data, model):
            continue  # an interrupted run: this model has no finished seed yet
        s = summary(data, model)
        n = len(s["loss"])
        rows.append((model, f"ours, {n} seeds, {data['config']['device']}", _mean_std(s["loss"], ".3f"),
                     _mean_std(s["train_acc"], ".3f"), _mean_std(s["test_acc"], ".3f"),
                     _mean_std(s["examples_per_sec"], ".0f")))
        if model in NOTE_RESULTS:
            nr = NOTE_RESULTS[model]
            rows.append(("", f"note, 1 run, {nr['device']}", f"{nr['loss']:.3f}",
                         f"{nr['train_acc']:.3f}", f"{nr['test_acc']:.3f}",
                         f"{nr['examples_per_sec']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def throughput_table(path: str | Path) -> None:
    """Print the examples/sec of each ``--throughput`` setting (median over the rounds, with
    the range), the ratio to the note's run, the first convolution timed alone, and where a
    training step spends its time."""
    data = load(path)
    medians = data["medians"]
    first = medians[0]
    m = data["provenance"]["machine"]
    print(f"LeNet-BN, one epoch, batch {first['batch_size']}, on {m['device']} "
          f"({m['cpu']}, {m['cores']} cores); "
          + (f"medians of {data['config']['rounds']} rounds" if data['config']['rounds'] > 1
             else "one round"))
    print("data            BatchNorm  conv1        pool   wall ex/s (min-max)      step ex/s  "
          "x note's run")
    for m in medians:
        workers = "" if m["num_workers"] is None else f" ({m['num_workers']} workers)"
        spread = f"({m['wall_min']:.0f}-{m['wall_max']:.0f})"
        print(f"{m['data_path'] + workers:<15} {m['batch_norm']:<10} {m['first_conv']:<11}  "
              f"{m['pool']:<5} {m['wall_examples_per_sec']:10.1f} {spread:<13} "
              f"{m['step_examples_per_sec']:10.1f}"
              f" {m['wall_examples_per_sec'] / first['wall_examples_per_sec']:12.2f}")
    data_path, bn, conv, pool = data["fast_path"]
    print(f"bnref's fast path ({data_path} data, {bn} BatchNorm, {conv} conv1, {pool} pool) / "
          f"the note's run (d2l data, note BatchNorm, torch conv1, torch pool), wall: "
          f"{data['ratio_fast_over_note']:.2f}x")

    def rounds_of(wanted):
        return [r for r in data["runs"].values() if setting(r) == wanted]

    fast, note = rounds_of((data_path, bn, conv, pool)), rounds_of(NOTE_SETUP)
    print("  round by round: " + ", ".join(
        f"{f['wall_examples_per_sec'] / n['wall_examples_per_sec']:.2f}x"
        for f, n in zip(fast, note)))
    ms = data["first_conv_ms"]
    print(f"conv1 alone, forward + backward, batch {first['batch_size']}: nn.Conv2d "
          f"{ms['torch']:.2f} ms, OneChannelConv2d {ms['one_channel']:.2f} ms "
          f"({ms['torch'] / ms['one_channel']:.1f}x)")
    ms = data["first_pool_ms"]
    print(f"first max pooling alone, forward + backward, batch {first['batch_size']}: "
          f"nn.MaxPool2d {ms['torch']:.2f} ms, MaxPool2x2 {ms['2x2']:.2f} ms "
          f"({ms['torch'] / ms['2x2']:.1f}x)")
    ms = data["first_block_ms"]
    print(f"first BatchNorm + sigmoid + max pooling, forward + backward, batch "
          f"{first['batch_size']}: PyTorch's layers {ms['torch']:.2f} ms, FastBatchNorm and "
          f"MaxPool2x2 {ms['fast']:.2f} ms, fused {ms['fused']:.2f} ms "
          f"({ms['torch'] / ms['fused']:.1f}x)")
    for p in data["step_profiles"]:
        print(f"one training step, {p['batch_norm']} BatchNorm, {p['first_conv']} conv1, "
              f"{p['pool']} pool, by torch.profiler ({p['steps']} steps, "
              f"{p['self_cpu_ms_per_step']:.1f} ms of self time per step):")
        for part, share in sorted(p["shares"].items(), key=lambda kv: -kv[1]):
            if share > 0:  # parts this network does not have are left out
                print(f"  {part:<26} {100 * share:5.1f} %")


def reached_note_accuracy(path: str | Path, model: str = "lenet_bn") -> None:
    """Print, per seed, the last epoch's test accuracy and the first epoch whose test
    accuracy reached the note's, with the wall seconds from the start of training to the
    end of that epoch's evaluation where the file records them."""
    data = load(path)
    target = NOTE_RESULTS[model]["test_acc"]
    for r in _runs(data, model):
        epochs = len(r["test_acc"])
        line = f"seed {r['seed']}: test acc {r['test_acc'][-1]:.3f} after {epochs} epochs; "
        epoch = next((i for i, acc in enumerate(r["test_acc"], start=1) if acc >= target), None)
        if epoch is None:
            line += f"the note's {target} not reached"
        else:
            line += f"the note's {target} reached in epoch {epoch}"
            if "elapsed_seconds" in r:
                line += f", after {r['elapsed_seconds'][epoch - 1]:.1f} s"
        print(line + f" ({r['examples_per_sec_overall']:.0f} examples/sec)")


def describe(path: str | Path) -> None:
    """Print how a results file was made: command, machine, versions, commit, date, wall time.

    A file whose runs came from several invocations (a resumed command) says so.
    """
    data = load(path)
    print(data["command"])
    p = data["provenance"]
    m, v = p["machine"], p["versions"]
    print(f"{m['device']}: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch "
          f"thread(s)")
    commit, _, dirty = (p.get("commit") or "unknown").partition("+")
    print(f"torch {v['torch']}, torchvision {v['torchvision']}, Python {v['python']}, "
          f"commit {commit[:12]}" + (" (uncommitted changes under src/)" if dirty else ""))
    runs = data.get("runs", {})
    what = f"{len(runs)} runs, " if isinstance(runs, dict) and runs else ""
    dates = sorted(r["provenance"]["date"] for r in runs.values()) if what else [p["date"]]
    print(f"last run {dates[-1]}, {what}wall time {data['wall_seconds'] / 60:.1f} min")
    cpus = sorted({r["provenance"]["machine"]["cpu"] for r in runs.values()}) if what else []
    if len(cpus) > 1:
        print("runs from several machines: " + "; ".join(cpus))


def gamma_beta(path: str | Path, model: str = "lenet_bn") -> None:
    """Print γ and β of ``net[1]`` after training, for every seed, then the note's values."""
    data = load(path)
    for r in _runs(data, model):
        print(f"seed {r['seed']}: gamma {torch.tensor(r['net1_gamma'])}")
        print(f"        beta  {torch.tensor(r['net1_beta'])}")
    print(f"note:   gamma {torch.tensor(NOTE_GAMMA)}")
    print(f"        beta  {torch.tensor(NOTE_BETA)}")


# ---- bench files (python -m bnref bench) ----


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
    print(f"date: {v['date']}, machine: {v['machine']}")
    for step in v["steps"]:
        print(f"{step['wall_s']:6.1f} s  (target {step['target_s']} s)  {step['command']}")
        print(f"          {step['result']}")


# ---- small-batch file (python -m bnref small-batch) ----


def small_batch_table(path: str | Path) -> None:
    """Print test error (%) per kind and batch size: mean ± sample std over the seeds, as a
    Markdown table."""
    from bnref.experiments.small_batch import KINDS

    data = load(path)
    runs = list(data["runs"].values())
    sizes = sorted({r["batch_size"] for r in runs})
    kinds = [k for k in KINDS if any(r["kind"] == k for r in runs)]
    seeds = len({r["seed"] for r in runs})
    print(f"test error (%), mean ± std over {seeds} seeds")
    print("| batch size | " + " | ".join(k.upper() for k in kinds) + " |")
    print("| ---: |" + " ---: |" * len(kinds))
    for b in sizes:
        cells = []
        for k in kinds:
            errs = [100 * r["test_error"] for r in runs if (r["kind"], r["batch_size"]) == (k, b)]
            cells.append(_mean_std(errs, ".1f") if errs else "–")
        print(f"| {b} | " + " | ".join(cells) + " |")


def small_batch_recalibration(path: str | Path) -> None:
    """Print, per batch size, BN's test error (%) with its moving statistics and after
    recalibrating them on a large batch of training data (mean ± std over seeds)."""
    data = load(path)
    runs = [r for r in data["runs"].values() if r["kind"] == "bn"]
    images = data["config"]["recalibration_images"]
    print(f"BN, test error (%): moving statistics from training / re-estimated on {images} "
          f"training images")
    print("| batch size | as trained | recalibrated | recovered |")
    print("| ---: | ---: | ---: | ---: |")
    for b in sorted({r["batch_size"] for r in runs}):
        before = [100 * r["test_error"] for r in runs if r["batch_size"] == b]
        after = [100 * r["recalibrated_test_error"] for r in runs if r["batch_size"] == b]
        print(f"| {b} | {_mean_std(before, '.1f')} | {_mean_std(after, '.1f')} | "
              f"{statistics.fmean(before) - statistics.fmean(after):.1f} points |")


def small_batch_batch_of_one(path: str | Path) -> None:
    """Print the batch-of-one runs (mean ± std test error over seeds) and what BN after a
    fully connected layer says when asked to train on one example."""
    data = load(path)
    names = {"bn-conv": "BN after the convolutions only",
             "in-conv": "InstanceNorm after the convolutions only",
             "in": "InstanceNorm (and LayerNorm after the linear layers)"}
    for kind in data["config"]["batch_of_one"]:
        errs = [100 * r["test_error"] for r in data["runs"].values()
                if r["kind"] == kind and r["batch_size"] == 1]
        print(f"batch 1, {names[kind]}: test error {_mean_std(errs, '.1f')} %")
        own = [100 * r["own_statistics_test_error"] for r in data["runs"].values()
               if r["kind"] == kind and "own_statistics_test_error" in r]
        if own:
            print(f"  the same networks, each test image normalized with its own statistics "
                  f"(as in training): {_mean_std(own, '.1f')} %")
    print(f"batch 1, BN after the fully connected layers: {data['batch_of_one_fc_error']}")


# ---- ablation file (python -m bnref ablation) ----


def ablation_table(path: str | Path, arms: list[str] | None = None) -> None:
    """Print the ablation arms (``arms``, default every arm of the file) as a Markdown table:
    test accuracy after the first and the last epoch, after the last with the moving
    statistics re-estimated on a large batch of training images, the last epoch's training
    loss (mean ± sample std over the seeds), and how many runs diverged."""
    data = load(path)
    config = data["config"]
    arms = config["arms"] if arms is None else arms
    unknown = [a for a in arms if a not in config["arms"]]
    if unknown:
        raise KeyError(f"no arm {', '.join(map(repr, unknown))} in {path}; it has "
                       f"{', '.join(config['arms'])}")
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})
    epochs = config["epochs"]
    print(f"LeNet-BN (sigmoid), batch {config['batch_size']}, lr {config['lr']}, "
          f"{epochs} epochs; mean ± std over {seeds} seeds")
    print(f"| arm | what changes | test acc, epoch 1 | test acc, epoch {epochs} | "
          f"recalibrated | train loss, epoch {epochs} | diverged |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for arm in arms:
        mine = [r for r in runs if r["arm"] == arm]
        if not mine:
            continue  # an interrupted run: this arm has no finished seed yet
        first = _mean_std([r["test_acc"][0] for r in mine], ".3f")
        last = _mean_std([r["test_acc"][-1] for r in mine], ".3f")
        recal = [r["recalibrated_test_acc"] for r in mine if "recalibrated_test_acc" in r]
        recal = _mean_std(recal, ".3f") if recal else "–"
        loss = _mean_std([r["train_loss"][-1] for r in mine], ".3f")
        diverged = sum(r["diverged_at"] is not None for r in mine)
        print(f"| {arm} | {config['what_changes'][arm]} | {first} | {last} | {recal} | {loss} | "
              f"{diverged} of {len(mine)} |")


def ablation_affine(path: str | Path, arm: str = "all") -> None:
    """Print, per BatchNorm layer of ``arm``, where training took γ and β from their initial 1
    and 0: the mean over the layer's channels, and the spread (std) across its channels,
    each averaged over the seeds."""
    data = load(path)
    runs = [r for r in data["runs"].values() if r["arm"] == arm]
    if not runs:
        raise KeyError(f"no finished run of arm {arm!r} in {path}")
    print(f"{arm}: gamma and beta after {data['config']['epochs']} epochs, averaged over "
          f"{len(runs)} seeds (initially 1 and 0)")
    for i, layer in enumerate(runs[0]["bn_layers"]):
        def avg(field):
            return statistics.fmean(r["bn_layers"][i][field] for r in runs)

        print(f"BN layer {i + 1} ({layer['features']:>3} channels): gamma mean "
              f"{avg('gamma_mean'):.2f}, spread {avg('gamma_std'):.2f}; beta mean "
              f"{avg('beta_mean'):+.2f}, spread {avg('beta_std'):.2f}")


# ---- learning-rate sweep and initialization scale (python -m bnref lr-sweep / init-scale) ----

_ARM_NAMES = {"bn": "with BN", "none": "without BN"}


def _steps_cell(runs: list[dict], field: str = "steps_to_threshold") -> str:
    """Steps (or epochs) to the threshold over the seeds that reached it: 'mean ± std' (all
    reached), 'mean (k of n)' (some), or 'not reached'."""
    reached = [r[field] for r in runs if r[field] is not None]
    if not reached:
        return "not reached"
    if len(reached) == len(runs):
        return _mean_std(reached, ".0f") if len(reached) > 1 else f"{reached[0]:.0f}"
    return f"{statistics.fmean(reached):.0f} ({len(reached)} of {len(runs)})"


def lr_sweep_table(path: str | Path) -> None:
    """Print the lr sweep as a Markdown table: per activation, arm and learning rate, the final
    test accuracy (all 10,000 test images; mean ± sample std over the seeds), how many seeds
    trained (did not diverge and ended above the failure line) and diverged, and the steps to
    the threshold accuracy (on the test subset scored during training)."""
    data = load(path)
    c = data["config"]
    runs = [r for r in data["runs"].values() if r["phase"] == "sweep"]
    print(f"LeNet, batch {c['batch_size']}, {c['epochs']} epochs per run; test accuracy mean ± "
          f"std over the seeds; trained: finite loss and test accuracy > {c['failed_at']}; "
          f"steps to {c['threshold']:.2f} on the first {c['eval_images']} test images, scored "
          f"every {c['eval_every']} steps")
    print(f"| activation | BN | lr | test acc | trained | diverged | steps to "
          f"{c['threshold']:.2f} |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for act in c["activations"]:
        for arm in c["arms"]:
            for lr in c["lrs"]:
                group = [r for r in runs if (r["activation"], r["arm"], r["lr"]) == (act, arm, lr)]
                if not group:
                    continue  # not run yet (an interrupted file)
                acc = [r["test_acc"] for r in group]
                cell = _mean_std(acc, ".3f") if len(acc) > 1 else f"{acc[0]:.3f}"
                print(f"| {act} | {_ARM_NAMES[arm]} | {lr:g} | {cell} | "
                      f"{sum(r['trained'] for r in group)} of {len(group)} | "
                      f"{sum(r['diverged'] for r in group)} of {len(group)} | "
                      f"{_steps_cell(group)} |")


def lr_sweep_summary(path: str | Path) -> None:
    """Print the lr sweep's verdict numbers, one line each, per activation and arm: the largest
    rate at which every seed trained, the best rate (highest mean final test accuracy) with its
    accuracy and steps to the threshold, and the long run at that rate (final and best test
    accuracy over its epochs, epochs to the threshold); then, per activation, the long runs'
    difference with BN minus without."""
    from bnref.experiments.lr_sweep import best_lrs, largest_trained

    data = load(path)
    c = data["config"]
    runs = list(data["runs"].values())
    sweep = [r for r in runs if r["phase"] == "sweep"]
    best = best_lrs(runs)
    thr = f"{c['threshold']:.2f}"
    for act in c["activations"]:
        for arm in c["arms"]:
            name = f"{act}, {_ARM_NAMES[arm]}"
            mine = [r for r in sweep if (r["activation"], r["arm"]) == (act, arm)]
            if not mine:
                continue
            ok = sorted({r["lr"] for r in mine} - {r["lr"] for r in mine if not r["trained"]})
            largest = largest_trained(runs, act, arm)
            print(f"{name}: largest rate at which every seed trained: "
                  f"{'none' if largest is None else f'{largest:g}'} "
                  f"(all seeds trained at: {', '.join(f'{lr:g}' for lr in ok) or 'none'})")
            if (act, arm) not in best:
                continue
            lr = best[(act, arm)]
            group = [r for r in mine if r["lr"] == lr]
            print(f"{name}: best rate {lr:g}: test acc {_mean_std([r['test_acc'] for r in group], '.3f')} "
                  f"after {c['epochs']} epochs; steps to {thr}: {_steps_cell(group)}")
            long = [r for r in runs if r["phase"] == "long"
                    and (r["activation"], r["arm"], r["lr"]) == (act, arm, lr)]
            if long:
                print(f"{name}: {c['long_epochs']} epochs at lr {lr:g}: test acc "
                      f"{_mean_std([r['test_acc'] for r in long], '.3f')} at the end, best epoch "
                      f"{_mean_std([r['best_test_acc'] for r in long], '.3f')}; epochs to {thr}: "
                      f"{_steps_cell(long, 'epochs_to_threshold')} ({len(long)} seeds)")
        longs = {arm: [r["test_acc"] for r in runs if r["phase"] == "long"
                       and (r["activation"], r["arm"]) == (act, arm)] for arm in ("bn", "none")}
        if all(longs.values()):
            diff = statistics.fmean(longs["bn"]) - statistics.fmean(longs["none"])
            print(f"{act}: {c['long_epochs']} epochs, each arm at its own best rate: BN minus no "
                  f"BN = {100 * diff:+.1f} points of test accuracy")


def init_scale_table(path: str | Path) -> None:
    """Print the init-scale runs as a Markdown table: per factor on the xavier-uniform initial
    weights, the final test accuracy with and without BN for each activation (mean ± sample std
    over the seeds), with how many seeds trained where not all did."""
    data = load(path)
    c = data["config"]
    runs = list(data["runs"].values())
    cols = [(act, arm) for act in c["activations"] for arm in c["arms"]]
    lrs = ", ".join(f"{a} lr {lr:g}" for a, lr in c["lrs"].items())
    print(f"LeNet, batch {c['batch_size']}, {c['epochs']} epochs ({lrs}); test accuracy mean ± "
          f"std over the seeds; (k of n): seeds that trained (finite loss, test accuracy > "
          f"{c['failed_at']})")
    print("| xavier × | " + " | ".join(f"{act}, {_ARM_NAMES[arm]}" for act, arm in cols) + " |")
    print("| ---: |" + " ---: |" * len(cols))
    for scale in c["scales"]:
        cells = []
        for act, arm in cols:
            group = [r for r in runs
                     if (r["activation"], r["arm"], r["init_scale"]) == (act, arm, scale)]
            if not group:
                cells.append("–")
                continue
            acc = [r["test_acc"] for r in group]
            cell = _mean_std(acc, ".3f") if len(acc) > 1 else f"{acc[0]:.3f}"
            trained = sum(r["trained"] for r in group)
            if trained < len(group):
                cell += f" ({trained} of {len(group)})"
            cells.append(cell)
        print(f"| {scale:g} | " + " | ".join(cells) + " |")


# ---- placement and dropout (python -m bnref placement / dropout) ----


def _cell(values: list, fmt: str) -> str:
    """'mean ± std' of ``values``; where some are ``None`` (the run diverged) say how many."""
    bad = sum(v is None for v in values)
    if bad:
        return f"{bad} of {len(values)} diverged"
    return _mean_std(values, fmt) if len(values) > 1 else f"{values[0]:{fmt}}"


def _paired(a: dict, b: dict, fmt: str) -> str:
    """Mean ± std over seeds of ``b[seed] - a[seed]`` (seeds in both, neither diverged)."""
    diffs = [b[s] - a[s] for s in sorted(a.keys() & b.keys())
             if a[s] is not None and b[s] is not None]
    if not diffs:
        return "–"
    if len(diffs) == 1:
        return f"{diffs[0]:+{fmt}}"
    return f"{statistics.fmean(diffs):+{fmt}} ± {statistics.stdev(diffs):{fmt}}"


def placement_table(path: str | Path, last: int = 1) -> None:
    """Print the placement experiment as a Markdown table: per activation and learning rate,
    the final test accuracy (10,000 images) and the last epoch's training loss with BN before
    and after the activation (mean ± sample std over the seeds), and the difference after −
    before, paired by seed (both placements start from the same weights and see the same
    batches). ``last > 1``: each run's accuracy and loss averaged over its last ``last``
    epochs (test accuracy swings from epoch to epoch with the moving statistics)."""
    data = load(path)
    config = data["config"]
    if not 1 <= last <= config["epochs"]:
        raise ValueError(f"last must be between 1 and the {config['epochs']} epochs of "
                         f"{path}; got {last}")
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})

    def tail(values):
        values = values[-last:]
        return None if None in values else statistics.fmean(values)

    what = "final" if last == 1 else f"mean of the last {last} epochs of each run"
    print(f"LeNet-BN on Fashion-MNIST, batch {config['batch_size']}, {config['epochs']} "
          f"epochs; BN before (conv → BN → activation) or after (conv → activation → BN); "
          f"{what}; mean ± std over {seeds} seeds; after − before paired by seed")
    print("| activation | lr | test acc, before | test acc, after | after − before | "
          "train loss, before | train loss, after | after − before |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for act in config["activations"]:
        for lr in config["lrs"]:
            acc, loss = {}, {}
            for placement in ("before", "after"):
                mine = [r for r in runs if (r["activation"], r["lr"], r["placement"])
                        == (act, lr, placement)]
                acc[placement] = {r["seed"]: tail(r["test_acc"]) for r in mine}
                loss[placement] = {r["seed"]: tail(r["train_loss"]) for r in mine}
            if not (acc["before"] or acc["after"]):
                continue  # an interrupted run: nothing finished here yet
            cells = [_cell(list(acc[p].values()), ".3f") if acc[p] else "–"
                     for p in ("before", "after")]
            cells.append(_paired(acc["before"], acc["after"], ".3f"))
            cells += [_cell(list(loss[p].values()), ".3f") if loss[p] else "–"
                      for p in ("before", "after")]
            cells.append(_paired(loss["before"], loss["after"], ".3f"))
            print(f"| {act} | {lr:g} | " + " | ".join(cells) + " |")


_DROPOUT_PLACES = {"hidden": "before the hidden layers", "classifier": "before the classifier"}


def dropout_table(path: str | Path) -> None:
    """Print the dropout experiment: test accuracy (10,000 images; mean ± sample std over the
    seeds) per dropout probability, place and arm (with and without BN) as a Markdown table,
    then the variance shift of the BN arm (:func:`dropout_variance_shift`)."""
    data = load(path)
    config = data["config"]
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})
    lrs = ", ".join(f"{_ARM_NAMES[a]} lr {lr:g}" for a, lr in config["lrs"].items())
    print(f"LeNet ({config['activation']}) on Fashion-MNIST, batch {config['batch_size']}, "
          f"{config['epochs']} epochs, {lrs}; test accuracy, mean ± std over {seeds} seeds "
          f"(p = 0: no dropout, the same runs in both columns of an arm)")
    columns = [(arm, place) for arm in config["arms"] for place in config["places"]]
    print("| p | " + " | ".join(f"{_ARM_NAMES[a]}, {_DROPOUT_PLACES[pl]}"
                                 for a, pl in columns) + " |")
    print("| ---: |" + " ---: |" * len(columns))
    for p in config["ps"]:
        cells = []
        for arm, place in columns:
            accs = [r["test_acc"][-1] for r in runs
                    if (r["arm"], r["p"]) == (arm, p) and (p == 0 or r["place"] == place)]
            cells.append(_cell(accs, ".3f") if accs else "–")
        print(f"| {p:g} | " + " | ".join(cells) + " |")
    if "bn" in config["arms"]:
        print()
        dropout_variance_shift(path)


def dropout_variance_shift(path: str | Path, measure: str = "ratio") -> None:
    """Print, for the BN arm of the dropout experiment, each BN layer's variance shift per
    dropout probability and place (mean ± sample std over the seeds), beside the test accuracy
    as trained and after re-estimating the moving statistics with dropout off.

    ``measure``: ``"ratio"``, the moving variance over the variance of the layer's input on
    the test set in evaluation mode, averaged over the channels (1 = no shift; above 1: the
    layer divides by a larger variance than it meets at test time); or ``"li_shift"``, Li et
    al.'s ``max(moving/test, test/moving)`` averaged over the channels."""
    if measure not in ("ratio", "li_shift"):
        raise ValueError(f"measure must be 'ratio' or 'li_shift'; got {measure!r}")
    data = load(path)
    runs = [r for r in data["runs"].values() if r["arm"] == "bn"]
    if not runs:
        raise KeyError(f"no finished run with BN in {path}")
    layers = [v["channels"] for v in runs[0]["variance_shift"]]
    what = ("moving variance / test-time variance" if measure == "ratio"
            else "Li et al.'s max(moving/test, test/moving)")
    print(f"with BN: {what} of each BN layer's input, averaged over its channels (test set, "
          f"evaluation mode, dropout off; the moving variance averages the biased batch "
          f"variance, the d2l convention); * the layer comes after dropout")
    print("| p | dropout | " + " | ".join(f"BN {i + 1} ({c} ch)" for i, c in enumerate(layers))
          + " | test acc | recalibrated |")
    print("| ---: | --- |" + " ---: |" * (len(layers) + 2))
    config = data["config"]
    for p in config["ps"]:
        for place in (config["places"] if p else [None]):
            mine = [r for r in runs if r["p"] == p and (p == 0 or r["place"] == place)]
            if not mine:
                continue
            cells = []
            for i in range(len(layers)):
                star = " *" if mine[0]["variance_shift"][i]["after_dropout"] else ""
                cells.append(_cell([r["variance_shift"][i][measure] for r in mine], ".2f")
                             + star)
            cells.append(_cell([r["test_acc"][-1] for r in mine], ".3f"))
            cells.append(_cell([r["recalibrated_test_acc"] for r in mine], ".3f"))
            print(f"| {p:g} | {_DROPOUT_PLACES[place] if p else 'none'} | "
                  + " | ".join(cells) + " |")



# issue 19's printers live in pages_beyond (this file is past the 400-line rule)
from bnref.experiments.pages_beyond import ddp_table, ghost_bn_table, inference_table  # noqa: E402, E501

