"""The learning-rate sweep's printers (the claims page's sections on convergence, the learning
rate and accuracy, and the chapter's exercise on the learning rate)."""

from __future__ import annotations

import statistics
from pathlib import Path

from bnref.experiments.commands.lr_sweep import best_lrs, largest_trained
from bnref.experiments.report.pages._common import _ARM_NAMES, _mean_std, load



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


def _outcome(group: list[dict], lr: float, best: float | None) -> str:
    """How a group of seeds at one rate ended: 'k of n' trained, and where none did, why: a
    non-finite loss ('diverged'), or a finite loss at chance below the arm's best rate ('too
    slow': the budget is too short for the rate) or above it ('fails')."""
    trained = sum(r["trained"] for r in group)
    cell = f"{trained} of {len(group)}"
    if trained:
        return cell
    diverged = sum(r["diverged"] for r in group)
    if diverged:
        return f"{cell}, {diverged} diverged"
    return f"{cell}, {'too slow' if best is not None and lr < best else 'fails'}"


def lr_range_table(path: str | Path) -> None:
    """Print the learning-rate range as a Markdown table: per activation and rate, with BN and
    without, how many seeds trained (and why none did: :func:`_outcome`) and the final test
    accuracy (10,000 images; mean ± sample std over the seeds), for BN also with its moving
    statistics re-estimated from training images (``--recalibrate``); then, per activation
    and arm, the largest rate at which every seed trained and the smallest at which none did."""
    data = load(path)
    c = data["config"]
    runs = [r for r in data["runs"].values() if r["phase"] == "sweep"]
    best = best_lrs(runs)
    print(f"LeNet, batch {c['batch_size']}, {c['epochs']} epochs per run, {c['seeds']} seeds; "
          f"trained: finite loss and test accuracy > {c['failed_at']}; re-estimated: moving "
          f"statistics from {c['recalibration_images']} training images after training")
    print("| activation | lr | BN: trained | BN: test acc as trained | BN: re-estimated | "
          "no BN: trained | no BN: test acc |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for act in c["activations"]:
        for lr in c["lrs"]:
            cells = []
            for arm in ("bn", "none"):
                group = [r for r in runs if (r["activation"], r["arm"], r["lr"]) == (act, arm, lr)]
                cells.append(_outcome(group, lr, best.get((act, arm))))
                cells.append(_mean_std([r["test_acc"] for r in group], ".3f"))
                if arm == "bn":
                    again = [r["recalibrated_test_acc"] for r in group
                             if r.get("recalibrated_test_acc") is not None]
                    cells.append(_mean_std(again, ".3f") if len(again) > 1 else "–")
            print(f"| {act} | {lr:g} | " + " | ".join(cells) + " |")
    for act in c["activations"]:
        for arm in ("bn", "none"):
            mine = [r for r in runs if (r["activation"], r["arm"]) == (act, arm)]
            largest = largest_trained(mine, act, arm)
            above = sorted(lr for lr in {r["lr"] for r in mine} if largest is not None
                           and lr > largest and not any(r["trained"] for r in mine
                                                        if r["lr"] == lr))
            print(f"{act}, {_ARM_NAMES[arm]}: every seed trained up to lr "
                  f"{'none' if largest is None else f'{largest:g}'}; no seed at "
                  f"{', '.join(f'{lr:g}' for lr in above) or 'none of the larger rates'}")


def lr_sweep_summary(path: str | Path) -> None:
    """Print the lr sweep's verdict numbers, one line each, per activation and arm: the largest
    rate at which every seed trained, the best rate (highest mean final test accuracy) with its
    accuracy and steps to the threshold, and the long run at that rate (final and best test
    accuracy over its epochs, epochs to the threshold); then, per activation, the long runs'
    difference with BN minus without."""
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
