"""Learned relative position bias over a 2-D token grid (BEiT / MCMAE)."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def relative_position_index(grid_size: Tuple[int, int]) -> torch.Tensor:
    """Index (N, N) into a ((2h-1) * (2w-1)) table for every token pair."""
    h, w = grid_size
    coords = torch.stack(
        torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij'))
    coords = coords.flatten(1)  # (2, N)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel[..., 0] += h - 1
    rel[..., 1] += w - 1
    return rel[..., 0] * (2 * w - 1) + rel[..., 1]


class RelativePositionBias(nn.Module):
    """Per-head additive attention bias indexed by the 2-D token offset.

    The table is built for ``grid_size``; for another grid it is resized
    bicubically, so a model fine-tuned at one size runs at another.

    Args:
        grid_size (tuple[int, int]): Token grid (h, w) of the table.
        num_heads (int): Attention heads.
    """

    def __init__(self, grid_size: Tuple[int, int], num_heads: int) -> None:
        super().__init__()
        self.grid_size = tuple(grid_size)
        self.num_heads = num_heads
        h, w = self.grid_size
        # Zero init: fine-tuning starts from the pre-trained attention.
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * h - 1) * (2 * w - 1), num_heads))
        self.register_buffer(
            'relative_position_index',
            relative_position_index(self.grid_size),
            persistent=False)

    def forward(self, grid_size: Tuple[int, int]) -> torch.Tensor:
        """Bias (1, heads, N, N) for a (h, w) token grid."""
        grid_size = tuple(grid_size)
        table = self.relative_position_bias_table
        # While tracing (ONNX export) the grid is made of traced sizes: take
        # the general path, so that the graph builds the index from them
        # (the resize is the identity at the table's own grid), as
        # InfMAEViT.position_table does.
        if not torch.jit.is_tracing() and grid_size == self.grid_size:
            index = self.relative_position_index
        else:
            h, w = self.grid_size
            table = table.reshape(2 * h - 1, 2 * w - 1, -1).permute(2, 0, 1)
            table = F.interpolate(
                table[None], (2 * grid_size[0] - 1, 2 * grid_size[1] - 1),
                mode='bicubic',
                align_corners=False)[0]
            table = table.permute(1, 2, 0).reshape(-1, self.num_heads)
            index = relative_position_index(grid_size).to(table.device)
        n = grid_size[0] * grid_size[1]
        bias = table[index.reshape(-1)].reshape(n, n, self.num_heads)
        return bias.permute(2, 0, 1).unsqueeze(0).contiguous()


def visible_position_bias(bias: torch.Tensor,
                          ids_keep: torch.Tensor) -> torch.Tensor:
    """The bias among visible tokens only, per image.

    Args:
        bias (torch.Tensor): (1, heads, N, N) bias over the whole grid, as
            :class:`RelativePositionBias` returns it.
        ids_keep (torch.Tensor): (B, N_vis) indices of the visible tokens.

    Returns:
        torch.Tensor: (B, heads, N_vis, N_vis): rows and columns ``ids_keep``
        of each image.
    """
    rows = bias[0][:, ids_keep]  # (heads, B, N_vis, N)
    rows = rows.permute(1, 0, 2, 3)
    cols = ids_keep[:, None, None, :].expand(-1, rows.shape[1], rows.shape[2],
                                             -1)
    return torch.gather(rows, 3, cols)
