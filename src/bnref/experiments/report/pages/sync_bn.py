"""The sync-BN page: training across processes (DDP with per-process BN, bnref.SyncBatchNorm and
torch's), and two processes against one, layer by layer."""

from __future__ import annotations

from pathlib import Path

from bnref.experiments.report.pages._common import _mean_std, load


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
