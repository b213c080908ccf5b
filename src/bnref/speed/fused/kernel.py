"""The fused kernels' build and their ``autograd.Function`` (batch normalization alone): what
:mod:`bnref.speed.fused` and its layers (:mod:`bnref.speed.fused.layers`) call.

``fused.cpp`` (beside this file) is compiled on first use, with the vector
instructions PyTorch uses on this CPU, and loaded as ``torch.ops.bnref_fused``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable
from torch.utils import cpp_extension

from bnref.norm._moving import moving_average

__all__ = ["SOURCE", "load"]

#: the kernels' C++ source, beside this file
SOURCE = Path(__file__).with_name("fused.cpp")

#: compiler flags per instruction set, as ``torch.backends.cpu.get_cpu_capability()`` names
#: it: the kernels are built for the vector instructions PyTorch's own kernels use here
_ISA_FLAGS = {
    "AVX512": ["-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512",
               "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma"],
    "AVX2": ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma"],
}


@functools.cache
def load():
    """Build (once per machine) and load the fused kernels; returns ``torch.ops.bnref_fused``.

    The build is named by the instruction set and a hash of the source and of the torch
    installation it compiles against, and compiles a copy of the source kept beside it in
    torch's extension cache: every copy of bnref with the same ``fused.cpp`` under the same
    torch (a checkout, ``pip install``, a test's temporary install) loads one build, and a
    changed source or another virtual environment gets a build of its own. (Built from each
    copy's own path, or against another torch, the same name would be rebuilt whenever the
    other one had loaded it.)

    Raises ``RuntimeError`` with the compiler's message when the build fails.
    """
    isa = torch.backends.cpu.get_cpu_capability()
    code = SOURCE.read_bytes()
    # the source, and the torch it builds against (its headers and libraries: one build per
    # installation of torch, e.g. per virtual environment, sharing one extension cache)
    key = hashlib.sha256(code + str(Path(torch.__file__).parent).encode()).hexdigest()[:12]
    name = f"bnref_fused_{isa.lower()}_{key}"
    source = Path(cpp_extension._get_build_directory(name, verbose=False)) / SOURCE.name
    if not source.is_file() or source.read_bytes() != code:
        tmp = source.with_suffix(".cpp.tmp")
        tmp.write_bytes(code)
        tmp.replace(source)  # atomic: a process building beside this one sees all or nothing
    try:
        cpp_extension.load(
            name=name, sources=[str(source)],
            extra_cflags=["-O3", "-fopenmp", *_ISA_FLAGS.get(isa, [])],
            extra_ldflags=["-fopenmp"], is_python_module=False, verbose=False)
    except (RuntimeError, OSError) as e:
        raise RuntimeError(
            f"bnref.speed.fused could not build its kernels from {SOURCE}: it needs a C++ compiler "
            f"(g++), ninja and Python's headers (`bash .ci/setup` installs them on Debian). "
            f"The build said: {e}") from e
    return torch.ops.bnref_fused


def _uses_kernel(X: torch.Tensor, pool: bool) -> bool:
    """Whether the C++ kernel computes this call (else: the composed PyTorch operations)."""
    return (X.device.type == "cpu" and not torch.compiler.is_compiling()
            and (not pool or (X.shape[2] % 2 == 0 and X.shape[3] % 2 == 0)))


class _BatchNorm(torch.autograd.Function):
    """``a x + b`` (batch normalization alone) forward and its backward, by the kernels."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean_in, var_in, eps, training):
        y, mean, var = load().bn_forward(x, gamma, beta, mean_in, var_in, eps, training)
        ctx.save_for_backward(x, gamma, beta, mean, var)
        ctx.eps, ctx.training = eps, training
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _dmean, _dvar):
        if dy is None:
            return None, None, None, None, None, None, None
        x, gamma, beta, mean, var = ctx.saved_tensors
        dx, dgamma, dbeta = load().bn_backward(dy, x, gamma, beta, mean, var, ctx.eps,
                                               ctx.training)
        return dx, dgamma, dbeta, None, None, None, None


def _fused(function, X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """Run ``function`` in the compute dtype and update the moving statistics (d2l convention)."""
    dtype = torch.promote_types(X.dtype, torch.float32)
    C = X.shape[1]
    Y, mean, var = function.apply(
        X.to(dtype).contiguous(), gamma.reshape(C).to(dtype), beta.reshape(C).to(dtype),
        moving_mean.reshape(C), moving_var.reshape(C), float(eps), bool(training))
    if training:  # moving = momentum * moving + (1 - momentum) * batch statistic
        moving_mean = moving_average(moving_mean, mean, momentum)
        moving_var = moving_average(moving_var, var, momentum)
    return Y.to(X.dtype), moving_mean.detach(), moving_var.detach()
