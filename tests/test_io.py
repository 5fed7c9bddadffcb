"""Tests for infmae_mm.utils.io (atomic writes)."""
import os

import cv2
import numpy as np
import pytest

from infmae_mm.utils import io as aio
from infmae_mm.utils.io import (atomic_imwrite, atomic_open,
                                atomic_write_bytes, atomic_write_text)


def _leftovers(directory):
    return [n for n in os.listdir(directory) if n.endswith('.tmp')]


def test_write_bytes_creates_parents_and_overwrites(tmp_path):
    p = tmp_path / 'a' / 'b' / 'f.bin'
    assert atomic_write_bytes(p, b'one') == str(p)
    assert p.read_bytes() == b'one'
    atomic_write_bytes(str(p), bytearray(b'two'))
    assert p.read_bytes() == b'two'
    assert _leftovers(p.parent) == []


def test_write_text_roundtrip_keeps_newlines(tmp_path):
    p = tmp_path / 't.txt'
    text = 'line 1\r\nline 2\nünïcode ✓\n'
    atomic_write_text(p, text)
    assert p.read_bytes() == text.encode('utf-8')


def test_written_file_has_normal_permissions(tmp_path):
    p = tmp_path / 'perm.bin'
    atomic_write_bytes(p, b'x')
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(p).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize('dtype,suffix', [(np.uint8, '.png'),
                                          (np.uint16, '.png'),
                                          (np.uint8, '.tif')])
def test_imwrite_roundtrip(tmp_path, dtype, suffix):
    img = (np.arange(40 * 30).reshape(40, 30) * 37 %
           np.iinfo(dtype).max).astype(dtype)
    p = tmp_path / 'sub' / f'img{suffix}'
    atomic_imwrite(p, img)
    back = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, img)


def test_imwrite_params_are_used(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    lo, hi = tmp_path / 'lo.jpg', tmp_path / 'hi.jpg'
    atomic_imwrite(lo, img, [cv2.IMWRITE_JPEG_QUALITY, 10])
    atomic_imwrite(hi, img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert lo.stat().st_size < hi.stat().st_size


def test_imwrite_unknown_suffix_fails_cleanly(tmp_path):
    p = tmp_path / 'img.notanimage'
    with pytest.raises(ValueError, match='img.notanimage'):
        atomic_imwrite(p, np.zeros((4, 4), np.uint8))
    assert not p.exists()
    assert _leftovers(tmp_path) == []


def test_imwrite_no_suffix_fails(tmp_path):
    with pytest.raises(ValueError, match='suffix'):
        atomic_imwrite(tmp_path / 'noext', np.zeros((4, 4), np.uint8))


def test_imwrite_encoder_failure_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / 'keep.png'
    good = np.full((5, 5), 7, np.uint8)
    atomic_imwrite(p, good)
    before = p.read_bytes()
    monkeypatch.setattr(cv2, 'imencode', lambda *a, **k: (False, None))
    with pytest.raises(ValueError, match='keep.png'):
        atomic_imwrite(p, np.zeros((5, 5), np.uint8))
    assert p.read_bytes() == before
    assert _leftovers(tmp_path) == []
    new = tmp_path / 'new.png'
    with pytest.raises(ValueError):
        atomic_imwrite(new, good)
    assert not new.exists()


def test_atomic_open_exception_leaves_nothing(tmp_path):
    p = tmp_path / 'x' / 'stream.bin'
    with pytest.raises(RuntimeError):
        with atomic_open(p) as f:
            f.write(b'partial data')
            raise RuntimeError('boom')
    assert not p.exists()
    assert _leftovers(p.parent) == []


def test_atomic_open_exception_keeps_previous_content(tmp_path):
    p = tmp_path / 'ckpt.pth'
    atomic_write_bytes(p, b'old')
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(p, 'wb') as f:
            f.write(b'new but incomplete')
            raise KeyboardInterrupt
    assert p.read_bytes() == b'old'
    assert _leftovers(tmp_path) == []


def test_atomic_open_streams_and_text_mode(tmp_path):
    p = tmp_path / 'out.txt'
    with atomic_open(p, 'w') as f:
        # nothing visible at the destination until the block ends
        f.write('hello\n')
        assert not p.exists()
    assert p.read_text() == 'hello\n'
    b = tmp_path / 'out.bin'
    with atomic_open(b) as f:
        for k in range(3):
            f.write(bytes([k]) * 1000)
    assert b.stat().st_size == 3000


def test_atomic_open_replace_failure_cleans_up(tmp_path, monkeypatch):
    p = tmp_path / 'r.bin'

    def broken_replace(src, dst):
        raise OSError('disk on fire')

    monkeypatch.setattr(aio.os, 'replace', broken_replace)
    with pytest.raises(OSError, match='disk on fire'):
        atomic_write_bytes(p, b'data')
    assert not p.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize('mode', ['r', 'rb', 'a', 'ab', 'w+', 'r+b'])
def test_atomic_open_rejects_non_write_modes(tmp_path, mode):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / 'f', mode):
            pass


def test_atomic_open_exclusive_mode(tmp_path):
    p = tmp_path / 'once.bin'
    with atomic_open(p, 'xb') as f:
        f.write(b'1')
    with pytest.raises(FileExistsError):
        with atomic_open(p, 'xb') as f:
            f.write(b'2')
    assert p.read_bytes() == b'1'
    assert _leftovers(tmp_path) == []
