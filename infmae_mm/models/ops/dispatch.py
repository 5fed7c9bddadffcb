"""One dispatch for the device-specific kernels of the model code.

Every operator here has a reference implementation, written with PyTorch's
general operators and used on every device, and may have kernels registered
for one device type that compute the same values (within rounding) faster
there. Model files call the operator (:func:`infmae_mm.models.ops.attention`,
...), never a kernel, and hold no device branches; this module is the one
place that looks at ``tensor.device.type``.

A traced graph (ONNX export, FLOP counting) always gets the reference, so
that the exported graph is the same on every device; so does a graph that
``torch.compile`` captures, whose compiler makes its own kernels (and
TorchDynamo would break the graph at a kernel's ``out=`` loops).
"""
from typing import Callable, Dict

import torch
import torch._dynamo

#: op name -> reference implementation.
_REFERENCES: Dict[str, Callable] = {}
#: op name -> {device type -> kernel}.
_KERNELS: Dict[str, Dict[str, Callable]] = {}


def register_reference(op: str) -> Callable[[Callable], Callable]:
    """Decorator: ``fn`` is the reference implementation of ``op``."""

    def wrap(fn: Callable) -> Callable:
        _REFERENCES[op] = fn
        return fn

    return wrap


def register_kernel(op: str,
                    device_type: str) -> Callable[[Callable], Callable]:
    """Decorator: ``fn`` computes ``op`` on tensors of ``device_type``."""

    def wrap(fn: Callable) -> Callable:
        _KERNELS.setdefault(op, {})[device_type] = fn
        return fn

    return wrap


def kernel_for(op: str, tensor: torch.Tensor) -> Callable:
    """The implementation of ``op`` for the device ``tensor`` is on.

    The device's kernel when one is registered and nothing is being traced or
    compiled, else the reference.
    """
    kernels = _KERNELS.get(op, {})
    if kernels and not (torch.jit.is_tracing()
                        or torch._dynamo.is_compiling()):
        kernel = kernels.get(tensor.device.type)
        if kernel is not None:
            return kernel
    return _REFERENCES[op]


def autocast_disabled(tensor: torch.Tensor) -> torch.autocast:
    """A context that turns autocast off for the device of ``tensor`` (for
    operators that must run in float32, e.g. FFTs)."""
    return torch.autocast(device_type=tensor.device.type, enabled=False)
