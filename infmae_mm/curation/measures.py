"""Per-image measures of curation: gray levels, entropy, and one analysis.

:func:`analyse_image` decodes a file once and measures what curation needs:
size, bit depth, the 256-level gray image (:func:`gray_levels`), its
information entropy (paper, equation 1: :func:`information_entropy`) and
the near-duplicate signature of :mod:`infmae_mm.curation.near_duplicates`.
Decoding is shared with the training pipeline
(:mod:`infmae_mm.datasets.image_decoding`), so "unreadable" means the same
when a set is curated and when it is trained on.
"""
from __future__ import annotations
import json
import os
from dataclasses import dataclass, fields
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ..datasets.image_decoding import (ImageDecodeError,
                                       RadiometricReaderMissing,
                                       decode_thermal, percentile_range,
                                       stretch_to_uint8)
from .borders import content_box
from .near_duplicates import Signature, signature

__all__ = [
    'gray_levels', 'information_entropy', 'ImageAnalysis', 'analyse_image'
]

_PERCENTILES = (0.5, 99.5)


def gray_levels(img: np.ndarray) -> np.ndarray:
    """Map a decoded image to a 256-level gray image.

    Args:
        img (np.ndarray): Image as decoded by OpenCV with
            ``IMREAD_UNCHANGED``: ``(H, W)``, ``(H, W, 1)``, gray+alpha
            ``(H, W, 2)``, BGR ``(H, W, 3)`` or BGRA ``(H, W, 4)``, of any
            dtype.

    Returns:
        np.ndarray: ``(H, W)`` uint8. 8-bit images keep their values (colour
        ones are converted with BT.601 weights); deeper images are stretched
        so that their 0.5 and 99.5 percentiles become 0 and 255 (clipped,
        rounded).
    """
    if img.ndim == 3:
        if img.shape[2] <= 2:  # gray, or gray + alpha
            img = img[..., 0]
        else:  # BGR(A): the alpha channel carries no brightness
            bgr = img[..., :3]
            if bgr.dtype != np.uint8:
                bgr = bgr.astype(np.float32)
            img = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2GRAY)
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    # NaN / inf pixels as in the training pipeline (NONFINITE_RULE).
    return stretch_to_uint8(img, *percentile_range(img, _PERCENTILES))


def information_entropy(levels: np.ndarray) -> float:
    """Information entropy of a 256-level gray image (paper, equation 1).

    Args:
        levels (np.ndarray): uint8 gray image, see :func:`gray_levels`.

    Returns:
        float: ``-sum P(x) log2 P(x)`` over the gray levels present, in bits
        (0 for a flat image, at most 8).
    """
    hist = np.bincount(levels.ravel(), minlength=256)
    prob = hist[hist > 0] / levels.size
    # max() turns the -0.0 of a flat image into 0.0.
    return max(0.0, float(-np.sum(prob * np.log2(prob))))


@dataclass
class ImageAnalysis:
    """What curation needs to know about one file.

    Attributes:
        path (str): Absolute path (the journal key).
        size (int): File size in bytes when analysed.
        mtime_ns (int): Modification time when analysed.
        readable (bool): Whether it decoded to a non-empty image.
        width (int): Width in pixels (0 if unreadable), before any border
            crop.
        height (int): Height in pixels (0 if unreadable).
        channels (int): 1 for gray, 3 or 4 for colour.
        dtype (str): Decoded dtype, e.g. ``'uint8'``, ``'uint16'``, or
            ``'float32'`` for radiometric temperatures.
        entropy (float | None): :func:`information_entropy`, bits.
        signature (Signature | None): The near-duplicate signature.
        crop (list[int] | None): ``[x0, y0, x1, y1]`` of the content left
            by border cropping (None when not cropping or nothing was
            cropped); measures are taken inside it.
        error (str): Why it is unreadable.
    """
    path: str
    size: int
    mtime_ns: int
    readable: bool
    width: int = 0
    height: int = 0
    channels: int = 0
    dtype: str = ''
    entropy: Optional[float] = None
    signature: Optional[Signature] = None
    crop: Optional[List[int]] = None
    error: str = ''

    @property
    def content_size(self) -> Tuple[int, int]:
        """``(width, height)`` inside the border crop (the whole image when not
        cropped)."""
        if self.crop is None:
            return self.width, self.height
        x0, y0, x1, y1 = self.crop
        return x1 - x0, y1 - y0

    @property
    def phash(self) -> Optional[int]:
        """The whole image's perceptual hash (None if unreadable)."""
        return None if self.signature is None else self.signature.phash

    def to_json(self) -> str:
        """One journal line (without the newline)."""
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.signature is not None:
            record['signature'] = self.signature.to_dict()
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> 'ImageAnalysis':
        """Parse a journal line; raises ValueError/TypeError if malformed."""
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError('not a JSON object')
        if record.get('signature') is not None:
            record['signature'] = Signature.from_dict(record['signature'])
        return cls(**record)


def analyse_image(path: str, crop_borders: bool = False) -> ImageAnalysis:
    """Decode one file and measure it.

    Args:
        path (str): Path of the file (made absolute in the result).
        crop_borders (bool): Crop constant borders
            (:func:`~infmae_mm.curation.borders.content_box`) before
            measuring.

    Returns:
        ImageAnalysis: Size, bit depth, signature and entropy, or
        ``readable=False`` with the ``error`` for an empty, truncated,
        undecodable or missing file, or a FLIR radiometric JPEG that cannot
        be read (no ``flyr`` installed, or no readable radiometric data):
        one file's failure never stops the curation of the others.
    """
    path = os.path.abspath(path)
    try:
        stat = os.stat(path)
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        return ImageAnalysis(path, 0, 0, False, error=f'cannot read: {e}')
    result = ImageAnalysis(path, stat.st_size, stat.st_mtime_ns, False)
    try:
        img = decode_thermal(data)
    except ImageDecodeError as e:
        result.error = e.reason
        return result
    except RadiometricReaderMissing:
        # Dropped with its reason; the other files are still curated.
        result.error = ('FLIR radiometric JPEG, and the flyr package that '
                        'reads its temperatures is not installed (pip '
                        'install flyr)')
        return result
    except Exception as e:  # a decoder failing otherwise: this file only
        result.error = f'cannot decode ({type(e).__name__}: {e})'
        return result
    levels = gray_levels(img)
    result.readable = True
    result.height, result.width = img.shape[:2]
    result.channels = 1 if img.ndim == 2 else int(img.shape[2])
    result.dtype = str(img.dtype)
    if crop_borders:
        box = content_box(levels)
        if box != (0, 0, result.width, result.height):
            result.crop = list(box)
            x0, y0, x1, y1 = box
            # Deeper images are stretched again within the content only.
            levels = gray_levels(img[y0:y1, x0:x1]) \
                if img.dtype != np.uint8 else levels[y0:y1, x0:x1]
    result.signature = signature(levels)
    result.entropy = information_entropy(levels)
    return result
