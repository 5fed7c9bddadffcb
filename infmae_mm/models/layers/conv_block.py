"""The masked convolution block of the InfMAE conv stages (MCMAE's CBlock)."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath

from .patch_embed import layer_norm_2d


class ConvFFN(nn.Module):
    """Pointwise feed-forward network: 1x1 conv -> GELU -> 1x1 conv."""

    def __init__(self, embed_dims: int, mlp_ratio: float = 4.) -> None:
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.fc1 = nn.Conv2d(embed_dims, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, embed_dims, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MaskedConvBlock(nn.Module):
    """Residual conv block whose depthwise token mixer only sees visible input.

    ``x = x + conv2(dwconv(visible * conv1(norm1(x))))`` followed by
    ``x = x + ffn(norm2(x))``. Zeroing the masked positions right before the
    5x5 depthwise convolution is what keeps masked content from leaking into
    visible positions during pre-training; downstream the mask is omitted.

    Args:
        embed_dims (int): Channels C.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        kernel_size (int): Depthwise mixer kernel. Defaults to 5.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        norm_eps (float): LayerNorm epsilon (official: 1e-5).
    """

    def __init__(self,
                 embed_dims: int,
                 mlp_ratio: float = 4.,
                 kernel_size: int = 5,
                 drop_path: float = 0.,
                 norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.conv1 = nn.Conv2d(embed_dims, embed_dims, 1)
        self.dwconv = nn.Conv2d(
            embed_dims,
            embed_dims,
            kernel_size,
            padding=kernel_size // 2,
            groups=embed_dims)
        self.conv2 = nn.Conv2d(embed_dims, embed_dims, 1)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.ffn = ConvFFN(embed_dims, mlp_ratio)
        self.drop_path = DropPath(
            drop_path) if drop_path > 0 else nn.Identity()

    def forward(self,
                x: torch.Tensor,
                visible: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Run the block.

        Args:
            x (torch.Tensor): (B, C, H, W).
            visible (torch.Tensor, optional): (B, 1, H, W), 1 where the input
                is visible and 0 where it is masked. None means all visible.

        Returns:
            torch.Tensor: (B, C, H, W).
        """
        y = self.conv1(layer_norm_2d(x, self.norm1))
        if visible is not None:
            y = y * visible
        x = x + self.drop_path(self.conv2(self.dwconv(y)))
        return x + self.drop_path(self.ffn(layer_norm_2d(x, self.norm2)))
