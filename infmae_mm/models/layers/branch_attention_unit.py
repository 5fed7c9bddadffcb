"""The attention + FFN unit of the released DuGI-MAE code's DDG branches."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .transformer_block import FFN


class BranchAttentionUnit(nn.Module):
    """Self-attention then FFN, without LayerNorm and without residuals.

    The released code takes this unit from the VAR code base: a bias-free
    fused qkv projection with learnable q and v biases (zero-initialised, no
    k bias), attention scaled by ``0.25 / sqrt(head_dim)`` (1/32 for 64-d
    heads, not 1/8), an output projection, then Linear -> GELU -> Linear.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Heads; C must be divisible by it.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        attn_scale_factor (float): Multiplier of ``1 / sqrt(head_dim)``.
            Defaults to 0.25 (the code's).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 attn_scale_factor: float = 0.25) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads}).')
        self.num_heads = num_heads
        self.scale = attn_scale_factor / math.sqrt(embed_dims // num_heads)
        # The bias-free fused projection as a bare weight (3C, C), Xavier
        # initialised like the code's Linear layers.
        self.qkv_weight = nn.Parameter(torch.empty(3 * embed_dims, embed_dims))
        nn.init.xavier_uniform_(self.qkv_weight)
        self.q_bias = nn.Parameter(torch.zeros(embed_dims))
        self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.ffn = FFN(embed_dims, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        B, N, C = x.shape
        bias = torch.cat(
            [self.q_bias,
             torch.zeros_like(self.q_bias), self.v_bias])
        qkv = F.linear(x, self.qkv_weight, bias)
        q, k, v = qkv.reshape(B, N, 3, self.num_heads,
                              C // self.num_heads).permute(2, 0, 3, 1,
                                                           4).unbind(0)
        attn = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        x = self.proj(attn.transpose(1, 2).reshape(B, N, C))
        return self.ffn(x)
