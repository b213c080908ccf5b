"""The note's look at the first BatchNorm layer's gamma and beta (section ``inspect``).

The note runs it in a notebook, where the value of the last expression is
displayed; as a script nothing is shown, so section ``shapes`` prints what
the expression returns. Run on its own, ``net`` is the untrained network of
``lenet_bn.py`` (gamma = 1, beta = 0).
"""
import runpy
from pathlib import Path

net = runpy.run_path(str(Path(__file__).with_name("lenet_bn.py")))["net"]

# --8<-- [start:inspect]
# 查看net索引为1的batchnorm层参数
net[1].gamma.reshape((-1,)), net[1].beta.reshape((-1,)) #-1表示自动计算行，所以默认填充所有列
# --8<-- [end:inspect]

# --8<-- [start:shapes]
# continues the block above (net)
gamma, beta = net[1].gamma.reshape((-1,)), net[1].beta.reshape((-1,))
print(type(net[1]).__name__, gamma.shape, beta.shape, gamma.requires_grad)
# --8<-- [end:shapes]
