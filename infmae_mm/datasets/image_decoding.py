"""Decoding image files of any bit depth, and stretching them to 8 bits.

Shared by the data pipeline (:mod:`infmae_mm.datasets.transforms.loading`)
and meant to be shared by pre-training data curation
(:mod:`infmae_mm.datasets.curation`), so that "unreadable" means the same
thing when a set is curated and when it is trained on.

Only numpy and OpenCV are imported.
"""
from typing import Optional

import cv2
import numpy as np

__all__ = [
    'ImageDecodeError', 'truncation_problem', 'decode_image',
    'stretch_to_uint8'
]

# JPEG decoders fill a truncated file with gray without failing, so a JPEG
# must end with its end-of-image marker (after optional padding).
_JPEG_SOI, _JPEG_EOI = b'\xff\xd8', b'\xff\xd9'


class ImageDecodeError(ValueError):
    """A file that is not a decodable image.

    Args:
        reason (str): What is wrong, e.g. ``'empty file'``.
        path (str, optional): The file, when known; it is put in the message.
        hint (str): How to fix it, appended to the message.
    """

    def __init__(self,
                 reason: str,
                 path: Optional[str] = None,
                 hint: str = '') -> None:
        self.reason = reason
        self.path = path
        message = reason if path is None else \
            f'Cannot read the image {path}: {reason}.'
        super().__init__(f'{message} {hint}'.strip())


def truncation_problem(data: bytes) -> str:
    """Why the bytes are a truncated JPEG, or ``''``.

    Truncated PNG, TIFF, BMP and PGM files fail to decode; only JPEG needs
    this check.

    Args:
        data (bytes): The file contents.

    Returns:
        str: The problem, or ``''`` when there is none.
    """
    if data.startswith(_JPEG_SOI) and not data.rstrip(
            b'\x00\r\n\t ').endswith(_JPEG_EOI):
        return 'truncated JPEG (no end-of-image marker)'
    return ''


def decode_image(data: bytes) -> np.ndarray:
    """Decode image file contents as stored, with OpenCV ``IMREAD_UNCHANGED``.

    Args:
        data (bytes): The file contents.

    Returns:
        np.ndarray: ``(H, W)`` gray, ``(H, W, 2)`` gray + alpha, ``(H, W, 3)``
        BGR or ``(H, W, 4)`` BGRA, in the stored dtype (uint8, uint16,
        float32 ...).

    Raises:
        ImageDecodeError: For an empty file (``'empty file'``), a truncated
            JPEG, or bytes OpenCV cannot decode to a non-empty image
            (``'cannot decode as an image'``: a truncated PNG or TIFF, text
            with an image suffix ...). The exception carries no path; callers
            add it.
    """
    if not data:
        raise ImageDecodeError('empty file')
    problem = truncation_problem(data)
    if problem:
        raise ImageDecodeError(problem)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise ImageDecodeError('cannot decode as an image')
    return img


def stretch_to_uint8(img: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly to ``[0, 255]``, clip and round to uint8.

    Computed in float64 (exact for 16-bit counts); NaNs count as 0 and
    values are rounded half to even (:func:`numpy.rint`).

    Args:
        img (np.ndarray): Image of any dtype and shape.
        low (float): Value mapped to 0.
        high (float): Value mapped to 255. When ``high <= low`` (a flat
            image) one unit per level is used instead of dividing by zero.

    Returns:
        np.ndarray: uint8 image of the same shape.
    """
    values = np.nan_to_num(np.asarray(img, np.float64))
    # A (nearly) flat image has no spread to stretch: one count per level.
    span = high - low if high > low else 1.0
    levels = np.rint((values - low) * 255.0 / span)
    return np.clip(levels, 0, 255).astype(np.uint8)
