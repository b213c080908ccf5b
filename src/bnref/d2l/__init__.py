"""The part of d2l's ``torch`` module that the note uses.

Replace ``from d2l import torch as d2l`` with ``from bnref import d2l`` and
every listing of the note runs unchanged::

    from bnref import d2l
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    d2l.train_ch6(net, train_iter, test_iter, 10, 1.0, d2l.try_gpu())
"""

from bnref.d2l.data import get_dataloader_workers, load_data_fashion_mnist
from bnref.d2l.train import accuracy, evaluate_accuracy_gpu, train_ch6, try_gpu

__all__ = [
    "accuracy",
    "evaluate_accuracy_gpu",
    "get_dataloader_workers",
    "load_data_fashion_mnist",
    "train_ch6",
    "try_gpu",
]
