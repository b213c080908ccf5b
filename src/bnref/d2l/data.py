"""Fashion-MNIST, read by torchvision from the real IDX files.

Where the files come from, in order:

1. the ``root`` argument;
2. the environment variable ``BNREF_DATA``;
3. ``/usr/share/datasets/fashion-mnist``, where the Debian package
   ``dataset-fashion-mnist`` installs the four original IDX files (gzipped);
4. torchvision's download, for online users (``download=True``, the default).

A folder may hold the four IDX files (plain or ``.gz``) or be a torchvision
root (``<root>/FashionMNIST/raw/...``). Gzipped files are decompressed once into
the cache folder ``$BNREF_CACHE`` (default ``~/.cache/bnref``) and checked: IDX
magic number, image size and item count. torchvision's ``FashionMNIST`` then
reads the decompressed originals. (The Debian package recompressed the
archives, so torchvision's MD5 check of the ``.gz`` files would fail although
their contents are the originals.)

Two data paths feed the training loop:

* the d2l path — ``torchvision.transforms.ToTensor`` per image inside a
  ``DataLoader`` with worker processes, as d2l does;
* the fast path (``fast=True``) — the whole split held as one float tensor on
  the training device and minibatches sliced from it, reshuffled every epoch
  with ``torch.randperm`` (the same sampling as ``DataLoader(shuffle=True)``:
  a fresh permutation each epoch, the last batch possibly smaller).
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "DEBIAN_DIR",
    "FashionMNISTNotFound",
    "TensorLoader",
    "fashion_mnist_root",
    "fashion_mnist",
    "load_data_fashion_mnist",
    "get_dataloader_workers",
    "fashion_mnist_tensors",
]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_DATA = "BNREF_DATA"
ENV_CACHE = "BNREF_CACHE"

# name -> (IDX magic number, number of items)
_FILES = {
    "train-images-idx3-ubyte": (2051, 60000),
    "train-labels-idx1-ubyte": (2049, 60000),
    "t10k-images-idx3-ubyte": (2051, 10000),
    "t10k-labels-idx1-ubyte": (2049, 10000),
}

TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)


class FashionMNISTNotFound(FileNotFoundError):
    """Raised when no usable copy of the Fashion-MNIST IDX files is found."""


def _fixes(tried: list[str]) -> str:
    lines = "\n".join(f"  - {t}" for t in tried)
    return (
        f"Fashion-MNIST was not found or is damaged. Looked at:\n{lines}\n"
        "Fix it in one of these ways:\n"
        "  - Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist\n"
        f"  - set {ENV_DATA}=/folder/with/the/four/IDX/files (plain or .gz)\n"
        "  - pass root=... to load_data_fashion_mnist\n"
        "  - online: call with download=True to let torchvision fetch the files"
    )


def _cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE, Path.home() / ".cache" / "bnref"))


def _check_idx(path: Path, name: str) -> None:
    """Check an uncompressed IDX file's header and size; raise on damage."""
    magic, count = _FILES[name]
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 8:
        raise FashionMNISTNotFound(f"{path} is truncated ({size} bytes)")
    got_magic, got_count = struct.unpack(">II", head[:8])
    if (got_magic, got_count) != (magic, count):
        raise FashionMNISTNotFound(
            f"{path} is not the original IDX file: expected magic {magic} and "
            f"{count} items, got magic {got_magic} and {got_count} items"
        )
    expected = 16 + count * 28 * 28 if magic == 2051 else 8 + count
    if size != expected:
        raise FashionMNISTNotFound(
            f"{path} is damaged: expected {expected} bytes, got {size}"
        )


def _find_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (plain or .gz), or None if any is missing."""
    found = {}
    for name in _FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def _prepare(files: dict[str, Path]) -> Path:
    """Return a torchvision root whose FashionMNIST/raw holds checked plain IDX files."""
    first = files["train-images-idx3-ubyte"]
    plain = all(p.suffix != ".gz" for p in files.values())
    if plain and first.parent.name == "raw" and first.parent.parent.name == "FashionMNIST":
        root = first.parent.parent.parent  # already a torchvision root: use it in place
    else:
        root = _cache_dir()  # decompress (or copy) into the cache once
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        dest = raw / name
        if src != dest:
            if dest.is_file():
                try:
                    _check_idx(dest, name)
                    continue
                except FashionMNISTNotFound:
                    dest.unlink()
            tmp = dest.with_suffix(f".tmp{os.getpid()}")
            opener = gzip.open if src.suffix == ".gz" else open
            try:
                with opener(src, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            except (OSError, EOFError) as err:
                tmp.unlink(missing_ok=True)
                raise FashionMNISTNotFound(f"cannot read {src}: {err}") from err
            os.replace(tmp, dest)
        _check_idx(dest, name)
    return root


def fashion_mnist_root(root: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Locate Fashion-MNIST and return a torchvision root for ``FashionMNIST``.

    Raises:
        FashionMNISTNotFound: with the list of places tried and how to fix it.
    """
    candidates: list[tuple[str, Path]] = []
    if root is not None:
        candidates.append(("root argument", Path(root)))
    if os.environ.get(ENV_DATA):
        candidates.append((f"${ENV_DATA}", Path(os.environ[ENV_DATA])))
    candidates.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    tried = []
    for label, folder in candidates:
        for sub in (folder, folder / "FashionMNIST" / "raw"):
            files = _find_files(sub)
            if files is not None:
                try:
                    return _prepare(files)
                except FashionMNISTNotFound as err:
                    raise FashionMNISTNotFound(f"{err}\n\n{_fixes([f'{label}: {sub}'])}") from err
        tried.append(f"{label}: {folder} (no IDX files)")
        if root is not None and label == "root argument":
            break  # an explicit root is final: do not fall back elsewhere
    if download and root is None:
        from torchvision.datasets import FashionMNIST

        cache = _cache_dir()
        try:
            FashionMNIST(root=str(cache), train=True, download=True)
            FashionMNIST(root=str(cache), train=False, download=True)
        except Exception as err:  # network errors come in many types
            tried.append(f"torchvision download into {cache}: {err}")
        else:
            return cache
    raise FashionMNISTNotFound(_fixes(tried))


def fashion_mnist(train: bool, resize=None, root=None, download: bool = True):
    """The torchvision ``FashionMNIST`` split with d2l's transform (``ToTensor``)."""
    from torchvision import datasets, transforms

    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    return datasets.FashionMNIST(
        root=str(fashion_mnist_root(root, download)),
        train=train,
        transform=transforms.Compose(trans),
        download=False,
    )


def get_dataloader_workers() -> int:
    """d2l uses 4 worker processes; use fewer on machines with fewer cores."""
    return min(4, os.cpu_count() or 1)


@dataclass
class TensorLoader:
    """Minibatches sliced from tensors already on the device (the fast path).

    Iterating gives ``(X, y)`` pairs like a ``DataLoader``; with ``shuffle``
    each pass draws a fresh ``torch.randperm`` from the global generator.
    """

    X: torch.Tensor
    y: torch.Tensor
    batch_size: int
    shuffle: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {self.batch_size}")
        if len(self.X) != len(self.y):
            raise ValueError(f"X has {len(self.X)} items but y has {len(self.y)}")

    def __len__(self) -> int:
        return (len(self.X) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.X)
        if self.shuffle:
            order = torch.randperm(n, device=self.X.device)
            for i in range(0, n, self.batch_size):
                idx = order[i : i + self.batch_size]
                yield self.X[idx], self.y[idx]
        else:
            for i in range(0, n, self.batch_size):
                yield self.X[i : i + self.batch_size], self.y[i : i + self.batch_size]


def _as_tensors(ds, resize, device) -> tuple[torch.Tensor, torch.Tensor]:
    X = ds.data.unsqueeze(1).to(device=device, dtype=torch.float32).div_(255)
    if resize:
        from torchvision.transforms import functional as TF

        X = TF.resize(X, resize, antialias=True)
    return X, ds.targets.to(device)


def load_data_fashion_mnist(
    batch_size: int,
    resize=None,
    *,
    root=None,
    download: bool = True,
    fast: bool = False,
    device=None,
    num_workers: int | None = None,
):
    """Fashion-MNIST as ``(train_iter, test_iter)``, the d2l way or the fast way.

    ``load_data_fashion_mnist(256)`` behaves as d2l's function: images become
    ``(N, 1, 28, 28)`` float tensors in ``[0, 1]``, the training set is
    shuffled each epoch, the test set is not. ``fast=True`` returns
    :class:`TensorLoader` objects holding the whole split on ``device``.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    if fast:
        from torchvision import datasets

        top = str(fashion_mnist_root(root, download))
        train = datasets.FashionMNIST(root=top, train=True, download=False)
        test = datasets.FashionMNIST(root=top, train=False, download=False)
        device = torch.device(device) if device is not None else torch.device("cpu")
        return (
            TensorLoader(*_as_tensors(train, resize, device), batch_size, shuffle=True),
            TensorLoader(*_as_tensors(test, resize, device), batch_size, shuffle=False),
        )
    from torch.utils import data

    workers = get_dataloader_workers() if num_workers is None else num_workers
    # Under `with torch.device("cuda")` the sampler's randperm would be made on
    # the GPU with a CPU generator and fail; give it a generator on that device.
    default = torch.get_default_device()
    generator = None if default.type == "cpu" else torch.Generator(device=default)
    mnist_train = fashion_mnist(True, resize, root, download)
    mnist_test = fashion_mnist(False, resize, root, download)
    return (
        data.DataLoader(mnist_train, batch_size, shuffle=True, num_workers=workers,
                        generator=generator),
        data.DataLoader(mnist_test, batch_size, shuffle=False, num_workers=workers),
    )


@functools.cache
def fashion_mnist_tensors(train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of the real Fashion-MNIST as CPU tensors ``(X, y)``, read once per process.

    ``X`` is ``(N, 1, 28, 28)`` float32 in ``[0, 1]``, ``y`` the labels: what
    ``load_data_fashion_mnist(..., fast=True)`` holds. Treat them as read-only.
    """
    from torchvision import datasets

    ds = datasets.FashionMNIST(root=str(fashion_mnist_root()), train=train, download=False)
    return _as_tensors(ds, None, torch.device("cpu"))
