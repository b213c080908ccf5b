"""``bnref.doctor``: the batch-normalization checklist as a tool.

:func:`check` looks at a model (and, when given, an example batch and a data
loader) for the mistakes people make with batch normalization, and returns
one :class:`Finding` per place (the example at the end).

The codes (:data:`CODES`) and what each means:

* ``bias-before-bn``: a convolution or linear layer with a bias feeds a BN
  layer directly; BN's mean subtraction cancels the bias.
* ``bn-training-in-eval``: the model is in evaluation mode but a BN layer
  is still in training mode (with ``example``: checked by changing the
  other members of the batch and watching the first output change).
* ``batch-of-one-risk``: with ``loader``: the last batch holds one example
  (``len(dataset) % batch_size == 1`` without ``drop_last``), on which BN
  after a linear layer cannot train.
* ``frozen-affine-updating-stats``: γ and β are frozen (``requires_grad``
  off) while the layer, in training mode, keeps updating its moving statistics.
* ``dropout-before-bn``: dropout feeds a BN layer directly: the variance
  shift (Li et al. 2019) between training and evaluation.
* ``momentum-convention``: a momentum that is the mark of the other
  convention: ≥ 0.5 in a ``torch.nn`` layer (whose momentum weights the new
  batch), < 0.5 in a :class:`bnref.BatchNorm` (whose momentum, the note's,
  weights the old value).
* ``no-running-stats``: ``track_running_stats=False``: evaluation normalizes
  with each batch's own statistics, so a prediction depends on its batch.
* ``foldable``: informational: an evaluation-mode convolution or linear
  layer → BN pair that :func:`bnref.fold.fold_batch_norm` can fold.

"Feeds directly" is read from the order in which the layers run: with
``example``, the layers are run on it (on a copy of the model, so nothing in
``model`` changes) and a BN layer is fed by the layer whose output it
receives; without it, from adjacent layers of ``nn.Sequential`` containers.

``python -m bnref doctor package.module:factory`` builds the model by calling
``factory()`` and prints the findings.

Examples:
    >>> from torch import nn
    >>> from bnref import doctor
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    >>> for finding in doctor.check(net):
    ...     print(finding.code, finding.where)
    bias-before-bn 0
    >>> doctor.check(nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4)))
    []
"""

from __future__ import annotations

import argparse
import copy
import importlib
from dataclasses import dataclass

import torch
from torch import nn

from bnref.fold import _chains
from bnref.hooks import forward_hooks
from bnref.norm.batch_norm import BatchNorm

__all__ = ["Finding", "CODES", "check", "configure", "run"]

#: every code :func:`check` reports, with the condition it stands for
CODES = {
    "bias-before-bn": "a conv or linear layer with a bias feeding straight into BN",
    "bn-training-in-eval": "BN in training mode while the model as a whole is evaluated",
    "batch-of-one-risk": "a last batch of one example (len(dataset) % batch_size == 1, "
                         "no drop_last)",
    "frozen-affine-updating-stats": "gamma/beta frozen while the moving statistics update",
    "dropout-before-bn": "dropout feeding BN directly: the variance shift",
    "momentum-convention": "a momentum that belongs to the other framework's convention",
    "no-running-stats": "track_running_stats=False: evaluation depends on the batch",
    "foldable": "an eval-mode conv/linear -> BN pair that bnref.fold could fold (informational)",
}


@dataclass(frozen=True)
class Finding:
    """One thing :func:`check` found: its ``code`` (a key of :data:`CODES`), ``where`` (the
    module's qualified name in the model, or ``"loader"``) and a ``message`` that says why."""

    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} at {self.where}: {self.message}"


_TORCH_BN = nn.modules.batchnorm._BatchNorm
_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def _is_bn(m: nn.Module) -> bool:
    return isinstance(m, (_TORCH_BN, BatchNorm))


def _affine(m: nn.Module) -> list[torch.Tensor]:
    if isinstance(m, BatchNorm):
        return [m.gamma, m.beta]
    return [p for p in (m.weight, m.bias) if p is not None]


def _updates_statistics(m: nn.Module) -> bool:
    if isinstance(m, BatchNorm):
        return m.training
    return m.training and m.track_running_stats


def _names(model: nn.Module) -> dict[int, str]:
    return {id(m): name or type(model).__name__ for name, m in model.named_modules()}


def _sequential_pairs(model: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """Adjacent layers of every ``nn.Sequential`` (nested ones read as the one chain they run,
    as :func:`bnref.fold.fold_batch_norm` reads them)."""

    pairs = []
    for chain in _chains(model):
        layers = [module for _, _, _, module in chain]
        pairs += list(zip(layers, layers[1:]))
    return pairs


def _traced_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[nn.Module, nn.Module]]:
    """``(producer, consumer)`` for each leaf layer whose input is another leaf's output, found
    by running a copy of ``model`` on ``example`` (so ``model``'s statistics do not move)."""
    twin = copy.deepcopy(model)
    originals = dict(zip((id(m) for m in twin.modules()), model.modules()))
    produced: dict[int, nn.Module] = {}
    pairs = []

    def hook(module, inputs, output):
        for x in inputs:
            if isinstance(x, torch.Tensor) and id(x) in produced:
                pairs.append((originals[id(produced[id(x)])], originals[id(module)]))
        if isinstance(output, torch.Tensor):
            produced[id(output)] = module

    leaves = [m for m in twin.modules() if not list(m.children())]
    with forward_hooks((m, hook) for m in leaves), torch.no_grad():
        twin(example)
    return pairs


def check(model: nn.Module, example: torch.Tensor | None = None, *,
          loader=None) -> list[Finding]:
    """The batch-normalization mistakes found in ``model``, one :class:`Finding` each.

    Args:
        model: any ``nn.Module``; it is not changed (the runs below use a copy).
        example: a batch the model accepts (at least 2 examples). When given, which layer
            feeds which is read from a run on it, and a BN layer left in training mode in
            an evaluated model is confirmed by the effect on the output.
        loader: a ``torch.utils.data.DataLoader`` the model trains on, for
            ``batch-of-one-risk``.

    Returns:
        The findings, in the order of ``model.named_modules()`` (the loader's last).

    Raises:
        TypeError: when ``model`` is not an ``nn.Module``.
        ValueError: when ``example`` has fewer than 2 examples.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if example is not None and (not isinstance(example, torch.Tensor) or example.dim() < 1
                                or example.shape[0] < 2):
        shape = tuple(example.shape) if isinstance(example, torch.Tensor) else type(example)
        raise ValueError(f"example must be a batch of at least 2 examples (a tensor of shape "
                         f"(N, ...) with N >= 2); got {shape}")
    names = _names(model)
    pairs = _traced_pairs(model, example) if example is not None else _sequential_pairs(model)
    found = []
    for a, b in pairs:
        if not _is_bn(b):
            continue
        if isinstance(a, _LAYERS) and a.bias is not None:
            found.append(Finding(
                "bias-before-bn", names[id(a)],
                f"{type(a).__name__} {names[id(a)]!r} has a bias and feeds {type(b).__name__} "
                f"{names[id(b)]!r} directly: the batch mean subtracts the bias away (same "
                f"output, zero gradient); build it with bias=False"))
        if isinstance(a, _DROPOUTS) and a.p > 0:
            found.append(Finding(
                "dropout-before-bn", names[id(b)],
                f"{type(a).__name__} {names[id(a)]!r} (p={a.p}) feeds {type(b).__name__} "
                f"{names[id(b)]!r} directly: BN records the variance of dropped-and-rescaled "
                f"values in training and sees a smaller one in evaluation (the variance "
                f"shift); put dropout after the last BN layer, or re-estimate the statistics "
                f"with dropout off"))
        if (isinstance(a, (nn.Conv2d, nn.Linear)) and not a.training and not b.training
                and (isinstance(b, BatchNorm) or getattr(b, "running_mean", None) is not None)):
            found.append(Finding(
                "foldable", names[id(b)],
                f"{type(b).__name__} {names[id(b)]!r} follows {type(a).__name__} "
                f"{names[id(a)]!r} in evaluation mode: bnref.fold.fold_batch_norm can merge "
                f"it into that layer's weights for inference"))
    found += _layer_findings(model, names, example)
    order = {name: i for i, name in enumerate(names.values())}
    found.sort(key=lambda f: order.get(f.where, len(order)))
    if loader is not None:
        found += _loader_findings(model, loader)
    return found


def _layer_findings(model: nn.Module, names: dict[int, str], example) -> list[Finding]:
    found = []
    evaluated = not model.training
    for m in model.modules():
        if not _is_bn(m):
            continue
        name, kind = names[id(m)], type(m).__name__
        if isinstance(m, BatchNorm):
            if m.momentum < 0.5:
                found.append(Finding(
                    "momentum-convention", name,
                    f"{kind} {name!r} has momentum={m.momentum}: in bnref (the note's "
                    f"convention) momentum is the old value's weight, so this keeps only "
                    f"{m.momentum:g} of the old statistics each step; a value like 0.1 is "
                    f"PyTorch's convention, whose equivalent here is {1 - m.momentum:g}"))
        else:
            if m.momentum is not None and m.momentum >= 0.5:
                found.append(Finding(
                    "momentum-convention", name,
                    f"{kind} {name!r} has momentum={m.momentum}: in torch.nn momentum is the "
                    f"new batch's weight, so the running statistics follow the last few "
                    f"batches; a value like 0.9 or 0.99 is the other convention (TensorFlow, "
                    f"the note), whose equivalent here is {1 - m.momentum:g}"))
            if not m.track_running_stats:
                found.append(Finding(
                    "no-running-stats", name,
                    f"{kind} {name!r} has track_running_stats=False: in evaluation it "
                    f"normalizes with each batch's own statistics, so a prediction depends "
                    f"on the other examples of its batch (and a batch of one is refused or "
                    f"degenerate)"))
        params = _affine(m)
        if params and not any(p.requires_grad for p in params) and _updates_statistics(m):
            found.append(Finding(
                "frozen-affine-updating-stats", name,
                f"{kind} {name!r} has gamma and beta frozen (requires_grad=False) but is in "
                f"training mode, so every forward pass still updates its moving statistics; "
                f"to freeze the layer call .eval() on it (and again after every "
                f"model.train())"))
        if evaluated and m.training:
            message = (f"the model is in evaluation mode but {kind} {name!r} is in training "
                       f"mode: it normalizes with the batch's statistics and updates its moving "
                       f"ones")
            if example is not None:
                changes = _output_depends_on_batch(model, example)
                message += ("; on the example, the first output changes when the other "
                            "members of the batch change" if changes else
                            "; on the example the output did not depend on the batch")
            found.append(Finding("bn-training-in-eval", name, message + "; call .eval() on it"))
    return found


def _output_depends_on_batch(model: nn.Module, example: torch.Tensor) -> bool:
    """Whether the output for ``example[0]`` changes when the rest of the batch changes."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        first = twin(example)[0]
        other = torch.cat([example[:1], example[1:].flip(0) * 2 + 1])
        return not torch.allclose(first, twin(other)[0])


def _loader_findings(model: nn.Module, loader) -> list[Finding]:
    batch_size, drop_last = getattr(loader, "batch_size", None), getattr(loader, "drop_last", False)
    dataset = getattr(loader, "dataset", None)
    if batch_size is None or dataset is None or drop_last:
        return []
    try:
        n = len(dataset)
    except TypeError:
        return []
    if n % batch_size != 1 or not any(_is_bn(m) for m in model.modules()):
        return []
    return [Finding(
        "batch-of-one-risk", "loader",
        f"the dataset has {n} examples and the batch size is {batch_size}, so the last batch "
        f"of every epoch holds one example: BN after a linear layer cannot train on it (its "
        f"one value minus the batch mean is 0); pass drop_last=True")]


def _factory(spec: str):
    module, _, name = spec.partition(":")
    if not module or not name:
        raise SystemExit(f"expected package.module:factory (e.g. bnref:lenet_bn); got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise SystemExit(f"cannot load {spec!r}: {err}") from err
    return factory


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("factory", help="package.module:factory, called with no arguments to "
                        "build the model, e.g. bnref:lenet_bn")
    parser.add_argument("--example", type=lambda s: tuple(int(v) for v in s.split(",")),
                        default=None, metavar="N,C,H,W",
                        help="also run the model on a random batch of this shape")
    parser.add_argument("--eval", action="store_true",
                        help="check the model in evaluation mode (model.eval())")


def run(args) -> int:
    model = _factory(args.factory)()
    if args.eval:
        model.eval()
    example = torch.randn(args.example) if args.example else None
    findings = check(model, example)
    for finding in findings:
        print(finding)
    print(f"{len(findings)} finding(s) in {args.factory}()"
          + (" (evaluation mode)" if args.eval else ""))
    return 0
