"""The visible-only depthwise mixer (halo convolution) against the dense
computation it replaces: a depthwise conv over the zero-filled map, read at
the visible blocks; outputs and every gradient."""
import types

import pytest
import torch
import torch.nn.functional as F

from infmae_mm.models.backbones.visible_conv_stages import (
    _depthwise_correlation, _HaloDepthwiseConv, halo_depthwise_conv,
    halo_index, map_to_blocks)


def dense_reference(blocks, ids_keep, grid, side, weight, bias):
    """Zero map with the blocks at their tokens -> padded depthwise conv -> the
    visible blocks (plain autograd ops)."""
    B, N, P, C = blocks.shape
    h, w = grid
    tiles = blocks.new_zeros(B, h * w, P, C)
    tiles = tiles.scatter(1, ids_keep[:, :, None, None].expand(-1, -1, P, C),
                          blocks)
    dense = tiles.view(B, h, w, side, side, C).permute(0, 5, 1, 3, 2, 4)
    dense = dense.reshape(B, C, h * side, w * side)
    out = F.conv2d(
        dense, weight, bias, padding=weight.shape[-1] // 2, groups=C)
    return map_to_blocks(out, ids_keep, side)


@pytest.mark.parametrize(
    'grid,side,kernel,keep',
    [
        ((4, 6), 4, 5, 6),
        ((5, 3), 2, 5, 7),
        ((3, 3), 2, 7, 3),  # halo wider than a block: reads two tokens away
        ((2, 5), 4, 3, 10),  # every token visible
    ])
def test_halo_conv_equals_dense_map_conv(grid, side, kernel, keep):
    torch.manual_seed(0)
    B, C = 2, 6
    N = grid[0] * grid[1]
    ids_keep = torch.rand(B, N).argsort(1)[:, :keep]
    blocks = torch.randn(
        B, keep, side * side, C, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(
        C, 1, kernel, kernel, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(C, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(B, keep, side * side, C, dtype=torch.float64)
    results = []
    for fn in (halo_depthwise_conv, dense_reference):
        out = fn(blocks, ids_keep, grid, side, weight, bias)
        grads = torch.autograd.grad(out, (blocks, weight, bias), grad)
        results.append((out, ) + grads)
    for fast, ref, name in zip(*results, ('out', 'blocks', 'weight', 'bias')):
        torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10, msg=name)


def test_halo_index_reads_neighbours_and_zeros():
    # 2x2 grid, side 1, pad 1: token 0 and 3 visible (diagonal).
    ids_keep = torch.tensor([[0, 3]])
    index = halo_index(ids_keep, (2, 2), 1, 1).view(2, 3, 3)
    zero = 2  # B * N_vis * side**2: the zero row
    # Halo of token 0 (top-left): itself at the centre, token 3 at the
    # bottom-right corner, zeros elsewhere (outside or masked).
    assert index[0].tolist() == [[zero] * 3, [zero, 0, zero], [zero, zero, 1]]
    assert index[1].tolist() == [[0, zero, zero], [zero, 1, zero], [zero] * 3]


def test_backward_computes_in_the_gradient_dtype():
    """Under autocast the saved blocks and weight are fp32 while the incoming
    gradient is fp16/bf16 (custom functions run backward outside autocast):

    backward must compute in the gradient's dtype instead of failing on mixed
    input/weight types.
    """
    torch.manual_seed(0)
    grid, side, C = (3, 4), 2, 4
    ids_keep = torch.rand(1, 12).argsort(1)[:, :5]
    blocks = torch.randn(1, 5, side * side, C)
    weight = torch.randn(C, 1, 5, 5)
    index = halo_index(ids_keep, grid, side, 2)
    grad = torch.randn(1, 5, side * side, C)
    ctx = types.SimpleNamespace(
        saved_tensors=(blocks, index, weight),
        side=side,
        needs_input_grad=(True, False, False, False, True, True))
    ref = _HaloDepthwiseConv.backward(ctx, grad)
    low = _HaloDepthwiseConv.backward(ctx, grad.to(torch.bfloat16))
    for r, g in zip(ref, low):
        if r is None:
            assert g is None
            continue
        assert g.dtype == torch.bfloat16
        torch.testing.assert_close(g.float(), r, rtol=0.05, atol=0.3)


@pytest.mark.parametrize('side,kernel', [(4, 5), (2, 5), (3, 3)])
def test_depthwise_correlation_is_the_weight_gradient(side, kernel):
    """The CPU tap loop equals PyTorch's depthwise weight gradient
    (``conv2d_weight``) on channels-last maps."""
    torch.manual_seed(0)
    M, C, S = 6, 5, side + kernel - 1
    x = torch.randn(M, S, S, C, dtype=torch.float64).permute(0, 3, 1, 2)
    g = torch.randn(M, side, side, C, dtype=torch.float64).permute(0, 3, 1, 2)
    expected = torch.nn.grad.conv2d_weight(
        x, (C, 1, kernel, kernel), g, groups=C)
    torch.testing.assert_close(
        _depthwise_correlation(x, g, kernel), expected, rtol=1e-12, atol=1e-12)
