"""Pre-norm ViT block built on ``scaled_dot_product_attention``."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath

from ..ops import CPU_SHORT_ATTENTION, attention  # noqa: F401


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The (B, N_q, C) rows ``ids`` (B, N_q) of (B, N, C) tokens."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class MultiheadSelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Heads; C must be divisible by it.
        qkv_bias (bool): Bias on the qkv projection. Defaults to True.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads}).')
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self,
                x: torch.Tensor,
                attn_bias: Optional[torch.Tensor] = None,
                query_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend.

        Args:
            x (torch.Tensor): (B, N, C).
            attn_bias (torch.Tensor, optional): Additive attention bias
                broadcastable to (B, heads, N, N), e.g. a relative position
                bias. Defaults to None.
            query_ids (torch.Tensor, optional): (B, N_q) ids of the tokens
                whose outputs are wanted; they attend to all N tokens, and
                the queries of the others are not computed. Defaults to None
                (every token).

        Returns:
            torch.Tensor: (B, N, C), or (B, N_q, C) at ``query_ids``.
        """
        if query_ids is None:
            return self.attend_projected(self.qkv(x), attn_bias)
        if attn_bias is not None:
            raise ValueError('MultiheadSelfAttention: query_ids with an '
                             'attn_bias is not supported.')
        # Rows of the fused projection: queries at the wanted tokens, keys
        # and values at all of them (the same products as self.qkv).
        B, N, C = x.shape
        shape = (B, -1, self.num_heads, C // self.num_heads)
        w, b = self.qkv.weight, self.qkv.bias
        q = F.linear(
            gather_tokens(x, query_ids), w[:C],
            None if b is None else b[:C]).reshape(shape).transpose(1, 2)
        kv = F.linear(x, w[C:], None if b is None else b[C:])
        k, v = kv.reshape(B, N, 2, *shape[2:]).permute(2, 0, 3, 1, 4).unbind(0)
        x = attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, -1, C))

    def attend_projected(
            self,
            qkv: torch.Tensor,
            attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend with projections the caller computed.

        Args:
            qkv (torch.Tensor): (B, N, 3C), ``self.qkv`` of the tokens (e.g.
                assembled from rows shared between samples).
            attn_bias (torch.Tensor, optional): As in :meth:`forward`.

        Returns:
            torch.Tensor: (B, N, C).
        """
        B, N, C3 = qkv.shape
        q, k, v = qkv.reshape(B, N, 3, self.num_heads,
                              C3 // 3 // self.num_heads).permute(
                                  2, 0, 3, 1, 4).unbind(0)
        x = attention(q, k, v, attn_bias)
        return self.proj(x.transpose(1, 2).reshape(B, N, C3 // 3))


class FFN(nn.Module):
    """Linear -> GELU -> Linear."""

    def __init__(self, embed_dims: int, mlp_ratio: float = 4.) -> None:
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.fc1 = nn.Linear(embed_dims, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block with optional layer scale.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        qkv_bias (bool): Bias on qkv. Defaults to True.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        layer_scale_init (float, optional): Initial value of the per-channel
            residual scales ``gamma_1``/``gamma_2`` (BEiT/MCMAE fine-tuning).
            None disables them. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_path: float = 0.,
                 norm_eps: float = 1e-6,
                 layer_scale_init: Optional[float] = None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = MultiheadSelfAttention(embed_dims, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.ffn = FFN(embed_dims, mlp_ratio)
        self.drop_path = DropPath(
            drop_path) if drop_path > 0 else nn.Identity()
        if layer_scale_init is not None:
            self.gamma_1 = nn.Parameter(
                torch.full((embed_dims, ), float(layer_scale_init)))
            self.gamma_2 = nn.Parameter(
                torch.full((embed_dims, ), float(layer_scale_init)))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self,
                x: torch.Tensor,
                attn_bias: Optional[torch.Tensor] = None,
                query_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Run the block on (B, N, C) tokens; see ``MultiheadSelfAttention``.

        With ``query_ids`` (B, N_q) only those tokens' outputs (B, N_q, C)
        are computed (all tokens still serve as keys and values): the last
        block of a decoder whose loss reads some tokens only.
        """
        y = self.attn(self.norm1(x), attn_bias, query_ids)
        if query_ids is not None:
            x = gather_tokens(x, query_ids)
        return self._residuals(x, y)

    def forward_projected(
            self,
            x: torch.Tensor,
            qkv: torch.Tensor,
            attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Run the block on (B, N, C) tokens ``x`` whose attention projections
        ``qkv`` = ``attn.qkv(norm1(x))`` (B, N, 3C) the caller computed, e.g.
        once for rows that are equal in every sample."""
        return self._residuals(x, self.attn.attend_projected(qkv, attn_bias))

    def _residuals(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x + y``, then the FFN branch (layer scales, drop path)."""
        if self.gamma_1 is not None:
            y = self.gamma_1 * y
        x = x + self.drop_path(y)
        y = self.ffn(self.norm2(x))
        if self.gamma_2 is not None:
            y = self.gamma_2 * y
        return x + self.drop_path(y)
