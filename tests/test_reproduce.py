"""`python -m bnref reproduce`: the fast data path's sampling, the command's JSON, the page helpers.

The full reproduction is a command, not a test; here the command runs for a
couple of steps on the real data, and the committed results are checked for
the settings the note used.
"""

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from bnref.experiments import reproduce
from bnref.__main__ import main
from bnref.d2l.data import TensorLoader

COMMITTED = reproduce.RESULTS / "reproduce-cpu.json"


# --------------------------------------------------------------------------
# The fast path samples like DataLoader(shuffle=True)
# --------------------------------------------------------------------------


def _epoch(loader):
    return [y.tolist() for _, y in loader]


def test_tensor_loader_batches_like_dataloader_with_last_partial_batch():
    X, y = torch.randn(10, 1, 2, 2), torch.arange(10)
    fast = TensorLoader(X, y, 4, shuffle=True)
    reference = DataLoader(TensorDataset(X, y), 4, shuffle=True)
    assert len(fast) == len(reference) == 3
    assert [len(b) for b in _epoch(fast)] == [len(b) for b in _epoch(reference)] == [4, 4, 2]


def test_tensor_loader_draws_a_fresh_permutation_every_epoch():
    X, y = torch.randn(50, 3), torch.arange(50)
    loader = TensorLoader(X, y, 8, shuffle=True)
    torch.manual_seed(0)
    orders = [sum(_epoch(loader), []) for _ in range(3)]
    for order in orders:
        assert sorted(order) == list(range(50))  # every example exactly once per epoch
    assert orders[0] != orders[1] != orders[2]
    for Xb, yb in loader:  # images stay paired with their labels
        assert torch.equal(Xb, X[yb])
    torch.manual_seed(0)
    assert sum(_epoch(loader), []) == orders[0]  # the seed fixes the order


def test_tensor_loader_without_shuffle_keeps_the_order():
    X, y = torch.randn(7, 2), torch.arange(7)
    assert sum(_epoch(TensorLoader(X, y, 3)), []) == list(range(7))


def test_tensor_loader_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be >= 1; got 0"):
        TensorLoader(torch.zeros(3, 2), torch.zeros(3), 0)
    with pytest.raises(ValueError, match="X has 3 items but y has 2"):
        TensorLoader(torch.zeros(3, 2), torch.zeros(2), 1)


# --------------------------------------------------------------------------
# The command, for two steps on the real data
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "r.json"
    torch.set_num_threads(1)
    rc = main(["reproduce", "--device", "cpu", "--epochs", "1", "--seeds", "2", "--models",
               "lenet_bn", "--max-steps", "2", "--out", str(out), "--no-figure",
               "--no-progress"])
    assert rc == 0
    return out


def test_command_writes_every_field(tiny_run):
    data = json.loads(tiny_run.read_text())
    assert data["complete"] is True
    assert data["device"] == "cpu" and data["device_name"]
    assert data["torch"] == torch.__version__
    assert data["settings"]["seeds"] == [0, 1] and data["settings"]["batch_size"] == 256
    assert set(data["models"]) == {"lenet_bn"} and data["models"]["lenet_bn"]["lr"] == 1.0
    for entry in data["models"].values():
        assert [r["seed"] for r in entry["runs"]] == [0, 1]
        for r in entry["runs"]:
            for key in ("train_loss", "train_acc", "test_acc", "examples_per_sec",
                        "elapsed_seconds"):
                assert len(r[key]) == 1
            assert all(0 <= a <= 1 for a in r["train_acc"] + r["test_acc"])
            # the epoch's wall time holds its training steps and its evaluation
            assert r["elapsed_seconds"][0] > r["train_seconds"] > 0
            # two steps do not reach the note's test accuracy, and the record says so
            assert r["note_test_acc"] == 0.862 and r["seconds_to_note_test_acc"] is None
    gammas = [r["net1_gamma"] for r in data["models"]["lenet_bn"]["runs"]]
    assert len(gammas[0]) == 6 and gammas[0] != [1.0] * 6  # trained, moved off its init
    # two different seeds give two different runs
    runs = data["models"]["lenet_bn"]["runs"]
    assert runs[0]["train_loss"] != runs[1]["train_loss"]


def test_note_lines_and_table_read_the_file(tiny_run, capsys):
    data = json.loads(tiny_run.read_text())
    r = data["models"]["lenet_bn"]["runs"][0]
    reproduce.note_lines(tiny_run, "lenet_bn")
    assert capsys.readouterr().out == (
        f"loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
        f"test acc {r['test_acc'][-1]:.3f}\n"
        f"{r['examples_per_sec_overall']:.1f} examples/sec on cpu\n")
    reproduce.summary_table(tiny_run)
    table = capsys.readouterr().out
    losses = [x["train_loss"][-1] for x in data["models"]["lenet_bn"]["runs"]]
    mean = sum(losses) / 2
    std = abs(losses[0] - losses[1]) / 2 ** 0.5  # sample std of two values
    assert f"{mean:.3f} ± {std:.3f}" in table
    assert "note, 1 run, cuda:0" in table and "32546.7" in table
    with pytest.raises(KeyError, match="no model 'lenet_bn_concise'"):
        reproduce.note_lines(tiny_run, "lenet_bn_concise")


def test_bn_impl_swaps_lenet_bn_layers_only():
    with pytest.raises(ValueError, match="swaps lenet_bn's BatchNorm layers; model 'lenet'"):
        reproduce.train_one("lenet", 0, epochs=1, batch_size=256, device="cpu",
                            data_path="fast", max_steps=1, bn_impl="fast")
    r = reproduce.train_one("lenet_bn", 0, epochs=1, batch_size=256, device="cpu",
                            data_path="fast", max_steps=2, progress=False, bn_impl="fast")
    assert len(r["net1_gamma"]) == 6


@pytest.mark.parametrize("bn, first_conv, pool", [("note", "torch", "torch"),
                                                  ("fast", "one_channel", "2x2"),
                                                  ("fused", "torch", "fused")])
def test_throughput_counts_the_examples_it_trains_on(bn, first_conv, pool):
    r = reproduce.measure_throughput("fast", bn, first_conv=first_conv, pool=pool, device="cpu",
                                     max_steps=3)
    assert r["steps"] == 3 and r["examples"] == 3 * 256
    assert reproduce.setting(r) == ("fast", bn, first_conv, pool)
    # wall time also holds the test-set evaluation; the step rate does not
    assert r["wall_seconds"] > r["train_seconds"]
    assert r["wall_examples_per_sec"] < r["step_examples_per_sec"]
    assert 0.0 <= r["test_acc"] <= 1.0


def test_throughput_runs_go_from_the_notes_setup_to_the_fast_path():
    runs = reproduce.THROUGHPUT_RUNS
    assert runs[0] == reproduce.NOTE_SETUP == ("d2l", "note", "torch", "torch")
    # the fast path with either first convolution, whichever CPU made the file
    for capability in ("AVX2", "AVX512"):
        assert reproduce.fast_path(capability) in runs
    assert {data for data, _, _, _ in runs} == {"d2l", "fast"}
    assert {conv for _, _, conv, _ in runs} == set(reproduce.FIRST_CONVS)
    assert {pool for _, _, _, pool in runs} == set(reproduce.POOLS)
    # PyTorch's BatchNorm with the fast path's other layers: the reference
    assert ("fast", "torch", "one_channel", "2x2") in runs

    def changes(run, earlier):  # the fused layer replaces BatchNorm and pooling at once
        a = (run[0], run[1:4:2], run[2]) if run[3] == "fused" else (run[0], run[1], run[2],
                                                                     run[3])
        b = (earlier[0], earlier[1:4:2], earlier[2]) if run[3] == "fused" else earlier
        return sum(x != y for x, y in zip(a, b))

    # every later run changes one thing from some run before it
    for i, run in enumerate(runs[1:], start=1):
        assert any(changes(run, earlier) == 1 for earlier in runs[:i]), run
    assert len(set(runs)) == len(runs)


def test_the_fast_path_picks_the_first_convolution_by_instruction_set():
    # OneChannelConv2d avoids a padding that oneDNN's AVX2 kernels make
    assert reproduce.fast_path("AVX2") == ("fast", "fused", "one_channel", "fused")
    assert reproduce.fast_path("AVX512") == ("fast", "fused", "torch", "fused")
    assert reproduce.fast_path("DEFAULT") == ("fast", "fused", "torch", "fused")


def test_unknown_first_conv_is_refused():
    with pytest.raises(ValueError, match="first_conv must be one of torch, one_channel; got 'nhwc'"):
        reproduce.measure_throughput("fast", "fast", first_conv="nhwc", device="cpu", max_steps=1)


def test_unknown_pool_is_refused():
    with pytest.raises(ValueError, match="pool must be one of torch, 2x2, fused; got 'avg'"):
        reproduce.measure_throughput("fast", "fast", pool="avg", device="cpu", max_steps=1)


@pytest.mark.parametrize("bn, pool", [("fused", "2x2"), ("fast", "fused")])
def test_the_fused_pool_goes_with_the_fused_batch_norm_only(bn, pool):
    with pytest.raises(ValueError, match=f"BatchNorm 'fused' goes with pool 'fused' and only "
                       f"with it; got BatchNorm '{bn}' and pool '{pool}'"):
        reproduce.measure_throughput("fast", bn, pool=pool, device="cpu", max_steps=1)


def test_first_conv_is_timed_both_ways():
    ms = reproduce.time_first_conv(device="cpu", batch_size=32, min_run_time=0.05)
    assert set(ms) == set(reproduce.FIRST_CONVS)
    assert all(v > 0 for v in ms.values())


def test_first_pool_is_timed_both_ways():
    ms = reproduce.time_first_pool(device="cpu", batch_size=32, min_run_time=0.05)
    assert set(ms) == {"torch", "2x2"}
    assert all(v > 0 for v in ms.values())


def test_first_block_is_timed_three_ways():
    ms = reproduce.time_first_block(device="cpu", batch_size=32, min_run_time=0.05)
    assert tuple(ms) == reproduce.BLOCKS == ("torch", "fast", "fused")
    assert all(v > 0 for v in ms.values())


# --------------------------------------------------------------------------
# The committed results
# --------------------------------------------------------------------------


def test_committed_results_use_the_notes_settings():
    data = json.loads(COMMITTED.read_text())
    assert data["settings"]["epochs"] == 10 and data["settings"]["batch_size"] == 256
    assert data["settings"]["max_steps"] is None  # every batch of every epoch
    assert {m: e["lr"] for m, e in data["models"].items()} == {
        "lenet_bn": 1.0, "lenet_bn_concise": 1.0, "lenet": 0.9}
    for entry in data["models"].values():
        assert entry["runs"], "every model has at least one finished seed"
        for r in entry["runs"]:
            assert len(r["test_acc"]) == 10


def test_committed_fused_run_is_the_notes_training_through_the_fast_path():
    data = json.loads((reproduce.RESULTS / "reproduce-cpu-fused.json").read_text())
    assert "+" not in data["git_commit"], "made from committed code"
    assert data["complete"]
    settings = data["settings"]
    assert settings["bn_impl"] == "fused" and settings["data_path"] == "fast"
    assert settings["epochs"] == 10 and settings["batch_size"] == 256
    assert settings["max_steps"] is None and settings["seeds"] == [0, 1, 2]
    runs = data["models"]["lenet_bn"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2]
    for r in runs:
        assert len(r["test_acc"]) == len(r["elapsed_seconds"]) == 10


def test_committed_throughput_matches_the_code_that_made_it():
    data = json.loads((reproduce.RESULTS / "throughput-cpu.json").read_text())
    settings = [tuple(s) for s in reproduce.THROUGHPUT_RUNS]
    assert "+" not in data["git_commit"], "made from committed code"
    assert data["rounds"] >= 3 and len(data["runs"]) == data["rounds"] * len(settings)
    for r in data["runs"]:
        assert r["steps"] == 235  # full epochs
        assert r["examples"] == 60000 and r["batch_size"] == 256
    # the medians and the ratio are recomputed from the runs, not copied
    assert data["medians"] == reproduce.throughput_medians(data["runs"])
    assert [reproduce.setting(m) for m in data["medians"]] == settings
    by = {reproduce.setting(m): m for m in data["medians"]}
    assert data["ratio_fast_over_note"] == pytest.approx(
        by[reproduce.FAST_PATH]["wall_examples_per_sec"]
        / by[reproduce.NOTE_SETUP]["wall_examples_per_sec"])
    # the fast path of the CPU that made the file (this one may have another)
    assert tuple(data["fast_path"]) == reproduce.fast_path(data["cpu_capability"])
    assert [(p["batch_norm"], p["first_conv"], p["pool"]) for p in data["step_profiles"]] == [
        s[1:] for s in reproduce.PROFILED[:2]] + [tuple(data["fast_path"][1:])]
    assert set(data["first_pool_ms"]) == {"torch", "2x2"}
    assert tuple(data["first_block_ms"]) == reproduce.BLOCKS


def test_throughput_rounds_must_be_positive():
    with pytest.raises(SystemExit, match="--rounds must be >= 1; got 0"):
        main(["reproduce", "--throughput", "--rounds", "0", "--device", "cpu"])


@pytest.mark.parametrize("bn, first_conv, pool", [s[1:] for s in reproduce.PROFILED])
def test_step_profile_splits_a_training_step_into_parts(bn, first_conv, pool):
    p = reproduce.profile_step(bn, first_conv=first_conv, pool=pool, device="cpu", steps=2)
    assert (p["batch_norm"], p["first_conv"], p["pool"]) == (bn, first_conv, pool)
    shares = p["shares"]
    assert set(shares) == set(reproduce.STEP_PARTS) | {"other"}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in shares.values())
    # LeNet-BN has convolutions, pooling and batch normalization, and all of them cost time
    parts = ("convolution backward", "convolution forward")
    if bn == "fused":  # one kernel for BatchNorm, sigmoid and pooling; none of the three alone
        parts += ("fused BN, sigmoid, pooling",)
        assert shares["max pooling"] == shares["batch normalization"] == shares["sigmoid"] == 0
    else:
        parts += ("max pooling", "batch normalization")
        assert shares["fused BN, sigmoid, pooling"] == 0
    for part in parts:
        assert shares[part] > 0.01, part
    assert p["self_cpu_ms_per_step"] > 0
