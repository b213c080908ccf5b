"""python -m bnref bench: byte model, the quick smoke run and its JSON."""

import json
import os
import platform
import resource
import subprocess
import sys

import pytest
import torch

from bnref.experiments.commands import bench
from bnref.experiments.harness import timing

from bnref.experiments.report import pages
from bnref.speed import fast as bnref_fast
from bnref.__main__ import main
from bnref.models import lenet_bn_with


def test_lower_bound_bytes_follows_the_byte_model():
    elements = 128 * 64 * 56 * 56
    # train: read X, write Y, read dY, write dX; eval: read X, write Y (float32)
    assert bench.lower_bound_bytes((128, 64, 56, 56), "train") == 4 * 4 * elements
    assert bench.lower_bound_bytes((128, 64, 56, 56), "eval") == 2 * 4 * elements


@pytest.mark.parametrize("mode", bench.MODES)
def test_every_implementation_runs_in_both_modes(mode):
    for impl in bench.IMPLS:
        bench.make_call(impl, mode, (4, 3, 2, 2), "cpu")()


def test_quick_run_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    eager = [i for i in bench.IMPLS if i not in bench.COMPILED_IMPLS]  # compiling: elsewhere
    assert main(["bench", "--quick", "--threads", "1", "--min-run-time", "0.005",
                 "--rounds", "2", "--impls", ",".join(eager), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())

    assert results["device"] == "cpu" and results["threads"] == 1
    assert results["torch"] == torch.__version__
    assert {"cpu", "cpu_count"} <= set(results["machine"])
    rows = results["rows"]
    assert {(r["impl"], r["mode"]) for r in rows} == {(i, m) for i in eager for m in bench.MODES}
    assert all(r["shape"] == [256, 16, 8, 8] and r["median_s"] > 0 for r in rows)
    assert results["rounds"] == 2 and results["allocator"] == "default"
    assert results["git_commit"].split("+")[0] in (subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(), "unknown")
    for r in rows:  # the row's median is the median of its rounds
        assert len(r["round_medians_s"]) == 2
        assert r["median_s"] == pytest.approx(sum(r["round_medians_s"]) / 2)
    for r in rows:
        torch_row = next(t for t in rows if t["impl"] == "torch" and t["mode"] == r["mode"])
        assert r["ratio_to_torch"] == pytest.approx(r["median_s"] / torch_row["median_s"])
        assert r["gb_per_s"] == pytest.approx(r["lower_bound_bytes"] / r["median_s"] / 1e9)
    assert bench.format_table(results) in printed


def test_unknown_implementation_is_refused():
    with pytest.raises(SystemExit, match="unknown implementation.*nope.*choose from note"):
        main(["bench", "--quick", "--impls", "fast,nope", "--out", "-"])


RETAIN_PROBE = """
import resource, sys
from bnref.experiments.commands import bench
from bnref.experiments.harness import timing
if sys.argv[1] == "retain":
    assert timing.retain_freed_memory()
call = bench.make_call("torch", "train", bench.SHAPES["large"], "cpu")  # F.batch_norm
for _ in range(6):  # with memory retained, the heap grows over the first calls
    call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    call()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
"""


def faults_per_call(mode, **env):
    environment = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    done = subprocess.run([sys.executable, "-c", RETAIN_PROBE, mode],
                          capture_output=True, text=True, check=True,
                          env=dict(environment, **env))
    return float(done.stdout.split()[-1])


@pytest.fixture(scope="module")
def default_faults():
    """Page faults per F.batch_norm call with the default allocator (one probe, shared)."""
    return faults_per_call("default")


#: with the kernel's THP mode at "always", every large mapping already gets huge pages
THP_ALWAYS = timing.huge_pages()["kernel"] == "always"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
@pytest.mark.skipif(THP_ALWAYS, reason="kernel THP mode 'always': the default allocator's "
                    "large blocks already fault once per 2 MiB, not per 4 KiB")
def test_retained_memory_cuts_the_page_faults_of_new_tensors(default_faults):

    n, c, h, w = bench.SHAPES["large"]
    pages = n * c * h * w * 4 // resource.getpagesize()  # one full-size float32 tensor
    default, retained = default_faults, faults_per_call("retain")
    # glibc's default returns Y's and dX's blocks (over 32 MiB) to the kernel
    # on free, so each call's new Y and dX fault in fresh, zeroed pages
    assert default > 1.5 * pages
    # retained: most of them reuse pages the process already has
    assert retained < default / 2


@pytest.mark.skipif(timing.huge_pages()["kernel"] != "madvise",
                    reason="PyTorch's switch only changes anything where the kernel's THP "
                    "mode is 'madvise' ('never': no huge pages; 'always': huge pages already)")
def test_pytorch_huge_pages_cut_the_page_faults_of_new_tensors(default_faults):
    default = default_faults
    huge = faults_per_call("default", THP_MEM_ALLOC_ENABLE="1")
    # one fault per 2 MiB page instead of one per 4 KiB page; where the kernel
    # cannot find a free huge page it falls back to small pages, hence the margin
    assert huge < default / 10


def test_huge_pages_reads_pytorchs_switch_as_pytorch_does(monkeypatch):
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    assert timing.huge_pages()["requested"] is True
    for ignored in ("0", "true", "on", ""):  # PyTorch honours 1 only
        monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", ignored)
        assert timing.huge_pages()["requested"] is False
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE")
    assert timing.huge_pages()["requested"] is False
    assert timing.huge_pages()["kernel"] in (None, "always", "madvise", "never")


def test_huge_pages_the_kernel_has_switched_off_are_refused(monkeypatch):
    monkeypatch.setattr(bench, "huge_pages", lambda: {"requested": True, "kernel": "never"})
    with pytest.raises(SystemExit, match="transparent huge pages are never"):
        main(["bench", "--quick", "--impls", "fast", "--out", "-"])


def test_cuda_without_a_gpu_fails_clearly(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the no-GPU error path cannot be exercised")
    assert main(["bench", "--device", "cuda", "--out", "-"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_full_size_ops_counts_passes_over_memory():
    # torch: one fused kernel forward, one backward; fast: y, then dx, each written
    # slice by slice (the first write into each counts; the in-cache passes after it do not)
    assert bench.full_size_ops("torch", "train") == [
        "native_batch_norm.default", "native_batch_norm_backward.default"]
    assert bench.full_size_ops("fast", "train") == ["mul.out", "mul.out"]
    assert bench.full_size_ops("fast", "eval") == ["mul.out"]
    # the autograd-differentiated versions write many more full-size temporaries
    assert len(bench.full_size_ops("bnref", "train")) > 10


def test_lenet_variants_differ_only_in_their_batchnorm():
    nets = {v: lenet_bn_with(v) for v in ("bnref", "fast", "torch")}
    assert sum(isinstance(m, bnref_fast.FastBatchNorm) for m in nets["fast"]) == 4
    assert sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in nets["torch"]) == 4
    nets["fast"].load_state_dict(nets["bnref"].state_dict())  # same keys, same shapes
    X = torch.randn(16, 1, 28, 28)
    torch.testing.assert_close(nets["fast"](X), nets["bnref"](X), rtol=1e-4, atol=1e-5)


def _large_train_rows(ms: dict) -> list[dict]:
    nbytes = bench.lower_bound_bytes(bench.SHAPES["large"], "train")
    return [{"impl": impl, "shape_name": "large", "mode": "train", "median_s": t / 1e3,
             "ratio_to_torch": t / ms["torch"], "gb_per_s": nbytes / (t / 1e3) / 1e9}
            for impl, t in ms.items()]


def test_cpu_target_lines_judge_the_large_training_rows():
    rows = _large_train_rows({"bnref": 190.0, "fast": 101.0, "compiled": 99.0,
                              "compiled_fast": 80.0, "torch": 100.0})
    assert pages.target_lines({"device": "cpu", "rows": rows}) == [
        "target bnref <= 2.0x torch (large, train): 1.90x, met",
        "target fast <= 1.0x torch (large, train): 1.01x, not met",
        "target compiled <= 1.0x torch (large, train): 0.99x, met",
        "target compiled_fast <= 1.0x torch (large, train): 0.80x, met",
    ]


def test_gpu_target_lines_add_the_bandwidth_bound():
    # 16 E bytes in 1.0 ms at the large shape = 411 GB/s; against a 500 GB/s peak: 82 %
    rows = _large_train_rows({"fast": 1.2, "compiled": 1.0, "torch": 1.0})
    lines = pages.target_lines({"device": "cuda", "machine": {"peak_gb_per_s": 500.0},
                                "rows": rows})
    assert lines == [
        "target fast <= 1.1x torch (large, train): 1.20x, not met",
        "target compiled <= 1.1x torch (large, train): 1.00x, met",
        "target fast >= 70% of 500 GB/s (large, train): 69%, not met",
        "target compiled >= 70% of 500 GB/s (large, train): 82%, met",
        "target torch >= 70% of 500 GB/s (large, train): 82%, met",
    ]


def test_an_implementation_that_fails_is_reported_and_the_rest_are_timed(monkeypatch):
    real = bench.make_call

    def make_call(impl, mode, shape, device):
        if impl == "compiled":
            def broken():
                raise RuntimeError("no C++ compiler found\nsecond line of the message")
            return broken
        return real(impl, mode, shape, device)

    monkeypatch.setattr(bench, "make_call", make_call)
    rows = bench.run_bench("cpu", {"small": (4, 3, 2, 2)}, 1, 0.001, impls=("compiled", "torch"),
                           modes=("eval",), rounds=1, log=lambda *_: None)
    failed, timed = rows
    assert failed == {"impl": "compiled", "shape": [4, 3, 2, 2], "shape_name": "small",
                      "mode": "eval", "error": "RuntimeError: no C++ compiler found"}
    assert timed["impl"] == "torch" and timed["ratio_to_torch"] == 1.0
    table = bench.format_table({"rows": rows})
    assert ("4x3x2x2        eval  compiled      failed: RuntimeError: no C++ compiler found"
            in table)
    assert pages.target_lines({"device": "cpu", "rows": rows}) == []


def test_a_failing_torch_reference_is_not_hidden(monkeypatch):
    def make_call(impl, mode, shape, device):
        def broken():
            raise RuntimeError("broken reference")
        return broken

    monkeypatch.setattr(bench, "make_call", make_call)
    with pytest.raises(RuntimeError, match="broken reference"):
        bench.run_bench("cpu", {"small": (4, 3, 2, 2)}, 1, 0.001, impls=("torch",),
                        modes=("eval",), rounds=1, log=lambda *_: None)


def test_peak_bandwidth_comes_from_bus_width_and_memory_clock(monkeypatch):
    from types import SimpleNamespace

    # an H100 SXM reports 2619 MHz HBM3 on a 5120-bit bus: 2 x 2.619e9 x 640 B = 3352 GB/s
    h100 = SimpleNamespace(memory_clock_rate=2_619_000, memory_bus_width=5120)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index=0: h100)
    assert timing.peak_gb_per_s() == pytest.approx(3352.3, abs=0.1)
    # a build or driver that does not report them: no bound, so no bandwidth target line
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index=0: SimpleNamespace())
    assert timing.peak_gb_per_s() is None
