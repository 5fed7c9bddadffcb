"""Computing InfMAE's conv stages only at visible patches.

Every convolution of the conv stages except the depthwise mixer is aligned
with the 16x16 token patches (1x1, or kernel = stride dividing the patch), so
a visible token's features depend only on its own pixels and, through the
5x5 depthwise mixer, on neighbouring *visible* positions (masked positions
are zeroed right before the mixer). The fast pre-training path therefore
keeps each stage as ``(B, N_vis, P, C)`` "blocks": for each visible token the
P = side * side positions it covers at that stage (side 4 at stride 4, 2 at
stride 8), channels last, and computes

* aligned convolutions as one matrix product per block
  (:func:`aligned_conv_on_blocks`),
* 1x1 convolutions, LayerNorms and GELUs on the visible positions only,
* the depthwise mixer on a zero-filled map (:func:`blocks_to_map`,
  :func:`map_to_blocks`), which is cheap (25 MACs per value).

This equals the dense formulation at every visible position.
"""
from typing import Tuple

import torch
import torch.nn.functional as F


def aligned_conv_on_blocks(blocks: torch.Tensor, side: int,
                           weight: torch.Tensor,
                           bias: torch.Tensor) -> torch.Tensor:
    """Apply a kernel = stride convolution inside each block.

    Args:
        blocks (torch.Tensor): (B, N, side * side, C_in), positions raster.
        side (int): Side of a block, a multiple of the kernel.
        weight (torch.Tensor): (C_out, C_in, k, k) conv weight, stride k.
        bias (torch.Tensor): (C_out, ) bias.

    Returns:
        torch.Tensor: (B, N, (side / k) ** 2, C_out), positions raster.
    """
    B, N, _, C = blocks.shape
    k = weight.shape[-1]
    o = side // k
    x = blocks.reshape(B, N, o, k, o, k, C).permute(0, 1, 2, 4, 3, 5, 6)
    x = x.reshape(B, N, o * o, k * k * C)
    return F.linear(x, weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1),
                    bias)


def block_positions(ids_keep: torch.Tensor, grid: Tuple[int, int],
                    side: int) -> torch.Tensor:
    """Flat positions (B, N_vis * side**2) of the visible blocks' values in a
    (h * side) x (w * side) map, block by block, raster inside a block."""
    w = grid[1] * side
    rows = (ids_keep // grid[1]) * side
    cols = (ids_keep % grid[1]) * side
    inner = torch.arange(side, device=ids_keep.device)
    offsets = (inner[:, None] * w + inner[None, :]).flatten()
    return ((rows * w + cols)[:, :, None] + offsets).flatten(1)


def blocks_to_map(blocks: torch.Tensor, ids_keep: torch.Tensor,
                  grid: Tuple[int, int], side: int) -> torch.Tensor:
    """Scatter visible blocks into a zero (B, C, h * side, w * side) map.

    The map is channels-last in memory (a view of a (B, H, W, C) tensor), the
    layout in which depthwise convolutions run fastest and which needs no
    copy to or from the blocks.
    """
    B, N, P, C = blocks.shape
    H, W = grid[0] * side, grid[1] * side
    index = block_positions(ids_keep, grid, side)[:, :, None].expand(-1, -1, C)
    dense = blocks.new_zeros(B, H * W, C)
    dense.scatter_(1, index, blocks.reshape(B, N * P, C))
    return dense.reshape(B, H, W, C).permute(0, 3, 1, 2)


def map_to_blocks(feature_map: torch.Tensor, ids_keep: torch.Tensor,
                  side: int) -> torch.Tensor:
    """Gather the visible blocks (B, N_vis, side**2, C) of an NCHW map."""
    B, C, H, W = feature_map.shape
    grid = (H // side, W // side)
    index = block_positions(ids_keep, grid, side)[:, :, None].expand(-1, -1, C)
    values = feature_map.permute(0, 2, 3, 1).reshape(B, H * W, C)
    return torch.gather(values, 1, index).reshape(B, -1, side * side, C)


def _visible_halos(feature_map: torch.Tensor, ids_keep: torch.Tensor,
                   grid: Tuple[int, int], side: int,
                   pad: int) -> torch.Tensor:
    """Each visible block with a ``pad``-wide border of its neighbourhood.

    Returns:
        torch.Tensor: (B, N_vis, side + 2 pad, side + 2 pad, C); positions
        outside the map read zeros.
    """
    B, C, H, W = feature_map.shape
    halo = side + 2 * pad
    values = feature_map.permute(0, 2, 3, 1).reshape(B, H * W, C)
    values = torch.cat([values, values.new_zeros(B, 1, C)], 1)  # sentinel
    inner = torch.arange(halo, device=ids_keep.device) - pad
    rows = (ids_keep // grid[1] * side)[:, :, None, None] + inner[:, None]
    cols = (ids_keep % grid[1] * side)[:, :, None, None] + inner[None, :]
    inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    index = torch.where(inside, rows * W + cols, torch.full_like(rows, H * W))
    index = index.flatten(1)[:, :, None].expand(-1, -1, C)
    return torch.gather(values, 1, index).reshape(B, -1, halo, halo, C)


class _VisibleDepthwiseConv(torch.autograd.Function):
    """Depthwise conv of zero-filled visible blocks, evaluated at the visible
    blocks, with a backward pass that avoids the generic depthwise
    ``convolution_backward`` (several times slower than the forward on CPU):
    the input gradient is one more depthwise convolution (flipped kernel) and
    the weight gradient is accumulated per tap over the visible positions
    only, the only ones where the output gradient is non-zero."""

    @staticmethod
    def forward(ctx, blocks: torch.Tensor, ids_keep: torch.Tensor,
                grid: Tuple[int, int], side: int, weight: torch.Tensor,
                bias: torch.Tensor) -> torch.Tensor:
        dense = blocks_to_map(blocks, ids_keep, grid, side)
        pad = weight.shape[-1] // 2
        weight = weight.contiguous(memory_format=torch.channels_last)
        out = F.conv2d(dense, weight, bias, padding=pad, groups=dense.shape[1])
        ctx.save_for_backward(dense, ids_keep, weight)
        ctx.grid, ctx.side = grid, side
        return map_to_blocks(out, ids_keep, side)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        dense, ids_keep, weight = ctx.saved_tensors
        grid, side = ctx.grid, ctx.side
        k = weight.shape[-1]
        pad = k // 2
        grad_blocks = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_map = blocks_to_map(grad_out, ids_keep, grid, side)
            grad_dense = F.conv2d(
                grad_map,
                weight.flip(-2, -1).contiguous(
                    memory_format=torch.channels_last),
                padding=pad,
                groups=grad_map.shape[1])
            grad_blocks = map_to_blocks(grad_dense, ids_keep, side)
        if ctx.needs_input_grad[4]:
            # grad_w[c] = sum over visible blocks of corr(halo, grad_out):
            # one depthwise conv with a (block, channel) pair per group.
            halos = _visible_halos(dense, ids_keep, grid, side, pad)
            B, N, C = halos.shape[0], halos.shape[1], halos.shape[-1]
            halos = halos.permute(0, 1, 4, 2, 3).reshape(
                1, B * N * C, side + 2 * pad, side + 2 * pad)
            grad = grad_out.reshape(B, N, side, side, C).permute(0, 1, 4, 2, 3)
            grad = grad.reshape(B * N * C, 1, side, side)
            grad_weight = F.conv2d(halos, grad, groups=B * N * C)
            grad_weight = grad_weight.reshape(B * N, C, k, k).sum(0)
            grad_weight = grad_weight.unsqueeze(1)
        if ctx.needs_input_grad[5]:
            grad_bias = grad_out.sum((0, 1, 2))
        return grad_blocks, None, None, None, grad_weight, grad_bias


def visible_depthwise_conv(blocks: torch.Tensor, ids_keep: torch.Tensor,
                           grid: Tuple[int, int], side: int,
                           conv: torch.nn.Conv2d) -> torch.Tensor:
    """Apply a depthwise ``conv`` (odd kernel, 'same' padding) to the map whose
    visible blocks are ``blocks`` and which is zero elsewhere; return the
    result at the visible blocks.

    Args:
        blocks (torch.Tensor): (B, N_vis, side * side, C).
        ids_keep (torch.Tensor): (B, N_vis) token ids of the blocks.
        grid (tuple[int, int]): Token grid (h, w).
        side (int): Block side.
        conv (nn.Conv2d): The depthwise convolution (groups = C).

    Returns:
        torch.Tensor: (B, N_vis, side * side, C).
    """
    return _VisibleDepthwiseConv.apply(blocks, ids_keep, tuple(grid), side,
                                       conv.weight, conv.bias)
