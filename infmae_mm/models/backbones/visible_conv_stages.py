"""The visible-block layout of InfMAE's conv stages (pre-training).

The conv-stage layers (:class:`~infmae_mm.models.layers.ConvPatchEmbed`,
:class:`~infmae_mm.models.layers.MaskedConvBlock`) are written channels-last
and run unchanged on a whole map or on its visible blocks; this module owns
what differs for the blocks: gathering them, and the depthwise mixer.

Every convolution of the conv stages except the depthwise mixer is aligned
with the 16x16 token patches (1x1, or kernel = stride dividing the patch), so
a visible token's features depend only on its own pixels and, through the
5x5 depthwise mixer, on neighbouring *visible* positions (masked positions
are zeroed right before the mixer). The visible path therefore keeps each
stage as (B * N_vis, side, side, C) blocks, a batch of small channels-last
maps: for each visible token the side x side positions it covers at that
stage (side 16 at the image, 4 at stride 4, 2 at stride 8). The layers run
on them as on a map, and the depthwise mixer (:class:`VisibleBlocks`)
convolves each block with its halo (the border it reads from neighbouring
visible blocks, zeros where they are masked; :func:`halo_index`), so no
zero-filled map is built and only visible outputs are computed.

This equals the dense formulation (``InfMAEViT(masked_conv='dense')``) at
every visible position; ``tests/test_visible_path.py`` checks outputs, loss
and gradients against it.
"""
import math
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers import DenseLayout, gather_tokens
from ..masking import IAMMask, upsample_token_mask
from ..ops import depthwise_weight_grad
from .infmae_arch import PATCH_SIZES, TOKEN_PATCH

#: Block side of stage 1 (stride 4) and stage 2 (stride 8).
STAGE_SIDES = (TOKEN_PATCH // PATCH_SIZES[0],
               TOKEN_PATCH // (PATCH_SIZES[0] * PATCH_SIZES[1]))


def block_positions(ids_keep: torch.Tensor, grid: Tuple[int, int],
                    side: int) -> torch.Tensor:
    """Flat positions of the visible blocks' values in a batch of maps.

    A channels-last (B, H, W, C) map (H = h * side, W = w * side) viewed as
    (B * H * W, C) rows holds value ``k`` of the block of visible token ``n``
    of sample ``b`` in row ``positions[(b * N_vis + n) * side**2 + k]``.

    Args:
        ids_keep (torch.Tensor): (B, N_vis) visible token ids.
        grid (tuple[int, int]): Token grid (h, w).
        side (int): Block side.

    Returns:
        torch.Tensor: (B * N_vis * side**2, ) positions, block by block,
        raster inside a block.
    """
    B = ids_keep.shape[0]
    inner = torch.arange(side, device=ids_keep.device)
    rows = (ids_keep // grid[1] * side)[:, :, None] + inner
    rows = rows + (torch.arange(B, device=ids_keep.device) * grid[0] *
                   side)[:, None, None]
    cols = (ids_keep % grid[1] * side)[:, :, None] + inner
    return (rows[:, :, :, None] * (grid[1] * side) +
            cols[:, :, None, :]).flatten()


def map_to_blocks(feature_map: torch.Tensor, ids_keep: torch.Tensor,
                  side: int) -> torch.Tensor:
    """Gather the visible blocks (B, N_vis, side**2, C) of an NCHW map.

    One ``index_select`` of C-channel rows (of a view for channels-last
    maps; other maps are copied channels-last first).
    """
    B, C, H, W = feature_map.shape
    values = feature_map.permute(0, 2, 3, 1).reshape(B * H * W, C)
    return values.index_select(
        0, block_positions(ids_keep, (H // side, W // side),
                           side)).view(B, -1, side * side, C)


def halo_index(ids_keep: torch.Tensor, grid: Tuple[int, int], side: int,
               pad: int) -> torch.Tensor:
    """Where each value of each visible block's halo lives in the blocks.

    The halo of a block is the block with a ``pad``-wide border of the map
    whose visible blocks are the given ones and which is zero elsewhere
    (masked tokens and outside the map).

    Args:
        ids_keep (torch.Tensor): (B, N_vis) visible token ids.
        grid (tuple[int, int]): Token grid (h, w).
        side (int): Block side.
        pad (int): Border width.

    Returns:
        torch.Tensor: (B * N_vis * S * S, ) rows, S = side + 2 pad, of the
        (B * N_vis * side**2 + 1, C) table of the blocks' values followed by
        one zero row (the index of the zero row for zero halo values); halos
        in block order, raster inside a halo.
    """
    B, N = ids_keep.shape
    h, w = grid
    device = ids_keep.device
    # Visible token id -> its block's number (-1 for masked tokens).
    number = torch.full((B, h * w), -1, dtype=torch.long, device=device)
    number.scatter_(1, ids_keep, torch.arange(B * N, device=device).view(B, N))
    offsets = torch.arange(side + 2 * pad, device=device) - pad
    rows = (ids_keep // w * side)[:, :, None] + offsets  # (B, N, S)
    cols = (ids_keep % w * side)[:, :, None] + offsets
    inside = (((rows >= 0) & (rows < h * side))[:, :, :, None] &
              ((cols >= 0) & (cols < w * side))[:, :, None, :])
    token = (rows.clamp(0, h * side - 1) // side)[:, :, :, None] * w + \
        (cols.clamp(0, w * side - 1) // side)[:, :, None, :]
    block = torch.gather(number, 1, token.flatten(1)).view(token.shape)
    row = block * (side * side) + ((rows % side)[:, :, :, None] * side +
                                   (cols % side)[:, :, None, :])
    zero_row = B * N * side * side
    return torch.where(inside & (block >= 0), row,
                       torch.full_like(row, zero_row)).flatten()


def _halos(blocks: torch.Tensor, index: torch.Tensor,
           halo: int) -> torch.Tensor:
    """The halos (B * N_vis, C, halo, halo), channels-last in memory, of (B,
    N_vis, P, C) blocks, ``index`` from :func:`halo_index`."""
    B, N, P, C = blocks.shape
    table = torch.cat([blocks.reshape(B * N * P, C), blocks.new_zeros(1, C)])
    return table.index_select(0, index).view(B * N, halo, halo,
                                             C).permute(0, 3, 1, 2)


#: The depthwise weight gradient (the ops module's, by device).
_depthwise_correlation = depthwise_weight_grad


class _HaloDepthwiseConv(torch.autograd.Function):
    """Depthwise conv of zero-filled visible blocks, evaluated at the visible
    blocks.

    Each block is convolved together with its halo (its border from the
    neighbouring visible blocks, zeros elsewhere; gathered from the blocks by
    one ``index_select`` with the ``index`` of :func:`halo_index`) without
    padding, so only the visible outputs are computed and no map is
    materialised; the output is channels-last, i.e. already in the blocks'
    layout. The backward pass avoids the generic depthwise
    ``convolution_backward`` of the (B, C, H, W) map: the input gradient is
    the same halo convolution of the output gradient with the flipped
    kernel, and the weight gradient the correlation of the output gradient's
    halos with the blocks summed over the visible blocks
    (:func:`~infmae_mm.models.ops.depthwise_weight_grad`, by device): one
    gather in the backward pass. Only the blocks are saved.

    Its inputs are tensors only (the block side is read from the blocks'
    shape) and its backward reads no ``ctx`` flags, so that
    ``torch.compile`` traces it into the graph (TorchDynamo's
    ``autograd.Function`` support takes tensor and constant inputs and, in
    torch 2.1, no ``ctx.needs_input_grad``): every gradient is computed, as
    training needs them all.
    """

    @staticmethod
    def forward(ctx, blocks: torch.Tensor, index: torch.Tensor,
                weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, N, P, C = blocks.shape
        side = math.isqrt(P)
        k = weight.shape[-1]
        out = F.conv2d(
            _halos(blocks, index, side + k - 1),
            weight.contiguous(memory_format=torch.channels_last),
            bias,
            groups=C)
        ctx.save_for_backward(blocks, index, weight)
        return out.permute(0, 2, 3, 1).reshape(B, N, P, C)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        blocks, index, weight = ctx.saved_tensors
        # Custom functions run their backward outside autocast: compute in
        # the dtype of the incoming gradient (autograd casts the returned
        # gradients back to the inputs' dtypes).
        dtype = grad_out.dtype
        # (Casts only where needed: a no-op cast is dispatched too.)
        if blocks.dtype != dtype:
            blocks = blocks.to(dtype)
        if weight.dtype != dtype:
            weight = weight.to(dtype)
        B, N, P, C = blocks.shape
        side = math.isqrt(P)
        k = weight.shape[-1]
        grad_halos = _halos(grad_out, index, side + k - 1)
        grad_blocks = F.conv2d(
            grad_halos,
            weight.flip(-2, -1).contiguous(memory_format=torch.channels_last),
            groups=C).permute(0, 2, 3, 1).reshape(B, N, P, C)
        # grad_w[i, j] = sum over visible outputs p of grad(p) x(p + d),
        # d = (i, j) - k // 2; with q = p + d it is the sum over visible
        # inputs q of x(q) grad(q - d), read from the gradient's halos
        # gathered above (so the inputs' halos are not gathered again): the
        # correlation of the gradient halos with the blocks, flipped.
        grad_weight = depthwise_weight_grad(
            grad_halos,
            blocks.reshape(B * N, side, side, C).permute(0, 3, 1, 2),
            k).flip(-2, -1)
        grad_bias = grad_out.sum((0, 1, 2))
        return grad_blocks, None, grad_weight, grad_bias


def halo_depthwise_conv(blocks: torch.Tensor, ids_keep: torch.Tensor,
                        grid: Tuple[int, int], side: int, weight: torch.Tensor,
                        bias: torch.Tensor) -> torch.Tensor:
    """A depthwise convolution (odd kernel, 'same' padding, groups = C) of the
    map whose visible blocks are ``blocks`` and which is zero elsewhere, at the
    visible blocks (:class:`_HaloDepthwiseConv`).

    Args:
        blocks (torch.Tensor): (B, N_vis, side * side, C).
        ids_keep (torch.Tensor): (B, N_vis) token ids of the blocks.
        grid (tuple[int, int]): Token grid (h, w).
        side (int): Block side.
        weight (torch.Tensor): (C, 1, k, k) kernel.
        bias (torch.Tensor): (C, ) bias.

    Returns:
        torch.Tensor: (B, N_vis, side * side, C).
    """
    index = halo_index(ids_keep, grid, side, weight.shape[-1] // 2)
    return _HaloDepthwiseConv.apply(blocks, index, weight, bias)


class VisibleBlocks:
    """The layout of one conv stage's visible blocks.

    Passed as ``layout`` to :class:`~infmae_mm.models.layers.MaskedConvBlock`
    whose input is (B * N_vis, side, side, C) visible blocks: its depthwise
    mixer is the halo convolution (:func:`halo_depthwise_conv`), equal to the
    mixer of the zero-filled map at the visible blocks. The halo index is
    computed once per stage (and kernel size) and shared by its blocks.

    Args:
        ids_keep (torch.Tensor): (B, N_vis) visible token ids.
        grid (tuple[int, int]): Token grid (h, w).
        side (int): Block side at this stage's stride.
    """

    def __init__(self, ids_keep: torch.Tensor, grid: Tuple[int, int],
                 side: int) -> None:
        self.ids_keep, self.grid, self.side = ids_keep, grid, side
        self._index: Dict[int, torch.Tensor] = {}

    def depthwise(self, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """The depthwise ``conv`` (odd kernel, 'same' padding, groups = C) of
        the zero-filled map, at the (B * N_vis, side, side, C) blocks ``x``."""
        k = conv.weight.shape[-1]
        if k not in self._index:
            self._index[k] = halo_index(self.ids_keep, self.grid, self.side,
                                        k // 2)
        out = _HaloDepthwiseConv.apply(
            x.reshape(*self.ids_keep.shape, self.side**2, x.shape[-1]),
            self._index[k], conv.weight, conv.bias)
        return out.view(x.shape)


def visible_conv_stages(encoder: nn.Module, x: torch.Tensor, iam: IAMMask,
                        grid: Tuple[int, int]) -> tuple:
    """``encoder.conv_stages`` (an ``InfMAEViT``'s) at the visible patches.

    Args:
        encoder (nn.Module): The ``InfMAEViT``.
        x (torch.Tensor): (B, C, H, W) images.
        iam (IAMMask): The batch's masks.
        grid (tuple[int, int]): Token grid (h, w).

    Returns:
        tuple[torch.Tensor]: The visible F1 (B, N_vis, 16, C1) and F2
        (B, N_vis, 4, C2) blocks (positions raster inside the patch) and the
        visible stage-3 tokens (B, N_vis, C3) without positions.
    """
    ids_keep = iam.ids_keep
    B, N = ids_keep.shape
    patches = map_to_blocks(x, ids_keep, TOKEN_PATCH)
    patches = patches.view(B * N, TOKEN_PATCH, TOKEN_PATCH, x.shape[1])
    f1, f2, tokens = encoder.conv_stages(
        patches, [VisibleBlocks(ids_keep, grid, side) for side in STAGE_SIDES])
    f1 = f1.reshape(B, N, STAGE_SIDES[0]**2, -1)
    return f1, f2.reshape(B, N, STAGE_SIDES[1]**2, -1), tokens.view(B, N, -1)


def dense_masked_conv_stages(encoder: nn.Module, x: torch.Tensor, iam: IAMMask,
                             grid: Tuple[int, int]) -> tuple:
    """The official formulation, the reference of :func:`visible_conv_stages`
    (same arguments and outputs): whole maps, masked positions zeroed before
    every depthwise mixer."""
    layouts = [
        DenseLayout(1. - upsample_token_mask(iam.mask, grid, side).to(
            x.dtype).permute(0, 2, 3, 1)) for side in STAGE_SIDES
    ]
    f1, f2, tokens = encoder.conv_stages(x.permute(0, 2, 3, 1), layouts)
    return (map_to_blocks(
        f1.permute(0, 3, 1, 2), iam.ids_keep, STAGE_SIDES[0]),
            map_to_blocks(
                f2.permute(0, 3, 1, 2), iam.ids_keep, STAGE_SIDES[1]),
            gather_tokens(tokens.flatten(1, 2), iam.ids_keep))
