"""Page printers for issue 19 (batch normalization beyond one minibatch): inference cost, noise.

Each takes a results path and prints what a page shows.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bnref.experiments.pages._common import _mean_std, load

__all__ = ["inference_table", "ghost_bn_table", "ddp_table", "sync_check_table"]


# ---- inference file (python -m bnref inference) ----


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
    from bnref.experiments.ghost_bn import ARMS

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


def ddp_table(path: str | Path) -> None:
    """Print the DDP comparison as a Markdown table: for each ``K × b``, the one process on
    the whole batch and each distributed arm, with test accuracy (%), its difference from
    the one process's (same seed), training wall time (s) and ms per step (mean ± std over
    the seeds), and the largest difference of the whole batch's loss from the one-process
    run's over the first steps (same seed); then what an arm that did not train said, and
    the 2-process parameter check."""
    data = load(path)
    config = data["config"]
    runs = list(data["runs"].values())
    names = {"one": "one process, plain BN", "bn": "per-process BN (bnref.BatchNorm)",
             "sync": "bnref.SyncBatchNorm", "torch-sync": "nn.SyncBatchNorm"}
    seeds = len({r["seed"] for r in runs})
    steps = len(next(r["losses"] for r in runs if "losses" in r))
    print(f"{config['steps']} SGD steps, {config['lr_rule']}; {config['test_images']} test "
          f"images; mean ± std over {seeds} seeds; {config['device']}, "
          f"{config['threads']} thread(s) per process")
    print(f"| processes × batch | arm | test accuracy (%) | minus one process's (points) "
          f"| training time (s) | ms / step "
          f"| max abs loss difference from one process, steps 1–{steps} |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    errors = {}
    for K in config["nproc_per_node"]:
        for b in config["batch"]:
            one = {r["seed"]: r for r in runs if r["mode"] == "one" and r["global_batch"] == K * b}
            for mode in ["one", *config["modes"]]:
                mine = one if mode == "one" else {
                    r["seed"]: r for r in runs if (r["mode"], r["nproc"], r["batch"]) == (mode, K, b)}
                shape = f"1 × {K * b}" if mode == "one" else f"{K} × {b}"
                group = list(mine.values())
                if any("error" in r for r in group):
                    errors.setdefault(mode, group[0])
                    print(f"| {shape} | {names[mode]} | did not train (below) | – | – | – | – |")
                    continue
                loss_diff = "–" if mode == "one" else format(max(
                    max(abs(x - y) for x, y in zip(r["losses"], one[s]["losses"]))
                    for s, r in mine.items()), ".1e")
                paired = "–" if mode == "one" else _mean_std(
                    [100 * (r["test_acc"] - one[seed]["test_acc"]) for seed, r in mine.items()],
                    "+.1f").replace("± +", "± ").replace("± -", "± ")
                print(f"| {shape} | {names[mode]} | "
                      f"{_mean_std([100 * r['test_acc'] for r in group], '.1f')} | {paired} | "
                      f"{_mean_std([r['seconds'] for r in group], '.1f')} | "
                      f"{_mean_std([r['ms_per_step'] for r in group], '.1f')} | {loss_diff} |")
    for mode, r in errors.items():
        print(f"{names[mode]} ({r['backend']}, {config['device']} tensors), in training under "
              f"DistributedDataParallel: {r['error']} ({r['raised_in']})")
        if r.get("layer_error"):
            print(f"  the layer alone, training in the process group: {r['layer_error']}")
    check = data.get("two_processes")
    if check:
        print(f"{check['world_size']} processes × {check['batch']} against one process × "
              f"{check['world_size'] * check['batch']}, {check['steps']} steps, max abs "
              f"difference of parameters / moving statistics:")
        for mode in ("sync", "bn"):
            c = check[mode]
            print(f"  {names[mode]}: from one process {c['params_vs_one']:.1e} / "
                  f"{c['stats_vs_one']:.1e}; between the processes "
                  f"{c['params_across_processes']:.1e} / {c['stats_across_processes']:.1e}")


# ---- two processes against one, layer by layer (python -m bnref sync-check) ----


def sync_check_table(path: str | Path) -> None:
    """Print the sync-check file: for each compared quantity, the max abs difference from one
    process on the whole batch, with ``bnref.SyncBatchNorm`` and with per-process
    ``bnref.BatchNorm``; then what ``torch.nn.SyncBatchNorm`` raised in the same processes."""
    data = load(path)
    c, diffs = data["config"], data["differences"]
    labels = {"outputs": "outputs (last training step)", "input grads": "input gradients",
              "gamma grad": "gamma grad (sum over processes)",
              "beta grad": "beta grad (sum over processes)", "moving_mean": "moving mean",
              "moving_var": "moving variance", "eval outputs": "eval-mode outputs"}
    print(f"{c['world_size']} processes ({c['backend']}, {c['device']}, "
          f"{c['threads_per_process']} thread each) with {' + '.join(map(str, c['sizes']))} of "
          f"{sum(c['sizes'])} samples, shape {tuple(c['shape'])}, against bnref.BatchNorm on "
          f"all {sum(c['sizes'])} in one process; {c['steps']} training steps, then one "
          f"evaluation")
    print("| compared | max abs diff, bnref.SyncBatchNorm | max abs diff, per-process "
          "bnref.BatchNorm |")
    print("| --- | ---: | ---: |")
    for key, label in labels.items():
        print(f"| {label} | {diffs['sync'][key]:.1e} | {diffs['bn'][key]:.1e} |")
    print(f"torch.nn.SyncBatchNorm, training on the same CPU tensors: {data['torch_sync_error']}")
