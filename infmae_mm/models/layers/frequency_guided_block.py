"""The frequency-guided attention block of DuGI-MAE's paper form (Eq.

5).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .transformer_block import FFN


class FrequencyGuidedBlock(nn.Module):
    """Attention whose keys and values are summed with guidance tokens.

    ``softmax(Q_s (K_s + K_g)^T / sqrt(d)) (V_s + V_g)`` with Q, K_s, V_s
    from the spatial tokens and K_g, V_g from the guidance tokens (the
    frequency tokens in DuGI's first block, the previous block's output in
    later ones), through the same key/value projection. Pre-norm (separate
    LayerNorms for the spatial and the guidance tokens), a residual onto the
    spatial tokens, then a pre-norm FFN with residual. The paper gives only
    the attention equation; norms, residuals and shared projections are
    this implementation's choice.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Heads; C must be divisible by it.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        qkv_bias (bool): Bias of the q and kv projections. Defaults to True.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads}).')
        self.num_heads = num_heads
        self.norm_spatial = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.norm_guide = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, 2 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.norm_ffn = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.ffn = FFN(embed_dims, mlp_ratio)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        return x.reshape(B, N, self.num_heads,
                         C // self.num_heads).transpose(1, 2)

    def forward(self, spatial: torch.Tensor,
                guide: torch.Tensor) -> torch.Tensor:
        """Attend from the spatial tokens to spatial + guidance.

        Args:
            spatial (torch.Tensor): (B, N, C) encoder tokens (queries).
            guide (torch.Tensor): (B, N, C) guidance tokens, paired with the
                spatial tokens one to one.

        Returns:
            torch.Tensor: (B, N, C).
        """
        if guide.shape != spatial.shape:
            raise ValueError(
                f'Frequency guidance {tuple(guide.shape)} must match the '
                f'spatial tokens {tuple(spatial.shape)} (one guidance token '
                'per visible token).')
        s = self.norm_spatial(spatial)
        # K_s + K_g and V_s + V_g through one projection (one bias).
        kv = self.kv(s) + F.linear(self.norm_guide(guide), self.kv.weight)
        k, v = kv.chunk(2, dim=-1)
        attn = F.scaled_dot_product_attention(
            self._heads(self.q(s)), self._heads(k), self._heads(v))
        B, N, C = spatial.shape
        x = spatial + self.proj(attn.transpose(1, 2).reshape(B, N, C))
        return x + self.ffn(self.norm_ffn(x))
