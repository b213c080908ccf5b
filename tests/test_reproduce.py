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
from bnref.experiments import pages

from results_support import RESULTS

COMMITTED = RESULTS / "reproduce-cpu.json"


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
    assert data["experiment"] == "reproduce"
    assert data["provenance"]["machine"]["device"] == "cpu"
    assert data["provenance"]["versions"]["torch"] == torch.__version__
    assert data["config"]["seeds"] == 2 and data["config"]["batch_size"] == 256
    assert data["config"]["models"] == ["lenet_bn"] and data["config"]["lr"] == {"lenet_bn": 1.0}
    assert list(data["runs"]) == ["lenet_bn/seed=0", "lenet_bn/seed=1"]
    for r in data["runs"].values():
        for key in ("train_loss", "train_acc", "test_acc", "examples_per_sec",
                    "elapsed_seconds"):
            assert len(r[key]) == 1
        assert all(0 <= a <= 1 for a in r["train_acc"] + r["test_acc"])
        # the epoch's wall time holds its training steps and its evaluation
        assert r["elapsed_seconds"][0] > r["train_seconds"] > 0
        # two steps do not reach the note's test accuracy, and the record says so
        assert r["note_test_acc"] == 0.862 and r["seconds_to_note_test_acc"] is None
        assert r["provenance"]["machine"]["cpu"]  # each run says where it ran
    runs = list(data["runs"].values())
    assert len(runs[0]["net1_gamma"]) == 6 and runs[0]["net1_gamma"] != [1.0] * 6
    # two different seeds give two different runs
    assert runs[0]["train_loss"] != runs[1]["train_loss"]
    # the replay prefix: the first losses of seed 0, on one thread
    replay = data["replay"]
    assert replay["module"] == "bnref.experiments.reproduce" and replay["threads"] == 1
    assert len(replay["runs"][0]["losses"]) == replay["steps"] == reproduce.REPLAY_STEPS


def test_the_command_resumes_and_refuses_other_settings(tiny_run, capsys):
    before = json.loads(tiny_run.read_text())["runs"]
    args = ["reproduce", "--device", "cpu", "--epochs", "1", "--seeds", "2", "--models",
            "lenet_bn", "--max-steps", "2", "--out", str(tiny_run), "--no-figure",
            "--no-progress"]
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().out
    after = json.loads(tiny_run.read_text())["runs"]
    assert after == before  # nothing was trained again
    with pytest.raises(SystemExit, match="holds results of other settings"):
        main(["reproduce", "--device", "cpu", "--epochs", "2", "--seeds", "2", "--models",
              "lenet_bn", "--max-steps", "2", "--out", str(tiny_run), "--no-figure"])


def test_note_lines_and_table_read_the_file(tiny_run, capsys):
    data = json.loads(tiny_run.read_text())
    r = data["runs"]["lenet_bn/seed=0"]
    pages.note_lines(tiny_run, "lenet_bn")
    assert capsys.readouterr().out == (
        f"loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
        f"test acc {r['test_acc'][-1]:.3f}\n"
        f"{r['examples_per_sec_overall']:.1f} examples/sec on cpu\n")
    pages.summary_table(tiny_run)
    table = capsys.readouterr().out
    losses = [x["train_loss"][-1] for x in data["runs"].values()]
    mean = sum(losses) / 2
    std = abs(losses[0] - losses[1]) / 2 ** 0.5  # sample std of two values
    assert f"{mean:.3f} ± {std:.3f}" in table
    assert "note, 1 run, cuda:0" in table and "32546.7" in table
    with pytest.raises(KeyError, match="no model 'lenet_bn_concise'"):
        pages.note_lines(tiny_run, "lenet_bn_concise")


def test_bn_impl_swaps_lenet_bn_layers_only():
    with pytest.raises(ValueError, match="swaps lenet_bn's BatchNorm layers; model 'lenet'"):
        reproduce.train_one("lenet", 0, epochs=1, batch_size=256, device="cpu",
                            data_path="fast", max_steps=1, bn_impl="fast")
    r = reproduce.train_one("lenet_bn", 0, epochs=1, batch_size=256, device="cpu",
                            data_path="fast", max_steps=2, progress=False, bn_impl="fast")
    assert len(r["net1_gamma"]) == 6


def test_committed_results_use_the_notes_settings():
    data = json.loads(COMMITTED.read_text())
    config = data["config"]
    assert config["epochs"] == 10 and config["batch_size"] == 256
    assert config["max_steps"] is None  # every batch of every epoch
    assert config["lr"] == {"lenet_bn": 1.0, "lenet_bn_concise": 1.0, "lenet": 0.9}
    for model in config["models"]:
        runs = [r for r in data["runs"].values() if r["model"] == model]
        assert runs, "every model has at least one finished seed"
        for r in runs:
            assert len(r["test_acc"]) == 10


def test_committed_fused_run_is_the_notes_training_through_the_fast_path():
    data = json.loads((RESULTS / "reproduce-cpu-fused.json").read_text())
    assert "+" not in data["provenance"]["commit"], "made from committed code"
    config = data["config"]
    assert config["bn_impl"] == "fused" and config["data_path"] == "fast"
    assert config["epochs"] == 10 and config["batch_size"] == 256
    assert config["max_steps"] is None and config["seeds"] == 3
    assert list(data["runs"]) == [f"lenet_bn/seed={s}" for s in range(3)]
    for r in data["runs"].values():
        assert len(r["test_acc"]) == len(r["elapsed_seconds"]) == 10


