"""The ddp command (bnref.experiments.ddp): K processes under DistributedDataParallel against one.

Two CPU processes on the gloo backend (127.0.0.1, a free port) train the
note's LeNet-BN for a few steps on real Fashion-MNIST, each on its shard of
every global batch, once with plain BN and once with bnref.SyncBatchNorm
(``ddp.compare_with_one_process``, the same function the command stores in
its results file); one process trains the same network on the concatenated
batches. With SyncBatchNorm the processes end with identical parameters and
moving statistics, equal to the one-process run's to float tolerance: the
mean loss per process averaged by DDP is the one process's mean loss. With
plain BN they do not. The command itself runs once, for 3 steps, through a
real torchrun launch; the committed file's numbers are replayed by
tests/test_replay.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from bnref import BatchNorm, SyncBatchNorm
from bnref.__main__ import main
from bnref.experiments import ddp, pages

from results_support import RESULTS

COMMITTED = RESULTS / "ddp-cpu.json"


@pytest.fixture(scope="module")
def two_processes():
    return ddp.compare_with_one_process(world_size=2, batch=4, steps=5, seed=0)


def test_sync_processes_equal_one_process_and_per_process_bn_does_not(two_processes):
    sync, bn = two_processes["sync"], two_processes["bn"]
    print(f"\n2 processes x 4 vs 1 x 8, 5 steps: sync {sync}, per-process BN {bn}")
    # every process of the group holds the same network (DDP, and the same statistics)
    assert sync["params_across_processes"] == 0.0 and sync["stats_across_processes"] == 0.0
    assert sync["params_vs_one"] < 1e-5 and sync["stats_vs_one"] < 1e-5
    # per-process BN: the same parameters on both processes (DDP), but not the one process's,
    # and each process's moving statistics are its own shard's
    assert bn["params_across_processes"] == 0.0
    assert bn["params_vs_one"] > 1e-3 and bn["stats_vs_one"] > 1e-2
    assert bn["stats_across_processes"] > 1e-2


def test_the_shards_of_a_step_are_the_one_process_batch():
    X, y = torch.arange(60).float().reshape(60, 1), torch.arange(60)
    one = ddp.Shards(X, y, batch=12, world_size=1, seed=3)
    shards = [ddp.Shards(X, y, batch=3, rank=k, world_size=4, seed=3) for k in range(4)]
    assert len(one) == len(shards[0]) == 5
    epochs = []
    for _ in range(2):  # each pass shuffles again (set_epoch), the same on every process
        batches = [(Xb, yb) for Xb, yb in one]
        for (Xb, yb), parts in zip(batches, zip(*shards)):
            assert torch.equal(Xb.flatten(), yb.float())  # images and labels stay together
            assert sorted(i for _, part in parts for i in part.tolist()) == sorted(yb.tolist())
        epochs.append([yb.tolist() for _, yb in batches])
    assert epochs[0] != epochs[1]


def test_convert_sync_batchnorm_keeps_the_state_and_refuses_subclasses():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), BatchNorm(3, num_dims=2))
    net(torch.randn(8, 4))
    with torch.no_grad():
        net[1].gamma.mul_(2)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.eval()
    out = SyncBatchNorm.convert_sync_batchnorm(net)
    assert out is net and type(net[1]) is SyncBatchNorm and not net[1].training
    assert net[1].momentum == 0.9 and net[1].eps == 1e-5
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k

    class MeanOnly(BatchNorm):
        pass

    with pytest.raises(TypeError, match=r"layer 'module.1' is a MeanOnly, a subclass"):
        SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.Identity(),
                                                                 MeanOnly(3, num_dims=2)))


def test_bad_settings_are_refused_with_what_was_given(tmp_path):
    with pytest.raises(SystemExit, match=r"--batch must be >= 2 per process .*got \[1, 4\]"):
        main(["ddp", "--batch", "1", "4", "--out", str(tmp_path / "r.json")])


def test_command_launches_torchrun_records_and_resumes(tmp_path, capsys, monkeypatch,
                                                        two_processes):
    # the 2-process check is the fixture's (measured above), not computed a second time
    monkeypatch.setattr(ddp, "compare_with_one_process", lambda: two_processes)
    out = tmp_path / "r.json"
    args = ["ddp", "--nproc-per-node", "2", "--batch", "2", "--steps", "3", "--seeds", "1",
            "--test-images", "200", "--device", "cpu", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    data = json.loads(out.read_text())
    runs = data["runs"]
    assert sorted(runs) == ["bn/K=2/b=2/seed=0", "one/K=1/b=4/seed=0", "sync/K=2/b=2/seed=0",
                            "torch-sync/K=2/b=2/seed=0"]
    one, sync, bn = runs["one/K=1/b=4/seed=0"], runs["sync/K=2/b=2/seed=0"], runs[
        "bn/K=2/b=2/seed=0"]
    assert sync["backend"] == "gloo" and sync["steps"] == 3 and sync["lr"] == 4 / 256
    # the whole batch's loss at each step: SyncBatchNorm's is the one process's
    assert sync["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert bn["losses"][0] != pytest.approx(one["losses"][0], rel=1e-3)
    refused = runs["torch-sync/K=2/b=2/seed=0"]
    assert "GPU" in refused["error"] and "GPU" in refused["layer_error"]
    assert data["two_processes"] == two_processes
    assert [r["run"] for r in data["replay"]["runs"]] == [
        {"mode": "one", "batch": 4, "base_lr": 1.0, "seed": 0}]
    printed = capsys.readouterr().out
    assert "torch.distributed.run --nnodes 1 --nproc-per-node 2 --master-addr 127.0.0.1" in printed
    assert "| 2 × 2 | bnref.SyncBatchNorm |" in printed
    assert main(args) == 0  # nothing left: no launch
    printed = capsys.readouterr().out
    assert "resuming" in printed and "launching" not in printed
    assert json.loads(out.read_text())["runs"] == runs


def test_committed_results_cover_every_run_and_the_table_shows_them(capsys):
    data = json.loads(COMMITTED.read_text())
    config = data["config"]
    assert config["seeds"] >= 3 and data["command"].startswith("python -m bnref ddp")
    expected = {ddp._key(m, K, b, s) for m in config["modes"] for K in config["nproc_per_node"]
                for b in config["batch"] for s in range(config["seeds"])}
    expected |= {ddp._key("one", 1, K * b, s) for K in config["nproc_per_node"]
                 for b in config["batch"] for s in range(config["seeds"])}
    assert set(data["runs"]) == expected
    pages.ddp_table(COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    K, b = config["nproc_per_node"][0], config["batch"][0]
    accs = [100 * data["runs"][ddp._key("sync", K, b, s)]["test_acc"]
            for s in range(config["seeds"])]
    row = next(line for line in lines if line.startswith(f"| {K} × {b} | bnref.SyncBatchNorm |"))
    assert row.split("|")[3].strip().startswith(f"{sum(accs) / len(accs):.1f} ± ")
