"""The one training loop (:func:`fit`), and d2l chapter 6's ``train_ch6`` on top of it.

:func:`train_ch6` keeps d2l's semantics: xavier-uniform initialization of
every ``nn.Linear`` and ``nn.Conv2d`` weight, plain SGD, cross-entropy loss,
training loss and accuracy averaged over each epoch (in training mode, as the
batches are seen), test accuracy in evaluation mode after each epoch, and
examples/sec measured over the training steps only. It prints the same two
lines as d2l::

    loss 0.271, train acc 0.899, test acc 0.862
    32546.7 examples/sec on cuda:0

Instead of d2l's animated plot it shows a ``tqdm`` progress bar (on stderr)
and returns the per-epoch history, which :mod:`bnref.experiments.report.figures` can plot.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "History",
    "fit",
    "accuracy",
    "evaluate_accuracy_gpu",
    "init_weights",
    "train_ch6",
    "try_gpu",
]


def try_gpu(i: int = 0) -> torch.device:
    """``cuda:i`` if that GPU exists, else ``cpu`` (as d2l's ``try_gpu``)."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Number of correct predictions (a count, as in d2l, not a fraction)."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return float((y_hat.type(y.dtype) == y).sum())


def evaluate_accuracy_gpu(
    net: nn.Module, data_iter, device=None, max_batches: int | None = None
) -> float:
    """Accuracy of ``net`` on ``data_iter``, in evaluation mode and without grad.

    ``max_batches`` scores only the first batches (smoke runs); ``None`` scores all.
    """
    dtype = None
    if isinstance(net, nn.Module):
        net.eval()
        if device is None:
            device = next(iter(net.parameters())).device
        dtype = _floating_dtype(net)
    correct = total = 0.0
    with torch.no_grad():
        for i, (X, y) in enumerate(data_iter):
            if max_batches is not None and i >= max_batches:
                break
            X, y = X.to(device, dtype), y.to(device)
            correct += accuracy(net(X), y)
            total += y.numel()
    return correct / total


def _floating_dtype(net: nn.Module) -> torch.dtype | None:
    """The dtype of ``net``'s first floating-point parameter (``None`` if it has none): the
    dtype :func:`fit` and :func:`evaluate_accuracy_gpu` give each minibatch."""
    return next((p.dtype for p in net.parameters() if p.is_floating_point()), None)


def init_weights(m: nn.Module) -> None:
    """d2l's initialization: xavier-uniform weights for Linear and Conv2d."""
    if type(m) in (nn.Linear, nn.Conv2d):
        nn.init.xavier_uniform_(m.weight)


@dataclass
class History:
    """Per-epoch metrics returned by :func:`train_ch6`."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    examples_per_sec: list[float] = field(default_factory=list)
    #: wall seconds from the start of training to the end of each epoch's evaluation
    elapsed_seconds: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    device: str = ""
    #: optimizer steps taken, and the training examples they saw
    steps: int = 0
    examples_seen: int = 0
    #: the loss of each of the first ``record_losses`` steps (see :func:`fit`)
    step_losses: list[float] = field(default_factory=list)
    #: ``(step, test accuracy)`` every ``eval_every`` steps (see :func:`fit`)
    evals: list[tuple[int, float]] = field(default_factory=list)
    #: the step whose loss was inf or nan, where training stopped; ``None`` if none
    diverged_at: int | None = None

    def as_dict(self) -> dict:
        return {
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "test_acc": self.test_acc,
            "examples_per_sec": self.examples_per_sec,
            "elapsed_seconds": self.elapsed_seconds,
            "train_seconds": self.train_seconds,
            "device": self.device,
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit(
    net: nn.Module,
    train_iter,
    test_iter=None,
    *,
    lr: float,
    epochs: int | None = 1,
    max_steps: int | None = None,
    steps_per_epoch: int | None = None,
    device=None,
    init=init_weights,
    eval_every: int | None = None,
    eval_batches: int | None = None,
    record_losses: int = 0,
    min_batch: int = 1,
    stop_on_nonfinite: bool = True,
    progress: bool = True,
    desc: str | None = None,
) -> History:
    """The one training loop: SGD on cross-entropy, the way d2l's ``train_ch6`` trains.

    Every command of :mod:`bnref.experiments` trains through this function,
    and :func:`train_ch6` is it plus d2l's two printed lines.

    Args:
        net: the model, trained in place; ``init`` is applied to it first.
        train_iter, test_iter: iterables of ``(X, y)`` minibatches;
            ``test_iter`` may be ``None`` (no evaluation). Each ``X`` is given the
            dtype of the model's parameters (a float64 model trains on float64 data).
        lr: SGD learning rate.
        epochs: passes over ``train_iter``; ``None`` with ``max_steps``: as
            many passes as the step budget needs.
        max_steps: stop after this many optimizer steps in all.
        steps_per_epoch: use at most this many minibatches of each pass.
        device: where to train; default :func:`try_gpu`.
        init: applied with ``net.apply`` before training (d2l's xavier-uniform
            by default; ``None`` keeps the weights).
        eval_every: also score ``test_iter`` every this many steps, into
            ``History.evals``.
        eval_batches: score at most this many test batches (smoke runs).
        record_losses: keep the loss of each of the first this many steps in
            ``History.step_losses`` (what a results file stores to be replayed).
        min_batch: skip minibatches with fewer examples (BN cannot train on 1).
        stop_on_nonfinite: stop when the loss becomes inf or nan, and record
            the step in ``History.diverged_at``.
        progress: show a tqdm progress bar on stderr.
        desc: the progress bar's label.

    Returns:
        A :class:`History`: per epoch the train loss and accuracy (averaged
        over the epoch's steps, in training mode), the test accuracy, the
        examples per second of the training steps, and the wall seconds
        elapsed; plus the steps taken and what the options above record.
    """
    from tqdm.auto import tqdm

    if epochs is None and max_steps is None:
        raise ValueError("give epochs, max_steps or both; got neither")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1; got {epochs}")
    device = torch.device(device) if device is not None else try_gpu()
    if init is not None:
        net.apply(init)
    net.to(device)
    dtype = _floating_dtype(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    history = History(device=str(device))
    per_epoch = len(train_iter) if steps_per_epoch is None else min(steps_per_epoch,
                                                                      len(train_iter))
    if max_steps is not None:
        total = max_steps
    else:
        total = epochs * per_epoch
    bar = tqdm(total=total, disable=not progress, unit="batch",
               desc=desc or f"train on {device}", leave=False)
    step, train_time = 0, 0.0
    _sync(device)
    began = time.perf_counter()
    epoch = 0
    while (epochs is None or epoch < epochs) and (max_steps is None or step < max_steps) \
            and history.diverged_at is None:
        epoch += 1
        net.train()
        # sum of loss * n, number correct, number of examples (on the device,
        # so the loop does not wait for the GPU after every step)
        metric = torch.zeros(3, dtype=torch.float64, device=device)
        epoch_time = 0.0
        for i, (X, y) in enumerate(train_iter):
            if i >= per_epoch or (max_steps is not None and step >= max_steps):
                break
            if len(y) < min_batch:
                continue
            _sync(device)
            start = time.perf_counter()
            optimizer.zero_grad()
            X, y = X.to(device, dtype), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                correct = (y_hat.argmax(dim=1) == y).sum()
                metric += torch.stack(
                    [l.detach().double() * X.shape[0], correct.double(),
                     torch.tensor(X.shape[0], dtype=torch.float64, device=device)]
                )
            _sync(device)
            epoch_time += time.perf_counter() - start
            step += 1
            bar.update(1)
            if step <= record_losses:
                history.step_losses.append(l.item())
            if stop_on_nonfinite and not torch.isfinite(l):
                history.diverged_at = step
                break
            if eval_every and test_iter is not None and step % eval_every == 0:
                history.evals.append(
                    (step, evaluate_accuracy_gpu(net, test_iter, device, eval_batches)))
                net.train()
        train_l, train_correct, n = metric.tolist()
        train_time += epoch_time
        history.examples_seen += int(n)
        if n == 0:
            break
        test_acc = (evaluate_accuracy_gpu(net, test_iter, device, max_batches=eval_batches)
                    if test_iter is not None else float("nan"))
        history.train_loss.append(train_l / n)
        history.train_acc.append(train_correct / n)
        history.test_acc.append(test_acc)
        history.examples_per_sec.append(n / epoch_time)
        history.elapsed_seconds.append(time.perf_counter() - began)
        bar.set_postfix(loss=f"{train_l / n:.3f}", test_acc=f"{test_acc:.3f}")
    bar.close()
    history.train_seconds = train_time
    history.steps = step
    return history


def train_ch6(
    net: nn.Module,
    train_iter,
    test_iter,
    num_epochs: int,
    lr: float,
    device=None,
    *,
    progress: bool = True,
    verbose: bool = True,
    max_steps: int | None = None,
) -> History:
    """Train ``net`` with SGD and cross-entropy, the way d2l's ``train_ch6`` does.

    This is :func:`fit` with d2l's arguments, and d2l's two printed lines::

        loss 0.271, train acc 0.899, test acc 0.862
        32546.7 examples/sec on cuda:0

    As in d2l, training goes on when the loss becomes inf or nan.

    Args:
        net: the model; its Linear/Conv2d weights are re-initialized
            (xavier-uniform), as d2l does.
        train_iter, test_iter: iterables of ``(X, y)`` minibatches, e.g. from
            :func:`bnref.d2l.load_data_fashion_mnist`.
        num_epochs: passes over ``train_iter``.
        lr: SGD learning rate.
        device: where to train; default :func:`try_gpu`.
        progress: show a tqdm progress bar on stderr.
        verbose: print d2l's two summary lines.
        max_steps: a smoke run: train on at most this many minibatches per
            epoch and score test accuracy on at most this many test batches.
            ``None`` reads the environment variable ``BNREF_MAX_STEPS`` (the
            docs harness sets it so that page listings run as smoke tests)
            and, when it is unset, uses every batch. Likewise the variable
            ``BNREF_MAX_EPOCHS``, when set, caps ``num_epochs``. The printed
            numbers of a smoke run are not the full run's.

    Returns:
        A :class:`History` with per-epoch train loss, train accuracy, test
        accuracy, examples/sec, and the wall seconds elapsed at the end of
        each epoch's evaluation.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be >= 1; got {num_epochs}")
    if max_steps is None and os.environ.get("BNREF_MAX_STEPS"):
        max_steps = int(os.environ["BNREF_MAX_STEPS"])
    if os.environ.get("BNREF_MAX_EPOCHS"):
        num_epochs = min(num_epochs, int(os.environ["BNREF_MAX_EPOCHS"]))
    history = fit(net, train_iter, test_iter, lr=lr, epochs=num_epochs,
                  steps_per_epoch=max_steps, eval_batches=max_steps, device=device,
                  stop_on_nonfinite=False, progress=progress)
    if verbose:
        print(
            f"loss {history.train_loss[-1]:.3f}, train acc {history.train_acc[-1]:.3f}, "
            f"test acc {history.test_acc[-1]:.3f}"
        )
        print(f"{history.examples_seen / history.train_seconds:.1f} "
              f"examples/sec on {history.device}")
    return history
