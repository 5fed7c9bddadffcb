"""Window partition / unpartition and the visible-token position bias."""
import pytest
import torch

from infmae_mm.models.layers import (RelativePositionBias, run_in_windows,
                                     visible_position_bias, window_partition,
                                     window_unpartition)


@pytest.mark.parametrize('grid', [(4, 6), (5, 7), (3, 3), (8, 8)])
@pytest.mark.parametrize('ws', [2, 3, 4])
def test_windows_cover_the_grid_and_unpartition_inverts(grid, ws):
    h, w = grid
    tokens = torch.randn(2, h * w, 5)
    windows, (Hp, Wp) = window_partition(tokens, grid, ws)
    assert (Hp % ws, Wp % ws) == (0, 0) and Hp - h < ws and Wp - w < ws
    assert windows.shape == (2 * (Hp // ws) * (Wp // ws), ws * ws, 5)
    # Window (b, i, j) holds rows i*ws.. and columns j*ws.., zero-padded.
    padded = torch.zeros(2, Hp, Wp, 5)
    padded[:, :h, :w] = tokens.reshape(2, h, w, 5)
    k = 0
    for b in range(2):
        for i in range(Hp // ws):
            for j in range(Wp // ws):
                expected = padded[b, i * ws:(i + 1) * ws,
                                  j * ws:(j + 1) * ws].reshape(ws * ws, 5)
                assert torch.equal(windows[k], expected)
                k += 1
    assert torch.equal(window_unpartition(windows, ws, (Hp, Wp), grid), tokens)


def test_visible_position_bias_is_the_bias_among_visible_tokens():
    bias = RelativePositionBias((3, 4), num_heads=2)
    torch.nn.init.normal_(bias.relative_position_bias_table)
    full = bias((3, 4))  # (1, 2, 12, 12)
    ids_keep = torch.stack([torch.randperm(12)[:5] for _ in range(3)])
    got = visible_position_bias(full, ids_keep)
    assert got.shape == (3, 2, 5, 5)
    for b in range(3):
        ids = ids_keep[b]
        assert torch.equal(got[b], full[0][:, ids][:, :, ids])


def test_run_in_windows_runs_the_block_per_window_or_globally():
    tokens = torch.randn(2, 5 * 7, 4)
    seen = []

    def block(x, bias):
        seen.append(tuple(x.shape))
        return x * 2 + (0 if bias is None else bias)

    assert torch.equal(
        run_in_windows(block, tokens, (5, 7), None, None), tokens * 2)
    assert torch.equal(
        run_in_windows(block, tokens, (5, 7), 3, None), tokens * 2)
    assert seen == [(2, 35, 4), (2 * 2 * 3, 9, 4)]
