"""Device-specific kernels of the model code, behind one dispatch
(:func:`kernel_for`), each next to its reference implementation; model files
call the operators and hold no device branches."""
from .attention import (CPU_SHORT_ATTENTION, attention, attention_cpu,
                        attention_reference)
from .depthwise import (depthwise_weight_grad, depthwise_weight_grad_cpu,
                        depthwise_weight_grad_reference)
from .dispatch import (autocast_disabled, kernel_for, register_kernel,
                       register_reference)

__all__ = [
    'CPU_SHORT_ATTENTION', 'attention', 'attention_cpu', 'attention_reference',
    'depthwise_weight_grad', 'depthwise_weight_grad_cpu',
    'depthwise_weight_grad_reference', 'autocast_disabled', 'kernel_for',
    'register_kernel', 'register_reference'
]
