"""bnref.speed.fast_path: the fastest LeNet-BN training setting for a CPU's instruction set.

The fused BatchNorm-sigmoid-pooling kernel everywhere; the first convolution
as one channel (OneChannelConv2d) where oneDNN's AVX2 kernels pad the input
channel, PyTorch's own convolution elsewhere. Timed by ``python -m bnref
throughput`` (tests/experiments/test_throughput.py).
"""

from bnref.speed.fast_path import fast_path


def test_the_fast_path_picks_the_first_convolution_by_instruction_set():
    # OneChannelConv2d avoids a padding that oneDNN's AVX2 kernels make
    assert fast_path("AVX2") == ("fast", "fused", "one_channel", "fused")
    assert fast_path("AVX512") == ("fast", "fused", "torch", "fused")
    assert fast_path("DEFAULT") == ("fast", "fused", "torch", "fused")
