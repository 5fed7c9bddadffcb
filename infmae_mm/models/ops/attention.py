"""Scaled dot-product attention: the reference and a CPU kernel for short
key sequences."""
from typing import Optional

import torch
import torch.nn.functional as F

from .dispatch import kernel_for, register_kernel, register_reference

#: Key counts up to which plain matmul-softmax-matmul attention is faster on
#: the CPU than PyTorch's flash kernel (torch 2.1, fp32, forward + backward:
#: 1.5-2x at InfMAE-B's 49 stage-3 tokens at 224; slower from about 100).
CPU_SHORT_ATTENTION = 64


@register_reference('attention')
def attention_reference(
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + attn_bias) v`` by PyTorch's
    ``scaled_dot_product_attention`` (its fused kernels where it has them).

    Args:
        q (torch.Tensor): (B, heads, N_q, d) queries.
        k (torch.Tensor): (B, heads, N_k, d) keys.
        v (torch.Tensor): (B, heads, N_k, d_v) values.
        attn_bias (torch.Tensor, optional): Additive logits bias,
            broadcastable to (B, heads, N_q, N_k).

    Returns:
        torch.Tensor: (B, heads, N_q, d_v).
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)


@register_kernel('attention', 'cpu')
def attention_cpu(q: torch.Tensor,
                  k: torch.Tensor,
                  v: torch.Tensor,
                  attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """:func:`attention_reference` on the CPU: the explicit products for up to
    :data:`CPU_SHORT_ATTENTION` keys (faster there than the fused kernel), the
    reference for longer sequences.

    Shapes as the reference.
    """
    if k.shape[-2] > CPU_SHORT_ATTENTION:
        return attention_reference(q, k, v, attn_bias)
    logits = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    if attn_bias is not None:
        logits = logits + attn_bias
    return logits.softmax(dim=-1) @ v


def attention(q: torch.Tensor,
              k: torch.Tensor,
              v: torch.Tensor,
              attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + attn_bias) v`` of (B, heads, N, d) inputs,
    by the kernel of the inputs' device (:func:`.kernel_for`); shapes as
    :func:`attention_reference`."""
    return kernel_for('attention', q)(q, k, v, attn_bias)
