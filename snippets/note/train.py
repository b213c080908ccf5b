"""The note's training listing, verbatim (section ``train``).

On the page it runs after the LeNet listing, which defines ``net``, and after
``from bnref import d2l``. Run on its own, the lines above the section build
the same network from ``lenet_bn.py``.

``train_ch6`` reads ``BNREF_MAX_STEPS`` and ``BNREF_MAX_EPOCHS``: the docs
harness sets them to 5 and 1, so in the test suite the listing trains for one
epoch of 5 minibatches (a smoke run). The full
run is ``python -m bnref reproduce``.
"""
import runpy
from pathlib import Path

from bnref import d2l

net = runpy.run_path(str(Path(__file__).with_name("lenet_bn.py")))["net"]

# --8<-- [start:train]
lr, num_epochs, batch_size = 1.0, 10, 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
d2l.train_ch6(net, train_iter, test_iter, num_epochs, lr, d2l.try_gpu())
# --8<-- [end:train]
