"""Printers for the claims experiments (python -m bnref lr-sweep, init-scale, placement,
dropout, ablation)."""

from __future__ import annotations

import statistics
from pathlib import Path

from bnref.experiments.commands.ghost_bn import ARMS
from bnref.experiments.report.pages._common import (
    _ARM_NAMES, _mean_std, _paired_ci, _reading, load,
)


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




def init_scale_table(path: str | Path) -> None:
    """Print the init-scale runs as a Markdown table: per factor on the xavier-uniform initial
    weights, the final test accuracy with and without BN for each activation (mean ± sample std
    over the seeds), with how many seeds trained where not all did; BN arms scored with
    re-estimated statistics too when the file has them (the primary metric)."""
    data = load(path)
    c = data["config"]
    runs = list(data["runs"].values())
    recal = "recalibration_images" in c
    cols = []
    for act in c["activations"]:
        for arm in c["arms"]:
            if arm == "bn" and recal:
                cols.append((act, arm, "recalibrated_test_acc", f"{act}, with BN, re-estimated"))
            cols.append((act, arm, "test_acc", f"{act}, {_ARM_NAMES[arm]}"
                         + (", as trained" if arm == "bn" and recal else "")))
    lrs = ", ".join(f"{a} lr {lr:g}" for a, lr in c["lrs"].items())
    print(f"LeNet, batch {c['batch_size']}, {c['epochs']} epochs ({lrs}); test accuracy mean ± "
          f"std over the seeds; (k of n): seeds that trained (finite loss, test accuracy > "
          f"{c['failed_at']})" + (f"; re-estimated: BN statistics from "
                                  f"{c['recalibration_images']} training images" if recal else ""))
    print("| xavier × | " + " | ".join(name for *_, name in cols) + " |")
    print("| ---: |" + " ---: |" * len(cols))
    for scale in c["scales"]:
        cells = []
        for act, arm, field, _ in cols:
            group = [r for r in runs
                     if (r["activation"], r["arm"], r["init_scale"]) == (act, arm, scale)]
            acc = [r[field] for r in group if r.get(field) is not None]
            if not acc:
                cells.append("–")
                continue
            cell = _mean_std(acc, ".3f") if len(acc) > 1 else f"{acc[0]:.3f}"
            trained = sum(r["trained"] for r in group)
            if trained < len(group):
                cell += f" ({trained} of {len(group)})"
            cells.append(cell)
        print(f"| {scale:g} | " + " | ".join(cells) + " |")


def _cell(values: list, fmt: str) -> str:
    """'mean ± std' of ``values``; where some are ``None`` (the run diverged) say how many."""
    bad = sum(v is None for v in values)
    if bad:
        return f"{bad} of {len(values)} diverged"
    return _mean_std(values, fmt) if len(values) > 1 else f"{values[0]:{fmt}}"


def placement_table(path: str | Path) -> None:
    """Print the placement experiment as a Markdown table: per activation and learning rate,
    the final test accuracy (10,000 images) with BN before and after the activation, scored
    with re-estimated statistics (the primary metric) and as trained, the difference after −
    before paired by seed (both placements start from the same weights and see the same
    batches) with its 95 % interval, and the last epoch's training loss (mean ± sample std
    over the seeds). A diverged run has no accuracy; the cell counts it."""
    data = load(path)
    config = data["config"]
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})
    recal = "recalibration_images" in config
    metric = (f"re-estimated from {config['recalibration_images']} training images"
              if recal else "as trained")
    print(f"LeNet-BN on Fashion-MNIST, batch {config['batch_size']}, {config['epochs']} "
          f"epochs; BN before (conv → BN → activation) or after (conv → activation → BN); "
          f"final test accuracy, {metric}; mean ± std over {seeds} seeds; after − before "
          f"paired by seed")
    print("| activation | lr | before | after | after − before, points [95 % CI] | reading | "
          "as trained, before / after | train loss, before / after |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")

    def final(r, field):
        if r["diverged_at"] is not None:
            return None
        return r[field] if field == "recalibrated_test_acc" else r[field][-1]

    for act in config["activations"]:
        for lr in config["lrs"]:
            by = {p: [r for r in runs if (r["activation"], r["lr"], r["placement"])
                      == (act, lr, p)] for p in ("before", "after")}
            if not (by["before"] and by["after"]):
                continue  # an interrupted run: nothing finished here yet
            field = "recalibrated_test_acc" if recal else "test_acc"
            acc = {p: {r["seed"]: final(r, field) for r in by[p]} for p in by}
            trained = {p: {r["seed"]: final(r, "test_acc") for r in by[p]} for p in by}
            loss = {p: {r["seed"]: final(r, "train_loss") for r in by[p]} for p in by}
            cells = [_cell(list(acc[p].values()), ".3f") for p in by]
            diverged = [f"{p} diverges in {sum(v is None for v in acc[p].values())} of "
                        f"{len(acc[p])}" for p in by if None in acc[p].values()]
            if diverged:  # a difference over the runs that survived would hide it
                cells += ["–", "; ".join(diverged)]
            else:
                cells += [_paired_ci(acc["before"], acc["after"]),
                          _reading(acc["before"], acc["after"], "after is better",
                                   "before is better")]
            cells += [" / ".join(_cell(list(d[p].values()), ".3f") for p in by)
                      for d in (trained, loss)]
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


def _duration(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def _relative(value: float, base: float) -> str:
    return f"{100 * (value / base - 1):+.0f} %"


def inference_table(path: str | Path) -> None:
    """Print the inference file: eval-mode latency of LeNet without BN, with BN (reference and
    ``nn.BatchNorm``) and with BN folded, at each batch size, in CPU time and in wall time;
    training throughput without and with BN; and max |Δ logits| between the folded and the
    unfolded network."""
    data = load(path)
    c = data["config"]
    names = {"none": "without BN", "bnref": "with BN (bnref.BatchNorm)",
             "torch": "with BN (nn.BatchNorm)", "folded": "BN folded"}
    lat, thr_run = data["runs"]["latency"], data["runs"]["throughput"]
    rows = lat["rows"]
    arms = [a for a in names if any(r["arm"] == a for r in rows)]
    print(f"latency of one forward pass, eval mode, torch.no_grad(), {c['threads']} thread(s); "
          f"median of {c['rounds']} interleaved rounds (in brackets: against without BN)")
    for field, what in (("cpu_median_s", "CPU time of the thread"), ("median_s", "wall time")):
        print(what)
        print("| batch | " + " | ".join(names[a] for a in arms) + " |")
        print("| ---: |" + " ---: |" * len(arms))
        for b in c["latency_batch_sizes"]:
            t = {r["arm"]: r[field] for r in rows if r["batch_size"] == b}
            cells = [_duration(t[a]) + ("" if a == "none" else
                                        f" ({_relative(t[a], t['none'])})") for a in arms]
            print(f"| {b} | " + " | ".join(cells) + " |")
    thr = thr_run["arms"]
    print(f"training throughput: {c['steps']} steps at batch {c['train_batch_size']}, "
          f"median of {c['rounds']} rounds")
    print("| network | examples per CPU second | against without BN | examples/s (wall) "
          "| against without BN |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for arm, row in thr.items():
        cells = []
        for field in ("cpu_median", "median"):
            rel = "" if arm == "none" else _relative(row[field], thr["none"][field])
            cells += [f"{row[field]:.0f}", rel]
        print(f"| {row['what']} | " + " | ".join(cells) + " |")
    if lat.get("load_before") and thr_run.get("load_before"):
        print(f"1-minute load average of the {data['provenance']['machine']['cores']}-core "
              f"machine (other work ran beside): {thr_run['load_before'][0]:.1f} before the "
              f"training, {lat['load_before'][0]:.1f} before and {lat['load_after'][0]:.1f} "
              f"after the latency timings")
    f = data["runs"]["fold"]
    print(f"folded against unfolded LeNet-BN on {f['test_images']} test images: max |Δ logits| "
          f"{f['max_abs_diff_logits']:.1e} (largest |logit| {f['max_abs_logit']:.1f}); "
          f"{f['predictions_differ']} predictions differ")


# ---- ghost-bn file (python -m bnref ghost-bn) ----


def ghost_bn_table(path: str | Path) -> None:
    """Print the noise-view arms (plain, ghost, noisy, deterministic BN) as a Markdown table:
    last-epoch training loss, and test accuracy and train–test gap in evaluation mode, with
    the moving statistics as trained and with precise statistics (mean ± sample std over
    the seeds)."""
    data = load(path)
    c = data["config"]
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})
    steps = sorted({r["steps"] for r in runs})
    print(f"LeNet-BN (sigmoid), batch {c['batch_size']}, lr {c['lr']}, {c['epochs']} epochs "
          f"({'/'.join(map(str, steps))} steps); only the BN layer changes; mean ± std over "
          f"{seeds} seeds")
    print(f"evaluation mode; test: 10000 test images, train: the first {c['train_subset']} "
          f"training images; gap = train − test accuracy, in points; precise: BN statistics "
          f"re-estimated on {c['precise_images']} training images")
    print("| arm | train loss (last epoch, training mode) | test acc, as trained | gap, as trained "
          "| test acc, precise | gap, precise | diverged |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for arm in (a for a in ARMS if a in c["arms"]):
        mine = [r for r in runs if r["arm"] == arm]
        if not mine:
            continue  # an interrupted run: this arm has no finished seed yet
        cells = [_mean_std([r["train_loss"][-1] for r in mine], ".3f"),
                 _mean_std([100 * r["test_acc"] for r in mine], ".1f"),
                 _mean_std([100 * r["gap"] for r in mine], ".2f"),
                 _mean_std([100 * r["precise"]["test_acc"] for r in mine], ".1f"),
                 _mean_std([100 * r["precise"]["gap"] for r in mine], ".2f")]
        diverged = sum(r["diverged_at"] is not None for r in mine)
        print(f"| {arm} | " + " | ".join(cells) + f" | {diverged} of {len(mine)} |")


# ---- across processes (python -m bnref ddp) ----


# ---- across processes (python -m bnref ddp) ----
