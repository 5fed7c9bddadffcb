"""Tests for infmae_mm.visualization.grid."""
import cv2
import numpy as np
import pytest

from infmae_mm.visualization import (grid_layout, make_grid, overlay_mask,
                                     save_grid, to_bgr_uint8)


def _cells(n_rows, n_cols, h=32, w=48):
    rng = np.random.default_rng(0)
    return [[
        rng.integers(0, 256, (h, w), dtype=np.uint8) for _ in range(n_cols)
    ] for _ in range(n_rows)]


def test_to_bgr_uint8_conversions():
    g = np.array([[0, 128], [255, 3]], np.uint8)
    out = to_bgr_uint8(g)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert (out[..., 0] == g).all() and (out[..., 2] == g).all()
    assert (to_bgr_uint8(g[..., None]) == out).all()
    f = np.array([[0.0, 0.5], [1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(
        to_bgr_uint8(f)[..., 0], [[0, 128], [255, 255]])
    b = np.array([[True, False]])
    np.testing.assert_array_equal(to_bgr_uint8(b)[..., 1], [[255, 0]])
    u16 = np.array([[1000, 3000]], np.uint16)
    np.testing.assert_array_equal(to_bgr_uint8(u16)[..., 0], [[0, 255]])
    c = np.zeros((3, 3, 3), np.uint8)
    c[..., 2] = 200
    assert (to_bgr_uint8(c) == c).all()
    with pytest.raises(ValueError):
        to_bgr_uint8(np.zeros((2, 2, 2), np.uint8))


@pytest.mark.parametrize('pad', [0, 4, 7])
def test_grid_shape_without_titles(pad):
    rows = _cells(2, 3)
    grid = make_grid(rows, pad=pad)
    assert grid.dtype == np.uint8
    assert grid.shape == (pad + 2 * (32 + pad), pad + 3 * (48 + pad), 3)
    lay = grid_layout(rows, pad=pad)
    assert grid.shape == lay['shape']
    # cells are placed where the layout says
    for i in range(2):
        for j in range(3):
            x, y = lay['cells'][i][j]
            np.testing.assert_array_equal(grid[y:y + 32, x:x + 48, 1],
                                          rows[i][j])


def test_grid_shape_with_titles_and_title_pixels():
    rows = _cells(2, 3, 224, 224)
    cols = ['input', 'masked 75%', 'reconstruction']
    rts = ['seed 0', 'seed 1']
    pad = 4
    grid = make_grid(rows, col_titles=cols, row_titles=rts, pad=pad)
    lay = grid_layout(rows, cols, rts, pad=pad)
    top, left = lay['top'], lay['left']
    assert top > 0 and left > 0
    expected = (pad + top + pad + 2 * (224 + pad),
                pad + left + pad + 3 * (224 + pad), 3)
    assert grid.shape == lay['shape'] == expected
    # column title band above each column is not plain background
    for j in range(3):
        x = lay['x0'] + j * (224 + pad)
        band = grid[pad:pad + top, x:x + 224]
        assert (band != 255).any(), f'no title drawn above column {j}'
        # legible at 224 px cells: text glyphs span at least 9 rows
        ink_rows = np.flatnonzero((band < 128).any(axis=(1, 2)))
        assert ink_rows.size and ink_rows[-1] - ink_rows[0] >= 9
    for i in range(2):
        y = lay['y0'] + i * (224 + pad)
        band = grid[y:y + 224, pad:pad + left]
        assert (band != 255).any(), f'no title drawn left of row {i}'
    # the corner (no titles there) stays background
    assert (grid[:pad + top, :pad + left] == 255).all()


def test_long_title_is_fitted_and_multiline_titles():
    rows = _cells(1, 2, 64, 64)
    cols = ['a very very long column title that cannot fit', 'two\nlines']
    grid = make_grid(rows, col_titles=cols)
    lay = grid_layout(rows, cols)
    assert grid.shape == lay['shape']
    one = grid_layout(rows, ['x', 'y'])
    assert lay['top'] > one['top']  # two lines need a taller band
    # nothing of the long title spills over the gap into column 2
    x_gap = lay['x0'] + 64
    assert (grid[:lay['y0'], x_gap:x_gap + 4] == 255).all()


def test_mixed_cells_are_resized_to_cell_size():
    gray = np.full((100, 80), 10, np.uint8)
    one = np.full((50, 50, 1), 20, np.uint8)
    col = np.zeros((30, 30, 3), np.uint8)
    col[..., 0] = 250
    flt = np.full((10, 12), 0.5, np.float32)
    grid = make_grid([[gray, one], [col, flt]], cell_size=(40, 60), pad=2)
    assert grid.shape == (2 + 2 * 42, 2 + 2 * 62, 3)
    lay = grid_layout([[gray, one], [col, flt]], cell_size=(40, 60), pad=2)
    (x, y) = lay['cells'][1][0]
    assert (grid[y:y + 40, x:x + 60] == (250, 0, 0)).all()
    (x, y) = lay['cells'][1][1]
    assert (grid[y:y + 40, x:x + 60] == 128).all()


def test_default_cell_size_is_largest_and_tiny_masks_stay_crisp():
    img = np.zeros((224, 224), np.uint8)
    mask = np.array([[0, 1], [1, 0]], np.float32)  # patch-level mask
    grid = make_grid([[img, mask]], pad=0)
    assert grid.shape == (224, 448, 3)
    cell = grid[:, 224:, 0]
    assert set(np.unique(cell)) == {0, 255}  # nearest, no blending
    assert (cell[:112, :112] == 0).all() and (cell[:112, 112:] == 255).all()


def test_ragged_rows_none_cells_and_background():
    a = np.zeros((8, 8), np.uint8)
    grid = make_grid([[a, a, a], [a], [None, a]], pad=1, background=9)
    assert grid.shape == (1 + 3 * 9, 1 + 3 * 9, 3)
    lay = grid_layout([[a, a, a], [a], [None, a]], pad=1)
    x, y = lay['cells'][1][2]
    assert (grid[y:y + 8, x:x + 8] == 9).all()
    x, y = lay['cells'][2][0]
    assert (grid[y:y + 8, x:x + 8] == 9).all()


def test_bad_arguments():
    rows = _cells(1, 2)
    with pytest.raises(ValueError):
        make_grid(rows, col_titles=['only one'])
    with pytest.raises(ValueError):
        make_grid(rows, row_titles=['a', 'b'])
    with pytest.raises(ValueError):
        make_grid([])
    with pytest.raises(ValueError):
        make_grid([[None]])


def test_overlay_mask_with_patch_mask():
    gray = np.full((28, 28), 100, np.uint8)
    mask = np.zeros((2, 2), np.uint8)
    mask[0, 1] = 1  # top-right patch masked
    out = overlay_mask(gray, mask, color=(0, 0, 255), alpha=0.5)
    assert out.shape == (28, 28, 3) and out.dtype == np.uint8
    assert (out[:14, :14] == 100).all()  # unmasked untouched
    np.testing.assert_array_equal(out[0, 27], [50, 50, 178])
    full = overlay_mask(gray, np.ones((28, 28), bool), alpha=1.0)
    assert (full == (0, 0, 255)).all()
    with pytest.raises(ValueError):
        overlay_mask(gray, np.zeros((2, 2, 2)))


def test_save_grid_writes_same_picture(tmp_path):
    rows = _cells(2, 2)
    p = tmp_path / 'vis' / 'grid.png'
    grid = save_grid(p, rows, col_titles=['a', 'b'], row_titles=['r0', 'r1'])
    back = cv2.imread(str(p), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(back, grid)


@pytest.mark.parametrize('pad', [0, 3])
def test_a_single_cell_keeps_its_padding(pad):
    cell = np.full((5, 7), 40, np.uint8)
    grid = make_grid([[cell]], col_titles=['t'], pad=pad, background=200)
    lay = grid_layout([[cell]], ['t'], pad=pad)
    assert grid.shape == lay['shape']
    x, y = lay['cells'][0][0]
    assert (grid[y:y + 5, x:x + 7] == 40).all()
    assert (grid[y + 5:] == 200).all() and (grid[:, x + 7:] == 200).all()
