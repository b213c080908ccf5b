"""`python -m bnref throughput` and the fast training path (bnref.speed.fast_path).

The full timing is a command; here each setting trains for a step or two on
the real data, and the committed file is checked against the code's settings.
"""

import json

import pytest

from bnref.__main__ import main
from bnref.experiments.commands import throughput
from bnref.speed.fast_path import FIRST_CONVS, POOLS, fast_path

from results_support import RESULTS


@pytest.mark.parametrize("bn, first_conv, pool", [("note", "torch", "torch"),
                                                  ("fast", "one_channel", "2x2"),
                                                  ("fused", "torch", "fused")])
def test_throughput_counts_the_examples_it_trains_on(bn, first_conv, pool):
    r = throughput.measure_throughput("fast", bn, first_conv=first_conv, pool=pool, device="cpu",
                                     max_steps=3)
    assert r["steps"] == 3 and r["examples"] == 3 * 256
    assert throughput.setting(r) == ("fast", bn, first_conv, pool)
    # wall time also holds the test-set evaluation; the step rate does not
    assert r["wall_seconds"] > r["train_seconds"]
    assert r["wall_examples_per_sec"] < r["step_examples_per_sec"]
    assert 0.0 <= r["test_acc"] <= 1.0


def test_throughput_runs_go_from_the_notes_setup_to_the_fast_path():
    runs = throughput.THROUGHPUT_RUNS
    assert runs[0] == throughput.NOTE_SETUP == ("d2l", "note", "torch", "torch")
    # the fast path with either first convolution, whichever CPU made the file
    for capability in ("AVX2", "AVX512"):
        assert fast_path(capability) in runs
    assert {data for data, _, _, _ in runs} == {"d2l", "fast"}
    assert {conv for _, _, conv, _ in runs} == set(FIRST_CONVS)
    assert {pool for _, _, _, pool in runs} == set(POOLS)
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


def test_unknown_first_conv_is_refused():
    with pytest.raises(ValueError, match="first_conv must be one of torch, one_channel; got 'nhwc'"):
        throughput.measure_throughput("fast", "fast", first_conv="nhwc", device="cpu", max_steps=1)


def test_unknown_pool_is_refused():
    with pytest.raises(ValueError, match="pool must be one of torch, 2x2, fused; got 'avg'"):
        throughput.measure_throughput("fast", "fast", pool="avg", device="cpu", max_steps=1)


@pytest.mark.parametrize("bn, pool", [("fused", "2x2"), ("fast", "fused")])
def test_the_fused_pool_goes_with_the_fused_batch_norm_only(bn, pool):
    with pytest.raises(ValueError, match=f"BatchNorm 'fused' goes with pool 'fused' and only "
                       f"with it; got BatchNorm '{bn}' and pool '{pool}'"):
        throughput.measure_throughput("fast", bn, pool=pool, device="cpu", max_steps=1)


def test_first_conv_is_timed_both_ways():
    ms = throughput.time_first_conv(device="cpu", batch_size=32, min_run_time=0.05)
    assert set(ms) == set(FIRST_CONVS)
    assert all(v > 0 for v in ms.values())


def test_first_pool_is_timed_both_ways():
    ms = throughput.time_first_pool(device="cpu", batch_size=32, min_run_time=0.05)
    assert set(ms) == {"torch", "2x2"}
    assert all(v > 0 for v in ms.values())


def test_first_block_is_timed_three_ways():
    ms = throughput.time_first_block(device="cpu", batch_size=32, min_run_time=0.05)
    assert tuple(ms) == throughput.BLOCKS == ("torch", "fast", "fused")
    assert all(v > 0 for v in ms.values())


# --------------------------------------------------------------------------
# The committed results
# --------------------------------------------------------------------------


def test_committed_throughput_matches_the_code_that_made_it():
    data = json.loads((RESULTS / "throughput-cpu.json").read_text())
    settings = [tuple(s) for s in throughput.THROUGHPUT_RUNS]
    assert "+" not in data["provenance"]["commit"], "made from committed code"
    rounds = data["config"]["rounds"]
    assert rounds >= 3 and len(data["runs"]) == rounds * len(settings)
    for r in data["runs"].values():
        assert r["steps"] == 235  # full epochs
        assert r["examples"] == 60000 and r["batch_size"] == 256
    # the medians and the ratio are recomputed from the runs, not copied
    assert data["medians"] == throughput.throughput_medians(list(data["runs"].values()))
    assert [throughput.setting(m) for m in data["medians"]] == settings
    # the fast path of the CPU that made the file (this one may have another), and the ratio
    # the file states for it: the file's own choice, never this machine's
    fast = tuple(data["fast_path"])
    assert fast == fast_path(data["provenance"]["machine"]["cpu_capability"])
    by = {throughput.setting(m): m for m in data["medians"]}
    assert data["ratio_fast_over_note"] == pytest.approx(
        by[fast]["wall_examples_per_sec"] / by[throughput.NOTE_SETUP]["wall_examples_per_sec"])
    assert [(p["batch_norm"], p["first_conv"], p["pool"]) for p in data["step_profiles"]] == [
        s[1:] for s in throughput.PROFILED[:2]] + [tuple(data["fast_path"][1:])]
    assert set(data["first_pool_ms"]) == {"torch", "2x2"}
    assert tuple(data["first_block_ms"]) == throughput.BLOCKS


def test_the_command_writes_each_epoch_and_resumes(tmp_path, capsys):
    out = tmp_path / "t.json"
    args = ["throughput", "--rounds", "1", "--max-steps", "1", "--device", "cpu", "--threads",
            "1", "--min-run-time", "0.01", "--out", str(out)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert len(data["runs"]) == len(throughput.THROUGHPUT_RUNS)
    assert data["timed_code"]["hash"] and data["medians"]
    assert main(args) == 0  # nothing left to time but the closing measurements
    assert "resuming" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == data["runs"]


def test_throughput_rounds_must_be_positive():
    with pytest.raises(SystemExit, match="--rounds must be >= 1; got 0"):
        main(["throughput", "--rounds", "0", "--device", "cpu"])


@pytest.mark.parametrize("bn, first_conv, pool", [s[1:] for s in throughput.PROFILED])
def test_step_profile_splits_a_training_step_into_parts(bn, first_conv, pool):
    p = throughput.profile_step(bn, first_conv=first_conv, pool=pool, device="cpu", steps=2)
    assert (p["batch_norm"], p["first_conv"], p["pool"]) == (bn, first_conv, pool)
    shares = p["shares"]
    assert set(shares) == set(throughput.STEP_PARTS) | {"other"}
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
