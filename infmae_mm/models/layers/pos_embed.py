"""Fixed 2-D sine-cosine position tables (MAE convention) and their
resizing."""
import math
from typing import Tuple

import torch
import torch._dynamo
import torch.nn.functional as F


def sincos_pos_embed_2d(embed_dim: int,
                        grid_size: Tuple[int, int],
                        temperature: float = 10000.,
                        dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Build MAE's fixed 2-D sin-cos position table without a cls slot.

    The first half of the channels encodes the column (x) coordinate and the
    second half the row (y) coordinate, each half laid out as
    ``concat(sin(pos * omega), cos(pos * omega))`` with
    ``omega_k = 1 / temperature ** (k / (embed_dim / 4))``. This is the layout
    of the official InfMAE/MAE checkpoints, so tables built here equal theirs.

    Args:
        embed_dim (int): Channels C; must be divisible by 4.
        grid_size (tuple[int, int]): Token grid ``(h, w)``; traced 0-d
            tensors work too (ONNX export records the table for any size).
        temperature (float): Frequency base. Defaults to 10000.
        dtype (torch.dtype): Precision of the computation. float64 (the
            default) makes the table bit-identical to the numpy reference;
            exports use float32, which ONNX runtimes support (about 1e-6
            apart), and so does a graph ``torch.compile`` captures (a table
            for a grid other than the stored one is then computed inside
            the graph).

    Returns:
        torch.Tensor: The table, shape (1, h * w, C), float32.
    """
    if embed_dim % 4 != 0:
        raise ValueError(
            f'sin-cos position embedding needs embed_dim divisible by 4, '
            f'got {embed_dim}.')
    h, w = grid_size
    if torch._dynamo.is_compiling():
        # float32, and the frequencies as exp(-k log T / (C / 4)): inductor's
        # CPU code generation of torch 2.1 fails on float64 and on a
        # constant raised to an index.
        dtype = torch.float32
        omega = torch.exp(
            torch.arange(embed_dim // 4, dtype=dtype) *
            (-math.log(temperature) / (embed_dim / 4.)))
    else:
        omega = torch.arange(embed_dim // 4, dtype=torch.float64)
        omega = (1. / temperature**(omega / (embed_dim / 4.))).to(dtype)
    rows, cols = torch.meshgrid(
        torch.arange(h).to(dtype), torch.arange(w).to(dtype), indexing='ij')

    def encode(pos: torch.Tensor) -> torch.Tensor:
        out = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([torch.sin(out), torch.cos(out)], dim=1)

    table = torch.cat([encode(cols), encode(rows)], dim=1)
    return table.float().unsqueeze(0)


def resize_pos_embed(pos_embed: torch.Tensor,
                     src_shape: Tuple[int, int],
                     dst_shape: Tuple[int, int],
                     mode: str = 'bicubic',
                     skip_same_shape: bool = True) -> torch.Tensor:
    """Resize a (1, h*w, C) position table to another token grid.

    Args:
        pos_embed (torch.Tensor): Table of shape (1, h_src * w_src, C).
        src_shape (tuple[int, int]): ``(h_src, w_src)``.
        dst_shape (tuple[int, int]): ``(h_dst, w_dst)``.
        mode (str): Interpolation mode. Defaults to 'bicubic'.
        skip_same_shape (bool): Return the table unchanged when the grids
            are equal. Tracing sets it False: the comparison would freeze the
            example's grid into the graph (resizing to the same grid is the
            identity anyway).

    Returns:
        torch.Tensor: Table of shape (1, h_dst * w_dst, C).
    """
    if skip_same_shape and tuple(src_shape) == tuple(dst_shape):
        return pos_embed
    c = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, src_shape[0], src_shape[1], c)
    grid = grid.permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid.float(), size=dst_shape, mode=mode, align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, -1, c).to(pos_embed.dtype)


def position_table_for(pos_embed: torch.Tensor, grid_size: Tuple[int, int],
                       new_grid: Tuple[int,
                                       int], learnable: bool) -> torch.Tensor:
    """A (1, h * w, C) position table for another token grid.

    Args:
        pos_embed (torch.Tensor): (1, N, C) table of ``grid_size``.
        grid_size (tuple[int, int]): Its grid.
        new_grid (tuple[int, int]): The grid wanted.
        learnable (bool): Whether the table is learned: resized bicubically;
            a fixed sin-cos table is rebuilt exactly for the new grid.

    Returns:
        torch.Tensor: (1, h * w, C), ``pos_embed`` itself for its own grid.
    """
    if tuple(new_grid) == tuple(grid_size):
        return pos_embed
    if not learnable:
        return sincos_pos_embed_2d(pos_embed.shape[-1], new_grid).to(pos_embed)
    return resize_pos_embed(pos_embed, grid_size, new_grid)
