"""Every training command, held to one contract: ``python -m bnref <command>``.

:data:`COMMANDS` is a table of the training commands (each runs a grid × seed
loop through :mod:`bnref.experiments.harness.sweep` and writes one results
file): for each, a tiny invocation (a few steps, one seed, ``--out`` in a
temporary folder) and what its file must hold. Each command runs once per
module (:func:`tiny`, shared by every test of that command; a run costs
seconds), and again to resume. Then, for every command:

* the file holds the runs of the settings asked for (the exact set of keys,
  derived from the file's config), each with its provenance, and the config
  is what was asked; a second identical invocation resumes, trains nothing and
  leaves the runs as they were; a file of other settings is refused;
* its replay entry is the command's own, and :func:`bnref.experiments.harness.replay.check`
  finds nothing to report (float64 replay);
* ``replay_losses`` is determined by the settings: two calls agree, and a
  changed seed, or the one factor the command compares, gives other losses;
* bad settings are refused with ``SystemExit``, naming what was given;
* the committed file (``src/bnref/results``) covers every setting × seed of
  its config;
* the figure (if any) is drawn from a results file: from the tiny run's, and
  from the committed file, which gives the site's SVG (docs/figures) byte for
  byte; the page printer prints the committed file's numbers.

Tests of a command's own idea (the variance-shift arithmetic, the placement
pairing, the lr sweep's best rates ...) are in the command's own file
(test_<command>.py). ``sync-check`` is not here: it has no runs, resumes
nothing, and is one two-process check (test_sync_check.py).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
import torch

from bnref.__main__ import COMMANDS as CLI, main
from bnref.experiments.commands import (
    ablation, activations, convergence, ddp, dropout, ghost_bn, init_scale, lr_sweep,
    moving_statistics, placement, regularization, reproduce, small_batch,
)
from bnref.experiments.harness import replay, sweep
from bnref.experiments.report import figures, pages

from results_support import FIGURES, RESULTS

pytestmark = pytest.mark.usefixtures("one_thread")

#: every run and every results file carries these
PROVENANCE = {"machine", "versions", "commit", "command", "date"}


def printed(fn: Callable, *args, **kwargs) -> str:
    """What ``fn(*args, **kwargs)`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args, **kwargs)
    return out.getvalue()


def row(text: str, start: str) -> list[str]:
    """The cells of the first Markdown row of ``text`` that starts with ``start``."""
    line = next(line for line in text.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.split("|")]


def mean_std(values: list[float], fmt: str) -> str:
    return f"{statistics.fmean(values):{fmt}} ± {statistics.stdev(values):{fmt}}"


@dataclass(frozen=True)
class Command:
    """One training command: its tiny invocation and what its files hold."""

    name: str
    module: ModuleType
    #: a tiny invocation: a few steps, one seed (``--out`` and ``--no-progress`` are added)
    argv: tuple[str, ...]
    #: the config entries the tiny invocation asked for
    asked: dict
    #: the run keys a file must hold, derived from its config (and, for a second phase,
    #: from its first phase's runs) through the command's own key function
    keys: Callable[[dict], set[str]]
    #: what the tiny run's file and printout hold: ``holds(data, out, path)``
    holds: Callable[[dict, str, Path], None]
    #: what the committed file holds beyond covering its grid: ``committed_holds(data)``
    committed_holds: Callable[[dict], None]
    #: bad settings and what the refusal says (a regular expression)
    bad: tuple[tuple[tuple[str, ...], str], ...]
    #: options that change the config: the tiny run's file is refused to them
    other: tuple[str, ...]
    #: the one factor the command compares, as a change to a replayed run's settings
    compared: dict
    #: the page's printer on the committed file: ``page(path, data)``
    page: Callable[[Path, dict], None] | None = None
    #: the figure's name (``python -m bnref figures --only NAME``), if it has one
    figure: str | None = None
    #: lines a resumed invocation still prints besides resuming and writing (regexes)
    resumed_prints: tuple[str, ...] = ()
    #: what the invocation must not spawn, replaced for the tiny run: ``{attribute: value}``
    stubs: dict = field(default_factory=dict)

    @property
    def committed(self) -> Path:
        return RESULTS / f"{self.name}-cpu.json"

    def __str__(self) -> str:
        return self.name


def committed_basics(data: dict) -> None:
    """The full run, as the committed files are made: every seed, no step cut, one thread."""
    c = data["config"]
    assert c["seeds"] >= 3 and c.get("max_steps") is None
    if "threads" in c:
        assert c["threads"] == 1


# ---- reproduce ----------------------------------------------------------------------------


def reproduce_keys(data):
    c = data["config"]
    return {reproduce.run_key(m, s) for s in range(c["seeds"]) for m in c["models"]}


def reproduce_holds(data, out, path):
    assert data["provenance"]["machine"]["device"] == "cpu"
    assert data["provenance"]["versions"]["torch"] == torch.__version__
    assert data["config"]["lr"] == {"lenet_bn": 1.0} and data["config"]["batch_size"] == 256
    [r] = data["runs"].values()
    for key in ("train_loss", "train_acc", "test_acc", "examples_per_sec", "elapsed_seconds"):
        assert len(r[key]) == 1
    assert all(0 <= a <= 1 for a in r["train_acc"] + r["test_acc"])
    # the epoch's wall time holds its training steps and its evaluation
    assert r["elapsed_seconds"][0] > r["train_seconds"] > 0
    # two steps do not reach the note's test accuracy, and the record says so
    assert r["note_test_acc"] == 0.862 and r["seconds_to_note_test_acc"] is None
    assert len(r["net1_gamma"]) == 6 and r["net1_gamma"] != [1.0] * 6
    assert data["replay"]["threads"] == 1
    assert "lenet_bn, seed 0, lr 1.0, on cpu" in out
    # the page's two d2l lines, from the file
    assert printed(pages.note_lines, path, "lenet_bn") == (
        f"loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
        f"test acc {r['test_acc'][-1]:.3f}\n"
        f"{r['examples_per_sec_overall']:.1f} examples/sec on cpu\n")
    with pytest.raises(KeyError, match="no model 'lenet_bn_concise'"):
        pages.note_lines(path, "lenet_bn_concise")


def reproduce_committed(data):
    """The note's settings (python -m bnref reproduce, its defaults)."""
    config = data["config"]
    committed_basics(data)
    assert config["epochs"] == 10 and config["batch_size"] == 256
    assert config["lr"] == {m: lr for m, (_, lr) in reproduce.MODELS.items()}
    assert config["lr"] == {"lenet_bn": 1.0, "lenet_bn_concise": 1.0, "lenet": 0.9}
    for r in data["runs"].values():
        assert len(r["test_acc"]) == 10


def reproduce_page(path, data):
    r = data["runs"][reproduce.run_key("lenet_bn", 0)]
    assert printed(pages.note_lines, path, "lenet_bn").splitlines()[0] == (
        f"loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
        f"test acc {r['test_acc'][-1]:.3f}")
    table = printed(pages.summary_table, path)
    losses = [x["train_loss"][-1] for x in data["runs"].values() if x["model"] == "lenet_bn"]
    assert mean_std(losses, ".3f") in table
    assert "note, 1 run, cuda:0" in table and "32546.7" in table


# ---- activations --------------------------------------------------------------------------


def activations_keys(data):
    return set(data["config"]["models"])  # one run per network, keyed by its name


def activations_holds(data, out, path):
    for model, r in data["runs"].items():
        assert r["model"] == model and r["lr"] == reproduce.MODELS[model][1]
        assert r["steps"] == 3 and 0 <= r["test_acc"] <= 1
        assert len(r["quantiles"]) == len(activations.LAYERS)
        for box in r["quantiles"]:
            values = [box[str(q)] for q in activations.QUANTILES]
            assert values == sorted(values)
    assert "lenet_bn: test acc" in out and "after 3 steps; median per layer" in out


def activations_committed(data):
    c = data["config"]
    assert c["steps"] == 235 and c["images"] == 1000 and c["threads"] == 1  # one epoch
    assert c["models"] == list(activations.MODELS) and c["layers"] == list(activations.LAYERS)
    assert c["quantiles"] == list(activations.QUANTILES)
    for r in data["runs"].values():
        assert r["steps"] == c["steps"] and len(r["quantiles"]) == len(c["layers"])


# ---- lr-sweep -----------------------------------------------------------------------------


def lr_sweep_keys(data):
    c = data["config"]
    keys = {lr_sweep.sweep_key(a, m, lr, s) for s in range(c["seeds"])
            for a in c["activations"] for m in c["arms"] for lr in c["lrs"]}
    if c["long_epochs"]:  # phase 2: each activation x arm at its own best rate of phase 1
        best = lr_sweep.best_lrs(data["runs"].values())
        keys |= {lr_sweep.long_key(a, m, lr, s) for (a, m), lr in best.items()
                 for s in range(c["seeds"])}
    return keys


def lr_sweep_holds(data, out, path):
    runs = data["runs"]
    sweep_runs = [r for r in runs.values() if r["phase"] == "sweep"]
    for r in sweep_runs:
        assert r["steps"] == 24 and [s for s, _ in r["evals"]] == [8, 16, 24]
        assert 0.0 <= r["test_acc"] <= 1.0
    bn1 = runs[lr_sweep.sweep_key("sigmoid", "bn", 1.0, 0)]
    assert bn1["trained"] and bn1["test_acc"] > 0.3  # 24 steps of LeNet-BN at lr 1 learn
    # the long phase trains each arm that trained at its own best rate
    best = lr_sweep.best_lrs(runs.values())
    assert ("sigmoid", "bn") in best
    assert data["best_lrs"] == {f"{a}/{m}": lr for (a, m), lr in best.items()}
    long = [r for r in runs.values() if r["phase"] == "long"]
    assert {(r["arm"], r["lr"]) for r in long} == {(m, lr) for (_, m), lr in best.items()}
    assert {e["run"]["arm"] for e in data["replay"]["runs"]} == {"bn", "none"}
    assert "sigmoid   bn lr 1     seed 0: test acc" in out
    table = printed(pages.lr_sweep_table, path) + printed(pages.lr_sweep_summary, path)
    assert "| sigmoid | with BN | 1 | " in table and "sigmoid, with BN: best rate " in table


def lr_sweep_committed(data):
    c, runs = data["config"], data["runs"]
    committed_basics(data)
    assert c["activations"] == list(lr_sweep.ACTIVATIONS) and c["arms"] == list(lr_sweep.ARMS)
    assert min(c["lrs"]) <= 0.01 and max(c["lrs"]) >= 10 and c["batch_size"] == 256
    per_epoch = -(-60000 // 256)
    for r in runs.values():
        if r["phase"] == "sweep" and not r["diverged"]:
            assert r["steps"] == c["epochs"] * per_epoch
            assert [s for s, _ in r["evals"]] == list(
                range(c["eval_every"], r["steps"] + 1, c["eval_every"]))
        assert r["trained"] == (not r["diverged"] and r["test_acc"] > c["failed_at"])
    # phase 2: every activation x arm at its own best rate, every seed, the full budget
    best = lr_sweep.best_lrs(runs.values())
    assert len(best) == 4 and data["best_lrs"] == {f"{a}/{m}": lr for (a, m), lr in best.items()}
    for r in (r for r in runs.values() if r["phase"] == "long"):
        assert len(r["test_acc_per_epoch"]) == c["long_epochs"] >= 10 and r["trained"]


def lr_sweep_page(path, data):
    runs = data["runs"].values()
    cells = row(printed(pages.lr_sweep_table, path), "| sigmoid | with BN | 1 | ")
    accs = [r["test_acc"] for r in runs if r["phase"] == "sweep"
            and (r["activation"], r["arm"], r["lr"]) == ("sigmoid", "bn", 1.0)]
    assert cells[4] == mean_std(accs, ".3f")
    summary = printed(pages.lr_sweep_summary, path)
    for act in lr_sweep.ACTIVATIONS:
        largest = lr_sweep.largest_trained(runs, act, "none")
        assert (f"{act}, without BN: largest rate at which every seed trained: {largest:g}"
                in summary)
        assert (f"{act}: {data['config']['long_epochs']} epochs, each arm at its own best rate: "
                f"BN minus no BN = " in summary)


# ---- init-scale ---------------------------------------------------------------------------


def init_scale_keys(data):
    c = data["config"]
    return {init_scale.run_key(a, m, scale, s) for s in range(c["seeds"])
            for a in c["activations"] for m in c["arms"] for scale in c["scales"]}


def init_scale_holds(data, out, path):
    runs = data["runs"]
    for r in runs.values():
        assert r["lr"] == init_scale.LRS["relu"]
        assert r["steps"] == (r["diverged_at"] if r["diverged"] else 20)
        assert 0.0 <= r["test_acc"] <= 1.0
    # ReLU without BN from weights 100 times xavier's: the loss overflows at once
    assert runs[init_scale.run_key("relu", "none", 100.0, 0)]["diverged"]
    bn = runs[init_scale.run_key("relu", "bn", 100.0, 0)]
    assert bn["trained"] and not bn["diverged"]
    assert {e["run"]["arm"] for e in data["replay"]["runs"]} == {"bn", "none"}
    assert "relu none scale 100   seed 0: test acc" in out
    table = printed(pages.init_scale_table, path)
    assert "| xavier × | relu, with BN | relu, without BN |" in table
    assert "| 100 | " in table and "(0 of 1)" in table


def init_scale_committed(data):
    c = data["config"]
    committed_basics(data)
    assert min(c["scales"]) <= 0.01 and max(c["scales"]) >= 100 and 1.0 in c["scales"]
    assert c["activations"] == list(lr_sweep.ACTIVATIONS) and c["arms"] == list(lr_sweep.ARMS)
    assert c["seeds"] >= 5 and c["recalibration_images"] > 0
    per_epoch = -(-60000 // 256)
    for r in data["runs"].values():
        assert r["lr"] == c["lrs"][r["activation"]]
        assert r["steps"] == (r["diverged_at"] if r["diverged"] else c["epochs"] * per_epoch)
        assert r["trained"] == (not r["diverged"] and r["test_acc"] > c["failed_at"])
        assert ("recalibrated_test_acc" in r) == (r["arm"] == "bn" and not r["diverged"])


def init_scale_page(path, data):
    cells = row(printed(pages.init_scale_table, path), "| 1 | ")
    bn = [r for r in data["runs"].values()
          if (r["activation"], r["arm"], r["init_scale"]) == ("sigmoid", "bn", 1.0)]
    # with BN: re-estimated (the primary metric), then as trained
    assert cells[2].startswith(mean_std([r["recalibrated_test_acc"] for r in bn], ".3f"))
    assert cells[3].startswith(mean_std([r["test_acc"] for r in bn], ".3f"))


# ---- placement ----------------------------------------------------------------------------


def placement_keys(data):
    c = data["config"]
    return {placement.run_key(a, p, lr, s) for s in range(c["seeds"])
            for a in c["activations"] for p in c["placements"] for lr in c["lrs"]}


def placement_holds(data, out, path):
    for r in data["runs"].values():
        assert r["steps"] == 3 and len(r["test_acc"]) == len(r["train_loss"]) == 1
        assert 0.0 <= r["test_acc"][0] <= 1.0 and r["train_loss"][0] > 0
    # the replay entry covers both arms, one seed each
    assert [e["run"]["placement"] for e in data["replay"]["runs"]] == ["before", "after"]
    assert "relu BN before lr 1    seed 0: test acc" in out


def placement_committed(data):
    c = data["config"]
    committed_basics(data)
    assert c["activations"] == list(placement.ACTIVATIONS)
    assert c["placements"] == list(placement.PLACEMENTS) and c["epochs"] >= 5
    assert c["seeds"] >= 5 and c["recalibration_images"] > 0 and 3.0 in c["lrs"]
    for r in data["runs"].values():
        if r["diverged_at"] is None:
            assert len(r["test_acc"]) == len(r["train_loss"]) == c["epochs"]
            assert r["steps"] == c["epochs"] * 235  # 60000 / 256, the last batch kept
        assert all(0.0 <= a <= 1.0 for a in r["test_acc"])
        assert ("recalibrated_test_acc" in r) == (r["diverged_at"] is None)


def placement_page(path, data):
    cells = row(printed(pages.placement_table, path), "| sigmoid | 1 |")
    runs = {p: {r["seed"]: r["recalibrated_test_acc"] for r in data["runs"].values()
                if (r["activation"], r["placement"], r["lr"]) == ("sigmoid", p, 1.0)}
            for p in ("before", "after")}
    assert cells[3].startswith(f"{statistics.fmean(runs['before'].values()):.3f} ± ")
    diffs = [runs["after"][s] - runs["before"][s] for s in runs["before"]]
    assert cells[5].startswith(f"{100 * statistics.fmean(diffs):+.1f} [")


# ---- dropout ------------------------------------------------------------------------------


def dropout_keys(data):
    c = data["config"]
    return {dropout.run_key(arm, p, place, s) for s in range(c["seeds"]) for arm in c["arms"]
            for p in c["ps"] for place in (c["places"] if p else [None])}


def dropout_holds(data, out, path):
    for r in data["runs"].values():
        assert r["steps"] == 2 and len(r["test_acc"]) == 1
        if r["arm"] == "bn":  # four BN layers, the last two after dropout when p > 0
            shift = r["variance_shift"]
            assert [v["channels"] for v in shift] == [6, 16, 120, 84]
            assert [v["after_dropout"] for v in shift] == [False, False, True, True]
            assert 0.0 <= r["recalibrated_test_acc"] <= 1.0
        else:
            assert "variance_shift" not in r and "recalibrated_test_acc" not in r
    # each arm without dropout and at the largest p
    assert [(e["run"]["arm"], e["run"]["p"]) for e in data["replay"]["runs"]] == [
        ("bn", 0.0), ("bn", 0.5), ("none", 0.0), ("none", 0.5)]
    assert "bn p=0.5 hidden     seed 0: test acc" in out


def dropout_committed(data):
    c = data["config"]
    committed_basics(data)
    for r in data["runs"].values():
        assert len(r["test_acc"]) == c["epochs"] or r["diverged_at"] is not None
        if r["arm"] == "bn":
            assert len(r["variance_shift"]) == 4 and 0 < r["recalibrated_test_acc"] <= 1


def dropout_page(path, data):
    table = printed(pages.dropout_table, path)
    runs = [r for r in data["runs"].values()
            if (r["arm"], r["p"], r["place"]) == ("bn", 0.5, "hidden")]
    accuracy = next(line for line in table.splitlines()
                    if line.startswith("| 0.5 | ") and "±" in line)
    assert accuracy.split("|")[2].strip().startswith(
        f"{statistics.fmean(r['test_acc'][-1] for r in runs):.3f} ± ")
    ratios = [r["variance_shift"][2]["ratio"] for r in runs]
    assert row(table, "| 0.5 | before the hidden")[5] == (
        f"{statistics.fmean(ratios):.2f} ± {torch.tensor(ratios).std().item():.2f} *")


# ---- small-batch --------------------------------------------------------------------------


def small_batch_keys(data):
    c = data["config"]  # the command keys its runs "kind/b=B/seed=S"
    return ({f"{k}/b={b}/seed={s}" for s in range(c["seeds"]) for k in c["kinds"]
             for b in c["batch_sizes"]}
            | {f"{k}/b=1/seed={s}" for s in range(c["seeds"]) for k in c["batch_of_one"]})


def small_batch_holds(data, out, path):
    assert [(r["kind"], r["batch_size"], r["seed"], r["steps"]) for r in data["runs"].values()] \
        == [(k, b, 0, 16 // b) for k in ("bn", "in") for b in (2, 8)]  # seed-major order
    for r in data["runs"].values():
        assert r["lr"] == pytest.approx(r["batch_size"] / 256)
        # BN's runs also carry the error after recalibrating its moving statistics
        assert ("recalibrated_test_error" in r) == (r["kind"] == "bn")
    assert "batch_of_one_fc_error" not in data
    assert "bn batch   2 seed 0:     8 steps" in out


def small_batch_committed(data):
    c = data["config"]
    committed_basics(data)
    assert c["kinds"] == list(small_batch.KINDS)
    assert c["batch_sizes"] == list(small_batch.BATCH_SIZES)
    assert c["batch_of_one"] == list(small_batch.BATCH_OF_ONE)
    assert "more than one value per channel" in data["batch_of_one_fc_error"]
    for r in (r for r in data["runs"].values() if r["batch_size"] > 1):
        assert r["steps"] == c["examples"] // r["batch_size"]
        assert r["lr"] == pytest.approx(c["base_lr"] * r["batch_size"] / 256)
        assert 0.0 <= r["test_error"] <= 1.0 and r["train_loss"] > 0
        if r["kind"] == "bn":
            assert 0.0 <= r["recalibrated_test_error"] <= 1.0


def small_batch_page(path, data):
    table = printed(pages.small_batch_table, path)
    assert table.splitlines()[1] == "| batch size | BN | LN | IN | GN |"
    bn2 = [100 * r["test_error"] for r in data["runs"].values()
           if (r["kind"], r["batch_size"]) == ("bn", 2)]
    assert row(table, "| 2 |")[2].startswith(f"{statistics.fmean(bn2):.1f} ± ")


# ---- ablation -----------------------------------------------------------------------------


def ablation_keys(data):
    c = data["config"]  # the command keys its runs "arm/seed=S"
    return {f"{arm}/seed={s}" for s in range(c["seeds"]) for arm in c["arms"]}


def ablation_holds(data, out, path):
    assert list(data["runs"]) == ["all/seed=0", "none/seed=0", "std-only/seed=0"]
    for r in data["runs"].values():
        assert r["steps"] == 4 and len(r["test_acc"]) == 2
        assert len(r["bn_layers"]) == (0 if r["arm"] == "none" else 4)
        assert ("recalibrated_test_acc" in r) == (r["arm"] != "none")
    assert [e["run"]["arm"] for e in data["replay"]["runs"]] == ["all", "none", "std-only"]
    assert "    std-only seed 0: 4 steps, test acc" in out
    table = printed(pages.ablation_table, path)
    assert "| std-only |" in table and "1 seeds" in table


def ablation_committed(data):
    c = data["config"]
    committed_basics(data)
    assert c["arms"] == list(ablation.ARMS) and c["steps_per_epoch"] is None
    for r in data["runs"].values():
        assert len(r["test_acc"]) == c["epochs"] or r["diverged_at"] is not None
        layers = {"none": 0, "conv": 2, "fc": 2}.get(r["arm"], 4)
        assert len(r["bn_layers"]) == layers
        assert ("recalibrated_test_acc" in r) == (r["arm"] != "none")


def ablation_page(path, data):
    cells = row(printed(pages.ablation_table, path), "| all |")
    accs = [r["test_acc"][-1] for r in data["runs"].values() if r["arm"] == "all"]
    assert cells[4] == mean_std(accs, ".3f")
    recal = [r["recalibrated_test_acc"] for r in data["runs"].values() if r["arm"] == "all"]
    assert cells[5] == mean_std(recal, ".3f")


# ---- ghost-bn -----------------------------------------------------------------------------


def ghost_bn_keys(data):
    c = data["config"]  # the command keys its runs "arm/seed=S"
    return {f"{arm}/seed={s}" for s in range(c["seeds"]) for arm in c["arms"]}


def ghost_bn_holds(data, out, path):
    assert list(data["runs"]) == ["bn/seed=0", "ghost-16/seed=0"]
    for r in data["runs"].values():
        assert r["steps"] == 2 and len(r["train_loss"]) == 1
        for scores in (r, r["precise"]):
            assert scores["gap"] == pytest.approx(scores["train_acc_eval"] - scores["test_acc"])
    assert [e["run"] for e in data["replay"]["runs"]] == [{"arm": "bn", "seed": 0},
                                                          {"arm": "ghost-16", "seed": 0}]
    assert "ghost-16 seed 0: 2 steps" in out


def ghost_bn_committed(data):
    c = data["config"]
    committed_basics(data)
    assert c["batch_size"] == 512 and c["arms"] == list(ghost_bn.ARMS)
    for r in data["runs"].values():
        assert r["steps"] == c["epochs"] * -(-60000 // 512) and len(r["train_loss"]) == c["epochs"]
        for scores in (r, r["precise"]):
            assert 0.0 < scores["test_acc"] <= 1.0
            assert scores["gap"] == pytest.approx(scores["train_acc_eval"] - scores["test_acc"])


def ghost_bn_page(path, data):
    cells = row(printed(pages.ghost_bn_table, path), "| ghost-16 |")
    accs = [100 * r["precise"]["test_acc"] for r in data["runs"].values() if r["arm"] == "ghost-16"]
    assert cells[5].startswith(f"{statistics.fmean(accs):.1f} ± ")


# ---- moving-statistics --------------------------------------------------------------------


def moving_statistics_keys(data):
    c = data["config"]
    return {moving_statistics.run_key(m, b, s) for s in range(c["seeds"])
            for m in c["momenta"] for b in c["batch_sizes"]}


def moving_statistics_holds(data, out, path):
    runs = data["runs"]
    for r in runs.values():
        assert r["steps"] == 4 and r["eval_steps"] == [2, 4]
        assert len(r["test_acc"]) == len(r["recalibrated_test_acc"]) == 2
        assert r["lr"] == pytest.approx(r["batch_size"] / 256)
    # the momentum changes nothing in training: every momentum's run reaches the same weights
    for b in (8, 32):
        ema, cumulative = (runs[moving_statistics.run_key(m, b, 0)] for m in (0.1, None))
        assert ema["train_loss"] == cumulative["train_loss"]
        assert ema["recalibrated_test_acc"] == cumulative["recalibrated_test_acc"]
    assert "momentum cumulative batch  32 seed 0: test acc" in out


def moving_statistics_committed(data):
    c = data["config"]
    committed_basics(data)
    assert None in c["momenta"] and min(c["batch_sizes"]) <= 8  # cumulative; small batches
    for r in data["runs"].values():
        assert r["steps"] == c["steps"] and len(r["test_acc"]) == c["steps"] // c["eval_every"]
        assert r["lr"] == pytest.approx(c["base_lr"] * r["batch_size"] / 256)


# ---- ddp ----------------------------------------------------------------------------------

#: what the command stores as its 2-process check in the tiny run, instead of spawning the
#: processes a second time: test_ddp.py runs the check itself
TWO_PROCESSES = {"world_size": 2, "batch": 4, "steps": 5, "seed": 0, "base_lr": 1.0,
                 "backend": "gloo", "device": "cpu",
                 **{mode: {"params_across_processes": 0.0, "stats_across_processes": 0.0,
                           "params_vs_one": 1e-7, "stats_vs_one": 2e-7} for mode in ("bn", "sync")}}


def ddp_keys(data):
    c = data["config"]
    seeds, Ks, bs = range(c["seeds"]), c["nproc_per_node"], c["batch"]
    return ({ddp._key(m, K, b, s) for m in c["modes"] for K in Ks for b in bs for s in seeds}
            | {ddp._key("one", 1, K * b, s) for K in Ks for b in bs for s in seeds})


def ddp_holds(data, out, path):
    runs = data["runs"]
    one, sync, bn = (runs[ddp._key(m, K, b, 0)] for m, K, b in
                     (("one", 1, 4), ("sync", 2, 2), ("bn", 2, 2)))
    assert sync["backend"] == "gloo" and sync["steps"] == 6 and sync["lr"] == 4 / 256
    # the whole batch's loss at each step: SyncBatchNorm's is the one process's
    assert sync["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert bn["losses"][0] != pytest.approx(one["losses"][0], rel=1e-3)
    refused = runs[ddp._key("torch-sync", 2, 2, 0)]
    assert "GPU" in refused["error"] and "GPU" in refused["layer_error"]
    assert data["two_processes"] == TWO_PROCESSES
    assert [e["run"] for e in data["replay"]["runs"]] == [
        {"mode": "one", "batch": 4, "base_lr": 1.0, "seed": 0}]
    assert ("launching: -m torch.distributed.run --nnodes 1 --nproc-per-node 2 "
            "--master-addr 127.0.0.1") in out
    assert "| 2 × 2 | bnref.SyncBatchNorm |" in printed(pages.ddp_table, path)


def ddp_committed(data):
    committed_basics(data)
    assert data["two_processes"]["sync"]["params_vs_one"] < 1e-5


def ddp_page(path, data):
    config = data["config"]
    K, b = config["nproc_per_node"][0], config["batch"][0]
    accs = [100 * data["runs"][ddp._key("sync", K, b, s)]["test_acc"]
            for s in range(config["seeds"])]
    cells = row(printed(pages.ddp_table, path), f"| {K} × {b} | bnref.SyncBatchNorm |")
    assert cells[3].startswith(f"{statistics.fmean(accs):.1f} ± ")


# ---- convergence --------------------------------------------------------------------------


def convergence_keys(data):
    c = data["config"]
    return {convergence.run_key(a, m, c["lrs"][f"{a}/{m}"], s) for s in range(c["seeds"])
            for a in c["activations"] for m in c["arms"]}


def convergence_holds(data, out, path):
    for r in data["runs"].values():
        assert r["steps"] == 4 and r["epochs"] == 1 and r["stopped_by"] == "max-steps"
        assert r["best_epoch"] == 1 and r["final_test_acc"] == r["test_acc"][0]
        assert r["lr"] == convergence.LRS[(r["activation"], r["arm"])]
        assert "step_losses" not in r
    bn = data["runs"][convergence.run_key("relu", "bn", 0.3, 0)]
    none = data["runs"][convergence.run_key("relu", "none", 0.1, 0)]
    assert none["test_acc"] == none["test_acc_as_trained"]  # without BN nothing to re-estimate
    assert bn["test_acc"] != bn["test_acc_as_trained"]  # 4 steps: the moving averages lag
    assert "relu   bn lr 0.3 seed 0: 1 epochs (max-steps)" in out
    table = printed(pages.convergence_table, path)
    assert "| relu | " in table and "| – | – |" in table  # one seed: no interval


def convergence_committed(data):
    c = data["config"]
    committed_basics(data)
    assert c["seeds"] >= 5 and c["activations"] == list(lr_sweep.ACTIVATIONS)
    for r in data["runs"].values():
        assert r["stopped_by"] in ("patience", "max-epochs")
        assert r["epochs"] == len(r["val_acc"]) == len(r["test_acc"]) <= c["max_epochs"]
        best = r["val_acc"].index(max(r["val_acc"]))
        assert r["best_epoch"] == best + 1 and r["final_test_acc"] == r["test_acc"][best]
        if r["stopped_by"] == "patience":
            assert convergence.stop_epoch(r["val_acc"], c["patience"], c["min_delta"]) \
                == r["epochs"]


def convergence_page(path, data):
    table = printed(pages.convergence_table, path)
    for act in data["config"]["activations"]:
        bn = {r["seed"]: r["final_test_acc"] for r in data["runs"].values()
              if (r["activation"], r["arm"]) == (act, "bn")}
        none = {r["seed"]: r["final_test_acc"] for r in data["runs"].values()
                if (r["activation"], r["arm"]) == (act, "none")}
        cells = row(table, f"| {act} | ")
        assert cells[2].startswith(mean_std(list(bn.values()), ".3f"))
        diffs = [bn[s] - none[s] for s in bn]
        assert cells[6].startswith(f"{100 * statistics.fmean(diffs):+.1f} [")


# ---- regularization -----------------------------------------------------------------------


def regularization_keys(data):
    c = data["config"]
    return {regularization.run_key(arm, s) for s in range(c["seeds"]) for arm in c["arms"]}


def regularization_holds(data, out, path):
    for r in data["runs"].values():
        assert r["steps"] == 3 and r["train_images"] == 64
        assert 0.0 <= r["test_acc"] <= 1.0 and r["gap"] == r["train_acc"] - r["test_acc"]
    assert "recalibrated_test_acc" in data["runs"]["bn/seed=0"]
    assert "recalibrated_test_acc" not in data["runs"]["none/seed=0"]
    table = printed(pages.regularization_table, path)
    assert "| bn | " in table and "| BN added (no dropout) | none | – | – |" in table


def regularization_committed(data):
    c = data["config"]
    committed_basics(data)
    assert c["seeds"] >= 5 and c["arms"] == list(regularization.ARMS)
    steps = c["epochs"] * -(-c["train_images"] // c["batch_size"])
    for r in data["runs"].values():
        assert r["diverged_at"] is None and r["steps"] == steps


def regularization_page(path, data):
    table = printed(pages.regularization_table, path)
    runs = data["runs"].values()
    bn = {r["seed"]: r["recalibrated_test_acc"] for r in runs if r["arm"] == "bn"}
    assert row(table, "| bn | ")[2].startswith(mean_std(list(bn.values()), ".3f"))
    ghost = {r["seed"]: r["recalibrated_test_acc"] for r in runs if r["arm"] == "ghost-16"}
    diffs = [ghost[s] - bn[s] for s in bn]
    assert row(table, "| BN statistics from sub-batches of 16")[3].startswith(
        f"{100 * statistics.fmean(diffs):+.1f} [")


# ---- the table ----------------------------------------------------------------------------

COMMANDS = [
    Command("reproduce", reproduce,
            ("--device", "cpu", "--epochs", "1", "--seeds", "1", "--models", "lenet_bn",
             "--max-steps", "2"),
            asked={"epochs": 1, "seeds": 1, "models": ["lenet_bn"], "max_steps": 2,
                   "device": "cpu", "data_path": "fast", "bn_impl": None},
            keys=reproduce_keys, holds=reproduce_holds, committed_holds=reproduce_committed,
            bad=((("--seeds", "0"), "--seeds must be >= 1; got 0"),),
            other=("--epochs", "2"), compared={"model": "lenet", "lr": 0.9},
            page=reproduce_page, figure="curves"),
    Command("activations", activations, ("--steps", "3", "--images", "100"),
            asked={"steps": 3, "images": 100, "seed": 0, "models": list(activations.MODELS)},
            keys=activations_keys, holds=activations_holds,
            committed_holds=activations_committed,
            bad=((("--steps", "0"), "--steps and --images must be >= 1; got 0, 100"),),
            other=("--images", "50"), compared={"model": "lenet_bn", "lr": 1.0},
            figure="activations"),
    Command("lr-sweep", lr_sweep,
            ("--activations", "sigmoid", "--lrs", "0.01", "1", "--seeds", "1", "--max-steps", "24",
             "--eval-every", "8", "--eval-images", "1000", "--long-epochs", "1"),
            asked={"activations": ["sigmoid"], "arms": ["bn", "none"], "lrs": [0.01, 1.0],
                   "seeds": 1, "max_steps": 24, "eval_every": 8, "eval_images": 1000,
                   "long_epochs": 1},
            keys=lr_sweep_keys, holds=lr_sweep_holds, committed_holds=lr_sweep_committed,
            bad=((("--eval-images", "1500"),
                  "--eval-images must be a positive multiple of 1000; got 1500"),
                 (("--threshold", "0.05"), "--threshold must be a test accuracy between "
                                           r"chance \(0.1\) and 1; got 0.05")),
            other=("--threshold", "0.7"), compared={"arm": "none"},
            page=lr_sweep_page, figure="lr-sweep",
            resumed_prints=(r"^\w+ \w+: no rate at which every seed trained; no long run$",)),
    Command("init-scale", init_scale,
            ("--activations", "relu", "--scales", "0.1", "100", "--seeds", "1",
             "--max-steps", "20"),
            asked={"activations": ["relu"], "arms": ["bn", "none"], "scales": [0.1, 100.0],
                   "seeds": 1, "max_steps": 20, "lrs": {"relu": init_scale.LRS["relu"]}},
            keys=init_scale_keys, holds=init_scale_holds, committed_holds=init_scale_committed,
            bad=((("--scales", "0", "1"), r"--scales must be positive factors; got \[0.0, 1.0\]"),),
            other=("--relu-lr", "0.2"), compared={"init_scale": 1.0},
            page=init_scale_page, figure="init-scale"),
    Command("convergence", convergence,
            ("--activations", "relu", "--seeds", "1", "--max-steps", "4", "--held-out", "1000",
             "--recalibrate", "200"),
            asked={"activations": ["relu"], "arms": ["bn", "none"], "seeds": 1, "max_steps": 4,
                   "held_out": 1000, "recalibration_images": 200, "max_epochs": 40},
            keys=convergence_keys, holds=convergence_holds,
            committed_holds=convergence_committed,
            bad=((("--patience", "0"), "--patience must be >= 1; got 0"),
                 (("--recalibrate", "59500"), r"--recalibrate \(59500\) must not exceed")),
            other=("--patience", "3"), compared={"arm": "none"}, page=convergence_page),
    Command("regularization", regularization,
            ("--arms", "bn", "none", "--seeds", "1", "--epochs", "3", "--max-steps", "3",
             "--train-images", "64"),
            asked={"arms": ["bn", "none"], "seeds": 1, "epochs": 3, "max_steps": 3,
                   "train_images": 64, "lr": 0.1, "batch_size": 128},
            keys=regularization_keys, holds=regularization_holds,
            committed_holds=regularization_committed,
            bad=((("--train-images", "1"), "--train-images must be between 2 and 60000; got 1"),),
            other=("--lr", "0.2"), compared={"arm": "none"}, page=regularization_page),
    Command("placement", placement,
            ("--activations", "relu", "--lrs", "1", "--seeds", "1", "--epochs", "1",
             "--max-steps", "3"),
            asked={"activations": ["relu"], "placements": ["before", "after"], "lrs": [1.0],
                   "seeds": 1, "epochs": 1, "max_steps": 3, "batch_size": 256},
            keys=placement_keys, holds=placement_holds, committed_holds=placement_committed,
            bad=((("--epochs", "0"), "--epochs must be >= 1; got 0"),
                 (("--lrs", "0"), r"--lrs must be positive learning rates; got \[0.0\]"),
                 (("--recalibrate", "0"),
                  "--recalibrate must be a number of training images >= 1; got 0")),
            other=("--lrs", "0.5"), compared={"placement": "after"},
            page=placement_page, figure="placement"),
    Command("dropout", dropout,
            ("--ps", "0.5", "--places", "hidden", "--seeds", "1", "--epochs", "1",
             "--max-steps", "2"),
            asked={"ps": [0.5], "places": ["hidden"], "arms": ["bn", "none"], "seeds": 1,
                   "epochs": 1, "max_steps": 2},
            keys=dropout_keys, holds=dropout_holds, committed_holds=dropout_committed,
            bad=((("--ps", "1"), r"--ps must be dropout probabilities in \[0, 1\); got \[1.0\]"),
                 (("--seeds", "0"), "--seeds must be >= 1; got 0")),
            other=("--ps", "0.3"), compared={"p": 0.5},  # the masks matter
            page=dropout_page, figure="dropout"),
    Command("small-batch", small_batch,
            ("--examples", "16", "--batch-sizes", "2", "8", "--kinds", "bn", "in", "--seeds", "1",
             "--no-batch-of-one"),
            asked={"examples": 16, "batch_sizes": [2, 8], "kinds": ["bn", "in"], "seeds": 1,
                   "batch_of_one": []},
            keys=small_batch_keys, holds=small_batch_holds, committed_holds=small_batch_committed,
            bad=((("--seeds", "0"), "--seeds must be >= 1; got 0"),),
            other=("--examples", "32"), compared={"kind": "gn"},
            page=small_batch_page, figure="small-batch"),
    Command("ablation", ablation,
            ("--epochs", "2", "--steps-per-epoch", "2", "--eval-batches", "1", "--seeds", "1",
             "--arms", "all", "none", "std-only"),
            asked={"arms": ["all", "none", "std-only"], "epochs": 2, "steps_per_epoch": 2,
                   "eval_batches": 1, "seeds": 1, "lr": 1.0, "batch_size": 256},
            keys=ablation_keys, holds=ablation_holds, committed_holds=ablation_committed,
            bad=((("--batch-size", "1"), "--batch-size must be >= 2; got 1"),),
            other=("--lr", "0.5"), compared={"arm": "std-only"},
            page=ablation_page,
            resumed_prints=(r"^ *[\w-]+: test acc [\d.]+ over \d+ seed\(s\)$",)),
    Command("ghost-bn", ghost_bn,
            ("--arms", "bn", "ghost-16", "--seeds", "1", "--max-steps", "2",
             "--train-subset", "200"),
            asked={"arms": ["bn", "ghost-16"], "seeds": 1, "max_steps": 2, "train_subset": 200,
                   "batch_size": 512},
            keys=ghost_bn_keys, holds=ghost_bn_holds, committed_holds=ghost_bn_committed,
            bad=((("--epochs", "0"), "--epochs must be >= 1; got 0"),),
            other=("--train-subset", "100"), compared={"arm": "ghost-16"},
            page=ghost_bn_page, figure="ghost-bn"),
    Command("moving-statistics", moving_statistics,
            ("--batch-sizes", "8", "32", "--momenta", "0.1", "cumulative", "--steps", "4",
             "--eval-every", "2", "--seeds", "1", "--recalibrate", "64", "--test-images", "200"),
            asked={"momenta": [0.1, None], "batch_sizes": [8, 32], "steps": 4, "eval_every": 2,
                   "seeds": 1, "recalibration_images": 64, "test_images": 200},
            keys=moving_statistics_keys, holds=moving_statistics_holds,
            committed_holds=moving_statistics_committed,
            bad=((("--eval-every", "3"), "--eval-every must be a positive divisor of --steps; "
                                         "got --steps 4, --eval-every 3"),
                 (("--batch-sizes", "1"), r"--batch-sizes must be >= 2 .*got \[1\]")),
            other=("--base-lr", "0.5"), compared={"batch_size": 32},
            figure="moving-statistics"),
    Command("ddp", ddp,
            ("--nproc-per-node", "2", "--batch", "2", "--steps", "6", "--seeds", "1",
             "--test-images", "200", "--device", "cpu"),
            asked={"nproc_per_node": [2], "batch": [2], "modes": list(ddp.MODES), "steps": 6,
                   "seeds": 1, "test_images": 200, "device": "cpu"},
            keys=ddp_keys, holds=ddp_holds, committed_holds=ddp_committed,
            bad=((("--batch", "1", "4"), r"--batch must be >= 2 per process .*got \[1, 4\]"),),
            other=("--steps", "5"), compared={"batch": 8},
            page=ddp_page, stubs={"compare_with_one_process": lambda: TWO_PROCESSES}),
]
BY_NAME = {c.name: c for c in COMMANDS}
WITH_FIGURE = [c for c in COMMANDS if c.figure]
WITH_PAGE = [c for c in COMMANDS if c.page]
BAD = [pytest.param(c, argv, match, id=f"{c.name}:{' '.join(argv)}")
       for c in COMMANDS for argv, match in c.bad]


def test_the_table_holds_every_training_command():
    """Every command whose file carries runs to replay, but sync-check (one check, no runs)."""
    replayed = {name for name, module in CLI.items()
                if hasattr(importlib.import_module(module), "replay_losses")}
    assert replayed - {"sync-check"} == set(BY_NAME)
    for c in COMMANDS:
        assert CLI[c.name] == c.module.__name__


# ---- one tiny run per command, shared by its tests ----------------------------------------


@dataclass
class Tiny:
    path: Path
    data: dict    #: the file after the first invocation
    out: str      #: what the first invocation printed
    resumed: dict  #: the file after a second, identical invocation
    resumed_out: str


def _invoke(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


#: A tiny run scores on this many test images, not all 10,000: scoring is most of a tiny
#: run's time, and these tests hold what a command writes, not how well it learns.
TINY_TEST_IMAGES = 500
_all_test_images = sweep.test_data


def _first_test_images(device="cpu", *, train: bool = False, images: int | None = None):
    return _all_test_images(device, train=train, images=TINY_TEST_IMAGES if images is None else images)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    done: dict[str, Tiny] = {}

    def run(cmd: Command) -> Tiny:
        if cmd.name not in done:
            path = tmp_path_factory.mktemp(cmd.name) / "x.json"
            argv = [cmd.name, *cmd.argv, "--out", str(path), "--no-progress"]
            with pytest.MonkeyPatch.context() as mp:
                for attribute, value in cmd.stubs.items():
                    mp.setattr(cmd.module, attribute, value)
                mp.setattr(sweep, "test_data", _first_test_images)
                out = _invoke(argv)
                data = json.loads(path.read_text())
                resumed_out = _invoke(argv)
            done[cmd.name] = Tiny(path, data, out, json.loads(path.read_text()), resumed_out)
        return done[cmd.name]

    return run


@pytest.fixture
def tiny(cmd, tiny_runs) -> Tiny:
    return tiny_runs(cmd)


@pytest.fixture(scope="module")
def committed_files():
    cache = {}

    def load(cmd: Command) -> dict:
        if cmd.name not in cache:
            if not cmd.committed.is_file():
                pytest.fail(f"{cmd.committed} is missing: run python -m bnref {cmd.name} "
                            f"--threads 1")
            cache[cmd.name] = json.loads(cmd.committed.read_text(encoding="utf-8"))
        return cache[cmd.name]

    return load


each = pytest.mark.parametrize("cmd", COMMANDS, ids=str)


# ---- the tiny run's file ------------------------------------------------------------------


@each
def test_the_command_writes_the_runs_it_was_asked_for(cmd, tiny):
    data = tiny.data
    assert data["experiment"] == cmd.name
    assert {k: data["config"][k] for k in cmd.asked} == cmd.asked
    assert set(data["runs"]) == cmd.keys(data)
    assert PROVENANCE <= set(data["provenance"])
    for r in data["runs"].values():  # each run says where, with what and when it ran
        assert PROVENANCE <= set(r["provenance"])
        assert r["provenance"]["machine"]["cpu_capability"]
    cmd.holds(data, tiny.out, tiny.path)
    assert f"wrote {tiny.path} (" in tiny.out
    if cmd.figure:  # no command draws its figure: it says how
        assert f"draw its figure with: python -m bnref figures --only {cmd.figure}" in tiny.out


@each
def test_a_second_invocation_resumes_and_trains_nothing(cmd, tiny):
    runs = tiny.data["runs"]
    assert f"resuming {tiny.path}: {len(runs)} runs already done" in tiny.resumed_out
    assert tiny.resumed["runs"] == runs  # provenance (date, seconds) included
    assert tiny.resumed["replay"] == tiny.data["replay"]  # not computed again
    said = (r"^resuming ", r"^wrote ", r"^draw its figure with: ", r"^its table: ",
            *cmd.resumed_prints)
    trained = [line for line in tiny.resumed_out.splitlines()
               if not any(re.search(p, line) for p in said)]
    assert trained == []


@each
def test_a_file_of_other_settings_is_refused(cmd, tiny):
    argv = [cmd.name, *cmd.argv, *cmd.other, "--out", str(tiny.path), "--no-progress"]
    with pytest.raises(SystemExit, match="holds results of other settings"):
        main(argv)
    assert json.loads(tiny.path.read_text())["runs"] == tiny.resumed["runs"]


@each
def test_the_replay_entry_is_what_the_code_computes_in_float64(cmd, tiny):
    entry = tiny.data["replay"]
    assert entry["module"] == cmd.module.__name__
    assert entry["dtype"] == "float64" and entry["threads"] == 1
    assert entry["steps"] == sweep.REPLAY_STEPS and entry["runs"]
    assert all(len(e["losses"]) == entry["steps"] for e in entry["runs"])
    assert replay.check(tiny.path) == []


@each
def test_replay_losses_are_determined_by_the_settings(cmd, tiny):
    spec = tiny.data["replay"]["runs"][0]["run"]
    first = cmd.module.replay_losses(spec, 3)
    assert len(first) == 3 and all(isinstance(x, float) for x in first)
    assert cmd.module.replay_losses(spec, 3) == first
    assert cmd.module.replay_losses({**spec, "seed": spec["seed"] + 1}, 3) != first
    changed = {**spec, **cmd.compared}
    assert changed != spec, f"{cmd.compared} is the replayed run's own setting"
    assert cmd.module.replay_losses(changed, 3) != first


@pytest.mark.parametrize("cmd, argv, match", BAD)
def test_bad_settings_are_refused_with_what_was_given(cmd, argv, match, tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit, match=match):
        main([cmd.name, *cmd.argv, *argv, "--out", str(out), "--no-progress"])
    assert not out.exists()


# ---- the committed file -------------------------------------------------------------------


@each
def test_committed_results_cover_every_setting_and_seed(cmd, committed_files):
    data = committed_files(cmd)
    assert data["experiment"] == cmd.name
    assert data["command"].startswith(f"python -m bnref {cmd.name}")
    assert set(data["runs"]) == cmd.keys(data)
    for r in data["runs"].values():
        assert PROVENANCE <= set(r["provenance"])
    assert data["replay"]["module"] == cmd.module.__name__ and data["replay"]["runs"]
    assert data["wall_seconds"] > 0
    cmd.committed_holds(data)


@pytest.mark.parametrize("cmd", WITH_PAGE, ids=str)
def test_the_page_prints_the_numbers_of_the_committed_file(cmd, committed_files):
    cmd.page(cmd.committed, committed_files(cmd))


# ---- the figure, drawn from a results file ------------------------------------------------


@pytest.mark.parametrize("cmd", WITH_FIGURE, ids=str)
def test_the_figure_is_drawn_from_the_results_file(cmd, tiny, tmp_path):
    draw, results_file = figures.FROM_RESULTS[cmd.figure]
    assert results_file == cmd.committed.name  # python -m bnref figures draws the committed file
    fresh = draw(tiny.path, tmp_path / "f.svg")
    assert ET.parse(fresh).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    # the committed file gives the site's figure, byte for byte
    site = draw(cmd.committed, tmp_path / f"{cmd.figure}.svg")
    assert site.read_text() == (FIGURES / f"{cmd.figure}.svg").read_text()
