"""Atomic file writing helpers.

Every function here writes to a temporary file in the destination directory,
flushes and fsyncs it, then moves it into place with :func:`os.replace`, so
that a reader never sees a half-written file at ``path`` and a failed write
leaves whatever was there before (or nothing) untouched.

Only the standard library, numpy and OpenCV are used so the module imports
quickly.
"""
from __future__ import annotations
import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Optional, Sequence, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    'atomic_open',
    'atomic_write_bytes',
    'atomic_write_text',
    'atomic_imwrite',
]


def _fsync_dir(directory: str) -> None:
    """Best-effort fsync of a directory so the rename itself is durable."""
    if os.name != 'posix':
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: PathLike,
                mode: str = 'wb',
                encoding: Optional[str] = None,
                newline: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block succeeds.

    Useful for code that streams into a file object, e.g.
    ``with atomic_open('ckpt.pth') as f: torch.save(state, f)``. If the block
    raises, the temporary file is removed and ``path`` is left untouched.
    Parent directories are created as needed.

    Args:
        path: Destination file path.
        mode: A write mode: ``'wb'``/``'w'`` (or with ``'x'`` instead of
            ``'w'`` to refuse an existing destination). Append and read modes
            are not supported.
        encoding: Text encoding for text modes (defaults to UTF-8).
        newline: Newline handling for text modes, as in :func:`open`.

    Yields:
        The open temporary file object.

    Raises:
        ValueError: If ``mode`` is not a supported write mode.
        FileExistsError: If ``mode`` contains ``'x'`` and ``path`` exists.
    """
    if not mode or mode[0] not in 'wx' or '+' in mode or 'a' in mode \
            or 'r' in mode:
        raise ValueError(f'atomic_open supports only write modes like "wb" '
                         f'or "w", got {mode!r}')
    binary = 'b' in mode
    if binary and (encoding is not None or newline is not None):
        raise ValueError('encoding/newline are not allowed in binary mode')
    dest = Path(os.fspath(path))
    if mode[0] == 'x' and dest.exists():
        raise FileExistsError(f'refusing to overwrite existing file: {dest}')
    directory = str(dest.parent) if str(dest.parent) else '.'
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{dest.name}.', suffix='.tmp', dir=directory)
    try:
        if binary:
            f = os.fdopen(fd, 'wb')
        else:
            f = os.fdopen(
                fd, 'w', encoding=encoding or 'utf-8', newline=newline)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates files with mode 0600; give the result the usual
        # permissions of a newly created file (respecting the umask).
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~umask)
        if mode[0] == 'x' and dest.exists():
            raise FileExistsError(
                f'refusing to overwrite existing file: {dest}')
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path: PathLike, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically.

    Args:
        path: Destination file path; parent directories are created.
        data: The bytes to write (any bytes-like object).

    Returns:
        The destination path as a string.
    """
    with atomic_open(path, 'wb') as f:
        f.write(memoryview(data))
    return os.fspath(path)


def atomic_write_text(path: PathLike,
                      text: str,
                      encoding: str = 'utf-8') -> str:
    """Write ``text`` to ``path`` atomically.

    Newlines are written exactly as given (no platform translation).

    Args:
        path: Destination file path; parent directories are created.
        text: The text to write.
        encoding: Text encoding.

    Returns:
        The destination path as a string.
    """
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_imwrite(path: PathLike,
                   img: np.ndarray,
                   params: Optional[Sequence[int]] = None) -> str:
    """Encode an image with OpenCV by the file suffix and write it atomically.

    Args:
        path: Destination path; its suffix (``.png``, ``.jpg``, ``.tif``, ...)
            selects the encoder. Parent directories are created.
        img: Image array as accepted by :func:`cv2.imencode` (e.g. uint8 or
            uint16 gray ``(H, W)``, or BGR ``(H, W, 3)``).
        params: Optional encoder parameters, e.g.
            ``[cv2.IMWRITE_PNG_COMPRESSION, 3]``.

    Returns:
        The destination path as a string.

    Raises:
        ValueError: If the path has no suffix or OpenCV cannot encode the
            image; the message names the path. Nothing is written then.
    """
    import cv2  # local import keeps `import infmae_mm.utils` light

    p = os.fspath(path)
    suffix = os.path.splitext(p)[1]
    if not suffix:
        raise ValueError(f'cannot choose an image encoder for {p!r}: '
                         'the path has no suffix')
    arr = np.asarray(img)
    try:
        ok, buf = cv2.imencode(suffix, arr,
                               list(params) if params is not None else [])
    except cv2.error as e:
        raise ValueError(
            f'failed to encode image of shape {arr.shape} and dtype '
            f'{arr.dtype} as {suffix!r} for {p!r}: {e}') from e
    if not ok:
        raise ValueError(
            f'failed to encode image of shape {arr.shape} and dtype '
            f'{arr.dtype} as {suffix!r} for {p!r}')
    return atomic_write_bytes(p, buf.tobytes())
