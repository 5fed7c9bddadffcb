"""Decoding image files of any bit depth, and stretching them to 8 bits.

Shared by the data pipeline (:mod:`infmae_mm.datasets.transforms.loading`)
and pre-training data curation (:mod:`infmae_mm.curation`), so that
"unreadable" means the same thing when a set is curated and when it is
trained on.

Camera formats: everything OpenCV decodes (8/16-bit PNG, TIFF incl. float,
PGM, JPEG, BMP) as stored, and FLIR radiometric JPEGs (R-JPEG: a JPEG with
the raw thermal frame in FLIR APP1 segments) as temperature maps in degrees
Celsius through the optional `flyr <https://pypi.org/project/flyr/>`_
library (``pip install flyr``; EUPL-1.2), which applies the camera's Planck
and atmosphere constants stored in the file.

Only numpy and OpenCV are imported (flyr when an R-JPEG is met).
"""
import io
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'ImageDecodeError', 'RadiometricReaderMissing', 'truncation_problem',
    'decode_image', 'is_flir_radiometric', 'read_flir_celsius',
    'decode_thermal', 'stretch_to_uint8', 'count_nonfinite',
    'describe_nonfinite', 'percentile_range', 'NONFINITE_RULE'
]

# JPEG decoders fill a truncated file with gray without failing, so a JPEG
# must end with its end-of-image marker (after optional padding).
_JPEG_SOI, _JPEG_EOI = b'\xff\xd8', b'\xff\xd9'
# FLIR stores the radiometric frame in APP1 segments starting with this.
_FLIR_APP1 = b'FLIR\x00'


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
    if data.startswith(
            _JPEG_SOI) and not data.rstrip(b'\x00\r\n\t ').endswith(_JPEG_EOI):
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


class RadiometricReaderMissing(ImportError):
    """A FLIR radiometric JPEG was met and ``flyr`` is not installed."""


def is_flir_radiometric(data: bytes) -> bool:
    """Whether the bytes are a JPEG with FLIR radiometric APP1 segments.

    Only the JPEG header segments (up to the start of scan) are read.

    Args:
        data (bytes): The file contents.

    Returns:
        bool: True for a FLIR R-JPEG.
    """
    if not data.startswith(_JPEG_SOI):
        return False
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: no more header segments
            return False
        length = int.from_bytes(data[pos + 2:pos + 4], 'big')
        if marker == 0xE1 and data[pos + 4:pos + 4 + len(_FLIR_APP1)] == \
                _FLIR_APP1:
            return True
        pos += 2 + length
    return False


def read_flir_celsius(data: bytes) -> np.ndarray:
    """The temperature map of a FLIR radiometric JPEG, with ``flyr``.

    Args:
        data (bytes): The file contents (see :func:`is_flir_radiometric`).

    Returns:
        np.ndarray: float32 ``(H, W)`` temperatures in degrees Celsius, as
        ``flyr.unpack(...).celsius`` computes them from the raw counts and
        the camera's calibration stored in the file.

    Raises:
        RadiometricReaderMissing: When ``flyr`` is not installed.
        ImageDecodeError: When the FLIR segments cannot be parsed.
    """
    try:
        import flyr
    except ImportError:
        raise RadiometricReaderMissing(
            'This is a FLIR radiometric JPEG (R-JPEG); reading its '
            'temperatures needs the flyr package: pip install flyr. To read '
            'the JPEG picture instead, set radiometric=False on '
            'LoadThermalImage.') from None
    try:
        celsius = flyr.unpack(io.BytesIO(data)).celsius
    except Exception as e:  # flyr raises many kinds on damaged files
        raise ImageDecodeError(
            f'cannot read the FLIR radiometric data ({type(e).__name__}: '
            f'{e})') from None
    return np.ascontiguousarray(celsius, dtype=np.float32)


def decode_thermal(data: bytes, radiometric: bool = True) -> np.ndarray:
    """Decode an infrared image: temperatures for R-JPEGs, else as stored.

    Args:
        data (bytes): The file contents.
        radiometric (bool): Read FLIR radiometric JPEGs as temperature maps
            (:func:`read_flir_celsius`); False decodes their JPEG picture.

    Returns:
        np.ndarray: float32 ``(H, W)`` degrees Celsius for an R-JPEG,
        otherwise what :func:`decode_image` returns.

    Raises:
        ImageDecodeError: See :func:`decode_image`.
        RadiometricReaderMissing: An R-JPEG without ``flyr``.
    """
    if radiometric and is_flir_radiometric(data):
        problem = truncation_problem(data)
        if problem:
            raise ImageDecodeError(problem)
        return read_flir_celsius(data)
    return decode_image(data)


#: How non-finite pixels of float images (float TIFFs, temperature maps)
#: are handled, by :func:`stretch_to_uint8` and :func:`percentile_range`.
NONFINITE_RULE = ('NaN and -inf pixels become 0 and +inf pixels 255 after '
                  'the mapping to 8 bits; percentile ranges are taken over '
                  'the finite pixels only')


def count_nonfinite(img: np.ndarray) -> Tuple[int, int, int]:
    """``(NaN, +inf, -inf)`` pixel counts of a float image (0s otherwise)."""
    if img.dtype.kind not in 'fc':
        return 0, 0, 0
    nan = int(np.isnan(img).sum())
    posinf = int(np.isposinf(img).sum())
    neginf = int(np.isneginf(img).sum())
    return nan, posinf, neginf


def describe_nonfinite(img: np.ndarray) -> str:
    """``'3 NaN, 1 +inf of 4096 pixels'``, or ``''`` when all are finite."""
    parts = [
        f'{n} {name}'
        for n, name in zip(count_nonfinite(img), ('NaN', '+inf', '-inf')) if n
    ]
    if not parts:
        return ''
    return f'{", ".join(parts)} of {img.size} pixels'


def percentile_range(img: np.ndarray,
                     percentiles: Sequence[float]) -> Tuple[float, float]:
    """The ``(p_lo, p_hi)`` percentiles of the finite pixels.

    Args:
        img (np.ndarray): Image of any dtype.
        percentiles (Sequence[float]): ``(p_lo, p_hi)`` in [0, 100].

    Returns:
        tuple: ``(low, high)`` as floats; ``(0, 0)`` when no pixel is
        finite.
    """
    values = np.asarray(img, np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
        if values.size == 0:
            return 0., 0.
    low, high = np.percentile(values, percentiles)
    return float(low), float(high)


def stretch_to_uint8(img: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly to ``[0, 255]``, clip and round to uint8.

    Computed in float64 (exact for 16-bit counts); values are rounded half
    to even (:func:`numpy.rint`). Non-finite pixels follow
    :data:`NONFINITE_RULE`: NaN and -inf give 0, +inf gives 255.

    Args:
        img (np.ndarray): Image of any dtype and shape.
        low (float): Value mapped to 0.
        high (float): Value mapped to 255. When ``high <= low`` (a flat
            image) one unit per level is used instead of dividing by zero.

    Returns:
        np.ndarray: uint8 image of the same shape.
    """
    values = np.asarray(img, np.float64)
    if values.dtype.kind == 'f' and np.isnan(values).any():
        values = np.where(np.isnan(values), -np.inf, values)  # -> 0
    # A (nearly) flat image has no spread to stretch: one count per level.
    span = high - low if high > low else 1.0
    levels = np.rint((values - low) * 255.0 / span)  # +-inf stay +-inf
    return np.clip(levels, 0, 255).astype(np.uint8)
