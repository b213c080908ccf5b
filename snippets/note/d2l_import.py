"""The one line of the note's first listing that src/bnref/note.py leaves out.

The note has ``from d2l import torch as d2l``; bnref.d2l provides the d2l
functions the note uses (load_data_fashion_mnist, train_ch6, try_gpu).
"""
# --8<-- [start:import]
from bnref import d2l  # 笔记原文 / the note: from d2l import torch as d2l
# --8<-- [end:import]
