"""Forward hooks that are removed however the block ends (used where bnref watches a network run)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from torch import nn

__all__ = ["forward_hooks"]


@contextlib.contextmanager
def forward_hooks(pairs: Iterable[tuple[nn.Module, Callable]], *, pre: bool = False) -> Iterator[None]:
    """Register each ``(module, hook)`` as a forward hook (``pre=True``: a forward pre-hook)
    for the block, and remove them all when it ends, also on an error."""
    handles = []
    try:
        for module, hook in pairs:
            register = module.register_forward_pre_hook if pre else module.register_forward_hook
            handles.append(register(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()
