# The one line of the note's first listing that is not in src/bnref/note.py.
# 笔记原文为 / the note has: from d2l import torch as d2l
# bnref.d2l 提供笔记用到的 d2l 函数 / bnref.d2l provides the d2l functions the note uses.
from bnref import d2l
