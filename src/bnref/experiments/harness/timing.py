"""What the machine does to a timing: the allocator, huge pages, the load, a GPU's bandwidth.

``python -m bnref bench`` records these beside its timings (``--retain-memory``,
``THP_MEM_ALLOC_ENABLE=1``, the load average before and after, the GPU's theoretical
bandwidth for the bandwidth target).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

__all__ = ["huge_pages", "load_average", "peak_gb_per_s", "retain_freed_memory"]


def peak_gb_per_s(index: int = 0) -> float | None:
    """The GPU's theoretical memory bandwidth: 2 transfers per clock x bus width (bytes)."""
    props = torch.cuda.get_device_properties(index)
    clock_khz, bus_bits = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
    if not clock_khz or not bus_bits:
        return None
    return 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def huge_pages() -> dict:
    """PyTorch's transparent-huge-page switch and the kernel's THP mode.

    ``requested``: ``THP_MEM_ALLOC_ENABLE`` is ``1`` (PyTorch accepts ``0``
    and ``1`` only, and ignores any other value with a warning); ``kernel``: the
    bracketed mode in ``/sys/kernel/mm/transparent_hugepage/enabled``
    (``always``, ``madvise`` or ``never``; ``None`` where the file is absent).
    PyTorch's ``madvise`` only takes effect where the kernel mode is not
    ``never``.
    """
    value = os.environ.get("THP_MEM_ALLOC_ENABLE", "")
    try:
        modes = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
        kernel = modes.split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        kernel = None
    return {"requested": value == "1",
            "kernel": kernel}


def retain_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory in the process; ``False`` where that is not glibc.

    ``mallopt(M_MMAP_MAX, 0)`` serves every block from the heap instead of a
    fresh ``mmap``, and ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)`` stops the heap
    from being handed back to the kernel, so a new temporary reuses pages that
    are already mapped instead of faulting in zeroed ones.
    """
    import ctypes
    import ctypes.util

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # from glibc's <malloc.h>
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
