"""Printers for the runs whose budget fits their claim (python -m bnref convergence,
regularization): accuracy at convergence, and regularizers where the network overfits."""

from __future__ import annotations

from pathlib import Path

from bnref.experiments.report.pages._common import (
    _mean_std, _paired_ci, _reading, load,
)

__all__ = ["convergence_table", "convergence_speed", "regularization_table"]


def _by_seed(runs: list[dict], field: str, **match) -> dict[int, float | None]:
    return {r["seed"]: r.get(field) for r in runs
            if all(r.get(k) == v for k, v in match.items())}


def _cell(values: dict, fmt: str = ".3f") -> str:
    finite = [v for v in values.values() if v is not None]
    if not finite:
        return "–"
    cell = _mean_std(finite, fmt) if len(finite) > 1 else f"{finite[0]:{fmt}}"
    if len(finite) < len(values):
        cell += f" ({len(values) - len(finite)} of {len(values)} diverged)"
    return cell


def convergence_table(path: str | Path) -> None:
    """Print the accuracy each arm converges to (``python -m bnref convergence``): per
    activation, the test accuracy at the best validation epoch with BN (re-estimated
    statistics, the primary metric; as trained beside it) and without, the epochs the
    stopping rule ran, and BN − no BN paired by seed with its 95 % interval."""
    data = load(path)
    c = data["config"]
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})
    print(f"LeNet, trained on {60000 - c['held_out']} training images, batch {c['batch_size']}, "
          f"each arm at its best rate of the lr sweep; stops after {c['patience']} epochs "
          f"without a new best validation accuracy (by more than {c['min_delta']}) on the "
          f"{c['held_out']} held-out training images, at most {c['max_epochs']} epochs; test "
          f"accuracy (10000 images) at the best validation epoch, BN re-estimated from "
          f"{c['recalibration_images']} training images; {seeds} seeds")
    print("| activation | with BN (lr) | with BN, as trained | without BN (lr) | epochs run, "
          "with / without | BN − no BN, points [95 % CI] | reading |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for act in c["activations"]:
        bn = _by_seed(runs, "final_test_acc", activation=act, arm="bn")
        none = _by_seed(runs, "final_test_acc", activation=act, arm="none")
        as_trained = _by_seed(runs, "final_test_acc_as_trained", activation=act, arm="bn")
        epochs = {arm: _by_seed(runs, "epochs", activation=act, arm=arm)
                  for arm in ("bn", "none")}
        epochs = " / ".join(_cell(e, ".0f") for e in epochs.values())
        print(f"| {act} | {_cell(bn)} ({c['lrs'][f'{act}/bn']:g}) | {_cell(as_trained)} | "
              f"{_cell(none)} ({c['lrs'][f'{act}/none']:g}) | {epochs} | "
              f"{_paired_ci(none, bn)} | {_reading(none, bn)} |")


def convergence_speed(path: str | Path, threshold: float = 0.80) -> None:
    """Print how fast each arm of the convergence runs gets to ``threshold`` test accuracy:
    the first epoch at or above it (all 10,000 test images; BN re-estimated), mean ± std over
    the seeds, and no BN − BN paired by seed with its 95 % interval; a run that never got
    there counts as not reached."""
    data = load(path)
    c = data["config"]
    runs = list(data["runs"].values())

    def first(r):
        return next((i + 1 for i, a in enumerate(r["test_acc"]) if a >= threshold), None)

    print(f"epochs to {threshold:.2f} test accuracy (10000 test images, scored after every "
          f"epoch; BN re-estimated), each arm at its best rate; mean ± std over the seeds")
    print("| activation | with BN (lr) | without BN (lr) | without − with, epochs [95 % CI] |")
    print("| --- | ---: | ---: | ---: |")
    for act in c["activations"]:
        epochs = {arm: {r["seed"]: first(r) for r in runs
                        if (r["activation"], r["arm"]) == (act, arm)} for arm in ("bn", "none")}
        cells = []
        for arm in ("bn", "none"):
            reached = [e for e in epochs[arm].values() if e is not None]
            cell = _mean_std(reached, ".1f") if len(reached) > 1 else (
                f"{reached[0]:.1f}" if reached else "not reached" if epochs[arm] else "–")
            if reached and len(reached) < len(epochs[arm]):
                cell += f" ({len(reached)} of {len(epochs[arm])} reached)"
            cells.append(f"{cell} ({c['lrs'][f'{act}/{arm}']:g})")
        cells.append(_paired_ci(epochs["bn"], epochs["none"], scale=1.0))
        print(f"| {act} | " + " | ".join(cells) + " |")


#: the comparisons of the regularization table: (base arm, changed arm, what changes)
_CHANGES = (("none", "bn", "BN added (no dropout)"),
            ("none", "none+dropout", "dropout 0.5 added, without BN"),
            ("bn", "bn+dropout", "dropout 0.5 added before the layers that feed BN"),
            ("bn", "bn+dropout-classifier", "dropout 0.5 added before the classifier only"),
            ("bn", "ghost-16", "BN statistics from sub-batches of 16 (ghost BN)"),
            ("bn", "noisy", "noise added after BN in training (noisy BN)"))


def regularization_table(path: str | Path) -> None:
    """Print the regularization runs (``python -m bnref regularization``): per arm, the test
    accuracy (BN arms with re-estimated statistics, the primary metric; as trained beside
    it), the accuracy on the training images and the gap; then each change against its base
    arm, paired by seed with its 95 % interval."""
    data = load(path)
    c = data["config"]
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})
    steps = c["epochs"] * -(-c["train_images"] // c["batch_size"])
    print(f"ReLU LeNet trained on the first {c['train_images']} training images, "
          f"{c['epochs']} epochs ({steps} steps) at batch {c['batch_size']}, lr {c['lr']:g} for "
          f"every arm; "
          f"evaluation mode at the end; BN arms re-estimated from the {c['train_images']} "
          f"training images; mean ± std over {seeds} seeds")
    print("| arm | test acc | test acc, as trained | train acc | train − test, points |")
    print("| --- | ---: | ---: | ---: | ---: |")
    primary = {}
    for arm in c["arms"]:
        bn = arm != "none" and not arm.startswith("none+")
        prefix = "recalibrated_" if bn else ""
        primary[arm] = _by_seed(runs, f"{prefix}test_acc", arm=arm)
        if not primary[arm]:
            continue
        as_trained = _cell(_by_seed(runs, "test_acc", arm=arm)) if bn else "="
        gap = {s: None if g is None else 100 * g
               for s, g in _by_seed(runs, f"{prefix}gap", arm=arm).items()}
        print(f"| {arm} | {_cell(primary[arm])} | {as_trained} | "
              f"{_cell(_by_seed(runs, f'{prefix}train_acc', arm=arm))} | {_cell(gap, '.1f')} |")
    print()
    print("| change | against | test acc, points [95 % CI] | reading |")
    print("| --- | --- | ---: | --- |")
    for base, arm, what in _CHANGES:
        if primary.get(base) and primary.get(arm):
            print(f"| {what} | {base} | {_paired_ci(primary[base], primary[arm])} | "
                  f"{_reading(primary[base], primary[arm])} |")
