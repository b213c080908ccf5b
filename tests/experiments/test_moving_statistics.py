"""The moving-statistics command (bnref.experiments.commands.moving_statistics): BN's batch and
moving statistics step by step, by momentum and batch size, for the page's explorer.

A tiny grid runs once per module (a few steps of batch 2, 8 and 32, two momenta, one seed)
and again to resume. Checked: the runs asked for and their contents, the resume, the
replay (float64), that the recorded statistics are that channel's own (one step recomputed
by hand, the moving average's update rule, the spread at fixed weights), that the runs of
every momentum share their weights, the printers, and that the committed file covers the
whole grid and gives the site's figure.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch

from bnref import results
from bnref.__main__ import main
from bnref.d2l.train import init_weights
from bnref.experiments.commands import moving_statistics as ms
from bnref.experiments.harness import replay, sweep
from bnref.experiments.report import figures, pages

from results_support import FIGURES

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--batch-sizes", "2", "8", "32", "--momenta", "0.1", "cumulative", "--steps", "4",
        "--eval-every", "2", "--seeds", "1", "--recalibrate", "64", "--test-images", "200"]


def invoke(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("moving-statistics") / "x.json"
    argv = ["moving-statistics", *TINY, "--out", str(path), "--no-progress"]
    with torch.random.fork_rng():
        first = invoke(argv)
        data = json.loads(path.read_text())
        again = invoke(argv)
    return path, data, first, json.loads(path.read_text()), again


# ---- the tiny run's file ------------------------------------------------------------------


def test_the_command_writes_the_runs_it_was_asked_for(tiny):
    path, data, out, _, _ = tiny
    assert data["experiment"] == "moving-statistics"
    c = data["config"]
    assert (c["momenta"], c["batch_sizes"], c["steps"], c["eval_every"], c["seeds"]) == (
        [0.1, None], [2, 8, 32], 4, 2, 1)
    assert set(data["runs"]) == {ms.run_key(m, b, 0) for m in (0.1, None) for b in (2, 8, 32)}
    assert "m=cumulative/b=8/seed=0" in data["runs"]
    for r in data["runs"].values():
        assert r["steps"] == 4 and r["eval_steps"] == [2, 4]
        assert len(r["test_acc"]) == len(r["recalibrated_test_acc"]) == 2
        assert all(0 <= a <= 1 for a in r["test_acc"] + r["recalibrated_test_acc"])
        assert {k: len(v) for k, v in r["recalibrated_stats"].items()} == {"mean": 2, "var": 2}
        assert {k: len(v) for k, v in r["sampling_spread"].items()} == {"mean": 2, "var": 2}
        assert {k: len(v) for k, v in r["trace"].items()} == {
            "batch_mean": 4, "batch_var": 4, "moving_mean": 4, "moving_var": 4}
        assert r["lr"] == r["batch_size"] / 256
        assert {"machine", "versions", "commit", "command", "date"} <= set(r["provenance"])
    assert f"wrote {path} (" in out
    assert "draw its figure with: python -m bnref figures --only moving-statistics" in out


def test_a_second_invocation_resumes_and_trains_nothing(tiny):
    path, data, _, resumed, again = tiny
    assert f"resuming {path}: {len(data['runs'])} runs already done" in again
    assert resumed["runs"] == data["runs"] and resumed["replay"] == data["replay"]
    assert "test acc" not in again


def test_the_replay_passes_and_skips_batch_2(tiny):
    path, data, _, _, _ = tiny
    entry = data["replay"]
    assert entry["module"] == ms.__name__ and entry["dtype"] == "float64"
    assert [e["run"]["batch_size"] for e in entry["runs"]] == [8, 32]
    assert all(len(e["losses"]) == sweep.REPLAY_STEPS for e in entry["runs"])
    assert replay.check(path) == []


def test_replay_losses_depend_on_the_batch_and_the_seed_not_on_the_momentum():
    spec = {"momentum": 0.1, "batch_size": 8, "lr": 8 / 256, "seed": 0}
    first = ms.replay_losses(spec, 3)
    assert ms.replay_losses(spec, 3) == first
    assert ms.replay_losses({**spec, "momentum": None}, 3) == first  # training ignores it
    assert ms.replay_losses({**spec, "seed": 1}, 3) != first
    assert ms.replay_losses({**spec, "batch_size": 32, "lr": 32 / 256}, 3) != first


def test_the_runs_of_every_momentum_share_their_steps(tiny):
    _, data, _, _, _ = tiny
    for b in (2, 8, 32):
        a, c = data["runs"][ms.run_key(0.1, b, 0)], data["runs"][ms.run_key(None, b, 0)]
        assert a["trace"]["batch_mean"] == c["trace"]["batch_mean"]
        assert a["trace"]["batch_var"] == c["trace"]["batch_var"]
        assert a["recalibrated_test_acc"] == c["recalibrated_test_acc"]
        assert a["recalibrated_stats"] == c["recalibrated_stats"]
        # the cumulative average of the first step is that step's batch statistic
        assert c["trace"]["moving_mean"][0] == c["trace"]["batch_mean"][0]


@pytest.mark.parametrize("argv, match", [
    (("--eval-every", "3"), r"--eval-every must be a positive divisor of --steps; got "
                            r"--steps 4, --eval-every 3"),
    (("--batch-sizes", "1", "8"), r"--batch-sizes must be >= 2 .*got \[1, 8\]"),
    (("--recalibrate", "40"), "--recalibrate must be 2 x the largest batch size"),
])
def test_bad_settings_are_refused(argv, match, tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit, match=match):
        main(["moving-statistics", *TINY, *argv, "--out", str(out), "--no-progress"])
    assert not out.exists()


def test_a_bad_momentum_is_refused():
    with pytest.raises(SystemExit):
        main(["moving-statistics", "--momenta", "0.9", "2"])
    assert ms.parse_momentum("cumulative") is None and ms.parse_momentum("0.5") == 0.5
    assert ms.d2l_momentum(0.01) == 0.99 and ms.d2l_momentum(None) is None


# ---- the statistics are the channel's own -------------------------------------------------


@pytest.mark.parametrize("momentum", [0.1, None])
def test_the_recorded_statistics_are_that_channels_recomputed_by_hand(momentum):
    b, lr, seed = 8, 8 / 256, 0
    with torch.random.fork_rng():
        _, trace, _ = ms.train_one(momentum, b, lr, seed, 2, trace=True)
        # by hand: the same seed, the same initialization, the same first batch
        torch.manual_seed(seed)
        net = ms.build(momentum)
        net.apply(init_weights)
        X, _ = next(iter(sweep.train_data(b)))
    with torch.no_grad():
        x = net[0](X)[:, ms.CHANNEL]  # what enters net[1], channel 0: (8, 24, 24)
    n = x.numel()
    mean = x.sum().item() / n
    var = ((x - mean) ** 2).sum().item() / (n - 1)  # unbiased, as running_var averages
    assert trace["batch_mean"][0] == pytest.approx(mean, rel=1e-5, abs=1e-7)
    assert trace["batch_var"][0] == pytest.approx(var, rel=1e-5)
    # the moving statistics after the first update: from (0, 1), or replaced (cumulative)
    w = 1.0 if momentum is None else momentum
    assert trace["moving_mean"][0] == pytest.approx((1 - w) * 0 + w * mean, rel=1e-5, abs=1e-7)
    assert trace["moving_var"][0] == pytest.approx((1 - w) * 1 + w * var, rel=1e-5)
    # and the second step's update is the rule applied to the second batch statistic
    w = 0.5 if momentum is None else momentum
    for stat in ("mean", "var"):
        expected = (1 - w) * trace[f"moving_{stat}"][0] + w * trace[f"batch_{stat}"][1]
        assert trace[f"moving_{stat}"][1] == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_the_sampling_spread_is_the_std_of_the_batch_statistics_at_fixed_weights():
    torch.manual_seed(0)
    net = ms.build(0.1)
    images = torch.rand(40, 1, 28, 28)
    mean_spread, var_spread = ms.sampling_spread(net, images, 8)
    with torch.no_grad():
        x = net[0](images)[:, ms.CHANNEL]
    means = [x[i:i + 8].mean().item() for i in range(0, 40, 8)]
    variances = [x[i:i + 8].var().item() for i in range(0, 40, 8)]
    assert mean_spread == pytest.approx(torch.tensor(means).std().item(), rel=1e-5)
    assert var_spread == pytest.approx(torch.tensor(variances).std().item(), rel=1e-5)
    with pytest.raises(ValueError, match="fewer than two batches"):
        ms.sampling_spread(net, images, 32)


def test_the_weights_digest_tells_weights_apart_not_moving_statistics():
    torch.manual_seed(0)
    a, b = ms.build(0.1), ms.build(None)
    b.load_state_dict(a.state_dict())
    b[1].running_mean += 1.0  # other moving statistics, same weights
    assert ms.weights_digest(a) == ms.weights_digest(b)
    with torch.no_grad():
        b[0].weight[0, 0, 0, 0] += 1e-6
    assert ms.weights_digest(a) != ms.weights_digest(b)


def test_the_file_keeps_the_trace_rounded_to_its_digits(tiny):
    _, data, _, _, _ = tiny
    for r in data["runs"].values():
        for values in r["trace"].values():
            assert all(float(f"{v:.{ms.DIGITS}g}") == v for v in values)


# ---- the committed file, its page and its figure ------------------------------------------

COMMITTED = results.path("moving-statistics-cpu.json")


@pytest.fixture(scope="module")
def committed():
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_the_committed_file_covers_the_whole_grid(committed):
    c = committed["config"]
    assert committed["command"].startswith("python -m bnref moving-statistics")
    assert c["momenta"] == [0.01, 0.1, 0.5, None] and c["batch_sizes"] == [2, 8, 32, 256]
    assert c["seeds"] >= 3
    keys = {ms.run_key(m, b, s) for m in c["momenta"] for b in c["batch_sizes"]
            for s in range(c["seeds"])}
    assert set(committed["runs"]) == keys
    steps = list(range(c["eval_every"], c["steps"] + 1, c["eval_every"]))
    for r in committed["runs"].values():
        assert r["eval_steps"] == steps and r["steps"] == c["steps"]
        assert len(r["test_acc"]) == len(r["recalibrated_test_acc"]) == len(steps)
        assert ("trace" in r) == (r["seed"] == c["traced_seed"])
        if "trace" in r:
            assert all(len(v) == c["steps"] for v in r["trace"].values())
            assert all(math.isfinite(v) for v in r["trace"]["moving_var"])
    assert [e["run"]["batch_size"] for e in committed["replay"]["runs"]] == [8, 256]
    assert committed["replay"]["module"] == ms.__name__


def test_the_committed_file_replays():
    assert replay.check(COMMITTED) == []


def test_the_printers_print_the_committed_numbers(committed):
    c = committed["config"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        pages.moving_statistics_run(COMMITTED, None, 256)
        pages.moving_statistics_accuracy(COMMITTED)
    text = out.getvalue()
    r = committed["runs"][ms.run_key(None, 256, c["traced_seed"])]
    assert "as trained:    " + " ".join(f"{100 * a:5.1f}" for a in r["test_acc"]) in text
    assert f"moving {r['trace']['moving_mean'][-1]:g}" in text
    assert text.rstrip().endswith("re-estimated accuracy the same for every momentum "
                                  "(same batch size and seed): True")


def test_the_committed_file_gives_the_sites_figure(tmp_path):
    draw, name = figures.FROM_RESULTS["moving-statistics"]
    assert name == COMMITTED.name
    out = draw(COMMITTED, tmp_path / "moving-statistics.svg")
    assert out.read_text() == (FIGURES / "moving-statistics.svg").read_text()
