"""pytest wiring for the documentation harness (see tests/docharness.py)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tests"))

import docharness  # noqa: E402

pytest_collect_file = docharness.SybilCollection(docharness.sybils()).pytest()


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        choices=("auto", "cpu", "cuda", "both"),
        default=os.environ.get("BNREF_TEST_DEVICE", "auto"),
        help="where docs and device-parametrized tests run: auto (cpu, plus cuda when "
        "available; the default), cpu, cuda or both. cuda items skip with a reason "
        "when no GPU exists. Env: BNREF_TEST_DEVICE.",
    )


def pytest_report_header(config):
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
    return (
        f"bnref docs devices: {', '.join(docharness.selected_devices(config))} "
        f"(--device {config.getoption('--device')}; cuda: {cuda}); torch {torch.__version__}"
    )


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", docharness.selected_devices(metafunc.config))


@pytest.fixture(autouse=True)
def _skip_cuda_without_gpu(request):
    import torch

    if docharness.item_device(request.node) == "cuda" and not torch.cuda.is_available():
        pytest.skip("cuda: no CUDA device on this machine (torch.cuda.is_available() is False)")



@pytest.fixture
def one_thread():
    """Run a test on one intra-op thread: small tensors gain nothing from a second
    thread on a busy 2-core machine, and the thread count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

def pytest_collection_modifyitems(config, items):
    wanted = set(docharness.selected_devices(config))
    keep, drop = [], []
    for item in items:
        device = docharness.item_device(item)
        (drop if device is not None and device not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    """Report (without failing) the timing files whose timed code has changed since."""
    from bnref.experiments.harness.replay import stale_timings

    stale = stale_timings(Path(__file__).parent / "src" / "bnref" / "results")
    if stale:
        terminalreporter.section("timing files to rerun (reported, not failed)")
        for line in stale:
            terminalreporter.write_line(line)
