# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 有无批量归一化：一次短训练 · With and without batch normalization: a short run
#
# <div class="bi">
# <div lang="zh">
# <p>这个笔记本在真实的 Fashion-MNIST 上训练两个 LeNet：笔记中的原始 LeNet（sigmoid 激活，没有批量归一化）和笔记中加了 <code>bnref.BatchNorm</code> 的 LeNet。两者用同样的初始化种子、同样的小批量序列、同样的学习率，各训练 120 步，每 20 步在 1000 张测试图片上记录一次准确率，最后在全部 10000 张测试图片上评估。网站每次构建都会重新运行它（没有缓存），测试套件也会把它当作脚本运行，所以下面的数字和图都来自这份代码的一次真实运行。</p>
# <p>批量归一化层对每个通道计算 \(\hat x = (x-\hat\mu_{\mathcal B})/\sqrt{\hat\sigma^2_{\mathcal B}+\epsilon}\)，再输出 \(y = \gamma \hat x + \beta\)：</p>
# </div>
# <div lang="en">
# <p>This notebook trains two LeNets on real Fashion-MNIST: the note's original LeNet (sigmoid activations, no batch normalization) and the note's LeNet with <code>bnref.BatchNorm</code> layers. Both start from the same initialization seed, see the same sequence of minibatches and use the same learning rate for 120 steps; every 20 steps we record the accuracy on 1,000 test images, and at the end we evaluate on all 10,000. The site runs this notebook again at every build (no cache), and the test suite runs it as a script, so the numbers and the figure below come from a real run of this code.</p>
# <p>A batch normalization layer computes, per channel, \(\hat x = (x-\hat\mu_{\mathcal B})/\sqrt{\hat\sigma^2_{\mathcal B}+\epsilon}\) and outputs \(y = \gamma \hat x + \beta\):</p>
# </div>
# </div>
#
# $$
# y = \gamma\,\frac{x-\hat\mu_{\mathcal B}}{\sqrt{\hat\sigma^2_{\mathcal B}+\epsilon}} + \beta
# $$

# %%
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

import bnref
from bnref import d2l
from bnref.d2l.train import init_weights

threads = torch.get_num_threads()
torch.set_num_threads(1)  # a small model: one thread is fastest on a shared CPU
device = d2l.try_gpu()
train_iter, test_iter = d2l.load_data_fashion_mnist(256, fast=True, device=device)
X_train, y_train = train_iter.X, train_iter.y  # the whole training split, 60000 images
X_test, y_test = test_iter.X, test_iter.y      # the whole test split, 10000 images
print(f"train {tuple(X_train.shape)}, test {tuple(X_test.shape)}, device {device}")

# %% [markdown]
# <div class="bi">
# <div lang="zh">
# <p>训练循环故意写得很短：每一步从训练集中随机抽取 32 张图片（两个模型抽到的完全相同），做一次 SGD 更新。</p>
# </div>
# <div lang="en">
# <p>The training loop is deliberately short: each step draws 32 random training images (the same ones for both models) and makes one SGD update.</p>
# </div>
# </div>

# %%
# continues the cell above (torch, nn, bnref, init_weights, device, the data)
STEPS, BATCH, LR, EVERY = 120, 32, 0.2, 20


def accuracy(net, X, y):
    """Fraction of correct predictions, in evaluation mode."""
    net.eval()
    with torch.no_grad():
        return (net(X).argmax(dim=1) == y).float().mean().item()


def train(make_net):
    torch.manual_seed(0)                  # same initial weights for every run
    net = make_net().to(device)
    net.apply(init_weights)               # d2l's xavier initialization
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    batches = torch.Generator().manual_seed(1)  # same minibatches for every run
    curve = []
    for step in range(1, STEPS + 1):
        idx = torch.randint(len(X_train), (BATCH,), generator=batches).to(device)
        net.train()
        loss = nn.functional.cross_entropy(net(X_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % EVERY == 0:
            curve.append((step, accuracy(net, X_test[:1000], y_test[:1000])))
    return net, curve


results = {}
for name, make_net in [("LeNet", bnref.lenet), ("LeNet + BatchNorm", bnref.lenet_bn)]:
    start = time.perf_counter()
    net, curve = train(make_net)
    seconds = time.perf_counter() - start
    results[name] = curve
    print(f"{name:18s} test acc {accuracy(net, X_test, y_test):.3f} "
          f"after {STEPS} steps of {BATCH} ({seconds:.1f} s)")
    print("  accuracy on 1000 test images by step:",
          " ".join(f"{step}:{acc:.2f}" for step, acc in curve))

# %% [markdown]
# <div class="bi">
# <div lang="zh">
# <p>同样的 120 步里，没有批量归一化的 sigmoid LeNet 还停留在瞎猜的水平（10 个类别，约 10%），加了批量归一化的 LeNet 几十步之后就超过了 60%。原因之一是：批量归一化把每层的输入拉回到 sigmoid 不饱和的区间，梯度不会在前几层消失，同样的学习率就能快速前进。这不是最终精度的比较——训练足够多的轮数后原始 LeNet 也能学会（见复现实验页面）。</p>
# </div>
# <div lang="en">
# <p>In the same 120 steps, the sigmoid LeNet without batch normalization is still guessing (10 classes, about 10 %), while the LeNet with batch normalization passes 60 % after a few dozen steps. One reason: batch normalization brings each layer's inputs back into the range where the sigmoid is not saturated, so the gradients reaching the first layers do not vanish and the same learning rate makes fast progress. This does not compare final accuracies — given enough epochs the original LeNet learns too (see the reproduction page).</p>
# </div>
# </div>

# %%
# continues the cells above (plt, torch, results, threads)
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, curve in results.items():
    steps, accs = zip(*curve)
    ax.plot(steps, accs, marker="o", label=name)
ax.axhline(0.1, color="gray", linestyle=":", label="chance (10 classes)")
ax.set_xlabel("training step (32 images each)")
ax.set_ylabel("test accuracy (1000 images)")
ax.set_ylim(0, 1)
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
torch.set_num_threads(threads)  # leave the process as we found it

# The text's claim, checked at every run of this notebook (build and tests):
final = {name: curve[-1][1] for name, curve in results.items()}
assert final["LeNet + BatchNorm"] > final["LeNet"] + 0.3, final
