"""Printers for the reproduction and throughput files (python -m bnref reproduce / throughput)."""

from __future__ import annotations

from pathlib import Path

import torch

from bnref.experiments.commands.reproduce import NOTE_BETA, NOTE_GAMMA, NOTE_RESULTS
from bnref.experiments.commands.throughput import NOTE_SETUP, setting
from bnref.experiments.report.pages._common import _mean_std, load


def note_lines(path: str | Path, model: str, seed: int = 0) -> None:
    """Print d2l's two summary lines for one of our runs (the note's format)."""
    data = load(path)
    r = _run(data, model, seed)
    print(f"loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
          f"test acc {r['test_acc'][-1]:.3f}")
    print(f"{r['examples_per_sec_overall']:.1f} examples/sec on {data['config']['device']}")


def model_runs(data: dict, model: str) -> list[dict]:
    """The finished runs of ``model`` in a reproduce file, by seed."""
    if model not in data["config"]["models"]:
        raise KeyError(f"no model {model!r} in the results; have {data['config']['models']}")
    return sorted((r for r in data["runs"].values() if r["model"] == model),
                  key=lambda r: r["seed"])


def _run(data: dict, model: str, seed: int) -> dict:
    for r in model_runs(data, model):
        if r["seed"] == seed:
            return r
    raise KeyError(f"no seed {seed} for {model!r}")


def summary(data: dict, model: str) -> dict[str, list[float]]:
    """Final-epoch metrics of every seed of ``model``."""
    runs = model_runs(data, model)
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
        if not model_runs(data, model):
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
    for r in model_runs(data, model):
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
    for r in model_runs(data, model):
        print(f"seed {r['seed']}: gamma {torch.tensor(r['net1_gamma'])}")
        print(f"        beta  {torch.tensor(r['net1_beta'])}")
    print(f"note:   gamma {torch.tensor(NOTE_GAMMA)}")
    print(f"        beta  {torch.tensor(NOTE_BETA)}")
