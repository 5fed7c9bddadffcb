"""Loading and normalising infrared images of any bit depth.

Thermal cameras store either 8-bit images (after the camera's automatic gain
control) or radiometric counts, typically 14 bits in a 16-bit PNG or TIFF.
The model and the rest of the OpenMMLab pipeline (crops with the pillow
backend, IAM scoring on 0-255, the data preprocessor's mean/std of
0.425/0.200 x 255) expect 8-bit values, so deeper images are mapped to uint8
right after decoding, by one of two rules:

* ``'fixed'``: one raw range ``(lo, hi)`` for every image, mapped linearly to
  0-255 (clipped). The same temperature gives the same gray value in every
  image; choose the range of the camera and scenes.
* ``'percentile'``: per image, its ``p_lo`` and ``p_hi`` percentiles (default
  0.5 and 99.5) are mapped to 0 and 255 (clipped), like a camera's automatic
  gain control. It needs no knowledge of the camera, and gives images that
  look like 8-bit training data; it is the rule data curation uses too.

8-bit images pass through unchanged unless asked otherwise.
"""
import logging
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log

# yapf: disable (isort's wrapping of this import, which yapf would rewrap)
from infmae_mm.datasets.image_decoding import (NONFINITE_RULE,
                                               ImageDecodeError,
                                               decode_thermal,
                                               describe_nonfinite,
                                               percentile_range,
                                               stretch_to_uint8)
# yapf: enable
from infmae_mm.registry import register_in_hosts

#: Normalisation rules of :class:`ThermalNormalize`.
THERMAL_MODES: Tuple[str, ...] = ('auto', 'percentile', 'fixed')

#: Appended to every "cannot read" error of :class:`LoadThermalImage`.
UNREADABLE_HINT = ('Remove or replace the file: fine-tuning and test data '
                   'must be clean (data curation, tools/data/'
                   'curate_pretrain_data.py, lists unreadable files); '
                   'pre-training with InfraredImageFolder skips such files '
                   'with a warning.')


@register_in_hosts('TRANSFORMS')
class ThermalNormalize(BaseTransform):
    """Map a deeper-than-8-bit infrared image to uint8 (0-255).

    Use it after a loader that keeps the stored bit depth (e.g. mmcv's
    ``LoadImageFromFile(color_type='unchanged', imdecode_backend='cv2')``);
    :class:`LoadThermalImage` applies the same rules itself.

    Modes:

    * ``'auto'`` (default): uint8 images pass through; any other dtype
      (uint16, int16, float32 ...) is stretched with the ``'percentile'``
      rule, and the first such image logs a warning (once per transform and
      process) naming the file and the options that make the choice
      explicit. So a loader configured for 8-bit data still reads a 16-bit
      image sensibly, and says so.
    * ``'percentile'``: ``(v - P_lo) / (P_hi - P_lo) x 255``, clipped and
      rounded, with ``P_lo, P_hi`` the image's ``percentiles``
      (:func:`numpy.percentile`, linear interpolation, over all finite
      pixels and channels). A flat image (``P_hi == P_lo``) is shifted
      by ``P_lo`` at one unit per level.
    * ``'fixed'``: ``(v - lo) / (hi - lo) x 255``, clipped and rounded, with
      ``(lo, hi) = value_range`` for every image.

    In ``'percentile'`` and ``'fixed'`` modes uint8 images still pass through
    unless ``normalize_8bit=True`` (e.g. to stretch low-contrast 8-bit
    images per image).

    Non-finite pixels (NaN, +-inf in float TIFFs or temperature maps): NaN
    and -inf become 0, +inf 255, and the percentiles are taken over the
    finite pixels (:data:`~infmae_mm.datasets.image_decoding.NONFINITE_RULE`).
    Each file with such pixels is named once per process with the counts
    (the first 20 files); an image without a single finite pixel raises
    :class:`~infmae_mm.datasets.image_decoding.ImageDecodeError`, which
    pre-training's ``InfraredImageFolder`` skips like an unreadable file.

    Required Keys:

    - img

    Modified Keys:

    - img (np.ndarray): uint8, same shape.

    Args:
        mode (str): ``'auto'``, ``'percentile'`` or ``'fixed'``.
            Defaults to 'auto'.
        value_range (Sequence[float], optional): ``(lo, hi)`` raw values
            mapped to 0 and 255; required by, and only used by, ``'fixed'``.
        percentiles (Sequence[float]): ``(p_lo, p_hi)`` in [0, 100] for
            ``'percentile'`` and ``'auto'``. Defaults to (0.5, 99.5).
        normalize_8bit (bool): Apply ``'percentile'`` / ``'fixed'`` to uint8
            images too. Defaults to False.
    """

    def __init__(self,
                 mode: str = 'auto',
                 value_range: Optional[Sequence[float]] = None,
                 percentiles: Sequence[float] = (0.5, 99.5),
                 normalize_8bit: bool = False) -> None:
        if mode not in THERMAL_MODES:
            raise ValueError(f'Unknown thermal normalisation mode {mode!r}; '
                             f'choose from {THERMAL_MODES}.')
        if mode == 'fixed':
            if value_range is None or len(value_range) != 2 or \
                    not value_range[1] > value_range[0]:
                raise ValueError(
                    "mode='fixed' needs value_range=(lo, hi) with hi > lo, "
                    'the raw values mapped to 0 and 255; got '
                    f'{value_range!r}.')
            value_range = (float(value_range[0]), float(value_range[1]))
        elif value_range is not None:
            raise ValueError('value_range is only used by '
                             f"mode='fixed'; got mode={mode!r}.")
        if len(percentiles) != 2 or \
                not 0 <= percentiles[0] < percentiles[1] <= 100:
            raise ValueError('percentiles must be (p_lo, p_hi) with '
                             f'0 <= p_lo < p_hi <= 100, got {percentiles!r}.')
        if mode == 'auto' and normalize_8bit:
            raise ValueError("mode='auto' leaves 8-bit images unchanged; use "
                             "mode='percentile' or 'fixed' with "
                             'normalize_8bit=True to change them.')
        self.mode = mode
        self.value_range = value_range
        self.percentiles = (float(percentiles[0]), float(percentiles[1]))
        self.normalize_8bit = normalize_8bit
        self._warned = False
        # Files with NaN / inf pixels reported by this process.
        self._nonfinite_files: set = set()

    #: Files with non-finite pixels named one by one, per process.
    MAX_NONFINITE_REPORTS = 20

    def _check_finite(self, img: np.ndarray, path: Optional[str]) -> None:
        """Report NaN / inf pixels (count and file) once per file; refuse an
        image without a single finite pixel."""
        problem = describe_nonfinite(img)
        if not problem:
            return
        if not np.isfinite(img).any():
            raise ImageDecodeError(
                f'no finite pixel ({problem})', path or '?',
                'Replace the file or drop it from the data.')
        if path in self._nonfinite_files:
            return
        self._nonfinite_files.add(path)
        count = len(self._nonfinite_files)
        if count > self.MAX_NONFINITE_REPORTS:
            return
        more = (' Further files with non-finite pixels are not named (said '
                f'after {count} files).'
                if count == self.MAX_NONFINITE_REPORTS else '')
        print_log(
            f'{path or "An image"} has non-finite pixels: {problem}. '
            f'{NONFINITE_RULE[0].upper()}{NONFINITE_RULE[1:]}.{more}',
            logger='current',
            level=logging.WARNING)

    def normalize(self,
                  img: np.ndarray,
                  path: Optional[str] = None) -> np.ndarray:
        """Apply the rule to one image.

        Args:
            img (np.ndarray): Image of any dtype and shape.
            path (str, optional): Its file, named in the ``'auto'`` warning.

        Returns:
            np.ndarray: uint8, same shape (``img`` itself when it passes
            through).
        """
        if img.dtype == np.uint8 and not self.normalize_8bit:
            return img
        self._check_finite(img, path)
        if self.mode == 'fixed':
            return stretch_to_uint8(img, *self.value_range)
        if self.mode == 'auto' and not self._warned:
            self._warned = True
            p_lo, p_hi = self.percentiles
            print_log(
                f'{path or "An image"} is {img.dtype}, not 8-bit; '
                "ThermalNormalize(mode='auto') stretches it and every later "
                f'deeper image to 0-255 between its own {p_lo:g} and '
                f'{p_hi:g} percentiles (said once per process). For '
                "radiometric data set mode='fixed', value_range=(lo, hi) "
                '(the same mapping for every image), or '
                "mode='percentile' to keep this rule without the warning, "
                'on LoadThermalImage or ThermalNormalize.',
                logger='current',
                level=logging.WARNING)
        # Percentiles of the finite pixels; NaN / inf pixels then follow
        # NONFINITE_RULE in stretch_to_uint8.
        low, high = percentile_range(img, self.percentiles)
        return stretch_to_uint8(img, low, high)

    def transform(self, results: dict) -> dict:
        results['img'] = self.normalize(results['img'],
                                        results.get('img_path'))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mode={self.mode!r}, '
                f'value_range={self.value_range}, '
                f'percentiles={self.percentiles}, '
                f'normalize_8bit={self.normalize_8bit})')


@register_in_hosts('TRANSFORMS')
class LoadThermalImage(BaseTransform):
    """Load an infrared image: 8/16-bit PNG, TIFF, PGM, JPEG, BMP, or the
    temperature map of a FLIR radiometric JPEG.

    The file is decoded as stored (OpenCV ``IMREAD_UNCHANGED``, so a JPEG's
    EXIF orientation is not applied), reduced to
    gray or BGR, mapped to uint8 by :class:`ThermalNormalize` rules, and
    given ``to_channels`` channels. With the defaults an 8-bit gray image
    comes out exactly as mmcv's ``LoadImageFromFile`` gives it: its values
    in 3 identical channels.

    FLIR radiometric JPEGs (R-JPEG) are read as float32 temperature maps in
    degrees Celsius through the optional ``flyr`` package
    (:func:`~infmae_mm.datasets.image_decoding.read_flir_celsius`) and then
    mapped like 16-bit input: ``mode='fixed', value_range=(lo, hi)`` in
    degrees Celsius gives every image the same temperature scale,
    ``'percentile'`` stretches each image. Without ``flyr`` such a file
    fails with an error saying how to install it (or to set
    ``radiometric=False``, which reads the JPEG picture instead).

    A file that cannot be read (missing, empty, truncated, not an image)
    raises :class:`~infmae_mm.datasets.image_decoding.ImageDecodeError`
    naming it. Fine-tuning and test pipelines fail there, loudly, because
    their data should be clean and a silently smaller set changes the
    metrics; :class:`~infmae_mm.datasets.InfraredImageFolder` catches the
    error in pre-training and uses the next image instead.

    Channels: gray (and gray + alpha) images are gray; BGR(A) images keep
    their BGR channels for ``to_channels=3`` and become gray (ITU-R BT.601
    weights, :func:`cv2.cvtColor`) for ``to_channels=1``. Gray is normalised
    before it is replicated, which is cheaper and gives the same values.

    Required Keys:

    - img_path

    Added Keys:

    - img (np.ndarray): uint8, ``(H, W, 3)`` or, for ``to_channels=1``,
      ``(H, W)`` (as mmcv's ``color_type='grayscale'``: the pillow resize
      backend rejects ``(H, W, 1)``; packing adds the channel axis).
    - img_shape (tuple): ``(H, W)``.
    - ori_shape (tuple): ``(H, W)``.

    Args:
        mode (str): ``'auto'``, ``'percentile'`` or ``'fixed'``, see
            :class:`ThermalNormalize`. Defaults to 'auto' (8-bit unchanged,
            deeper images stretched per image with one warning).
        value_range (Sequence[float], optional): ``(lo, hi)`` for
            ``'fixed'``.
        percentiles (Sequence[float]): For ``'percentile'`` and ``'auto'``.
            Defaults to (0.5, 99.5).
        normalize_8bit (bool): Normalise uint8 images too. Defaults to False.
        to_channels (int): 3 (gray replicated, as the official InfMAE code
            feeds the model) or 1 (for ``in_channels=1`` models).
            Defaults to 3.
        backend_args (dict, optional): mmengine file backend arguments, for
            images outside the local file system. Defaults to None.
        radiometric (bool): Read FLIR radiometric JPEGs as temperatures.
            Defaults to True.
    """

    def __init__(self,
                 mode: str = 'auto',
                 value_range: Optional[Sequence[float]] = None,
                 percentiles: Sequence[float] = (0.5, 99.5),
                 normalize_8bit: bool = False,
                 to_channels: int = 3,
                 backend_args: Optional[dict] = None,
                 radiometric: bool = True) -> None:
        if to_channels not in (1, 3):
            raise ValueError(
                f'to_channels must be 1 or 3, got {to_channels!r}.')
        self.normalizer = ThermalNormalize(mode, value_range, percentiles,
                                           normalize_8bit)
        self.to_channels = to_channels
        self.radiometric = radiometric
        self.backend_args = None if backend_args is None else \
            backend_args.copy()

    def _read(self, path: str) -> np.ndarray:
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise ImageDecodeError('no such file', path,
                                   UNREADABLE_HINT) from None
        except OSError as e:
            raise ImageDecodeError(f'cannot read: {e.strerror or e}', path,
                                   UNREADABLE_HINT) from None
        try:
            return decode_thermal(data, self.radiometric)
        except ImageDecodeError as e:
            raise ImageDecodeError(e.reason, path, UNREADABLE_HINT) from None

    def _select_channels(self, img: np.ndarray) -> np.ndarray:
        """Gray ``(H, W)`` or BGR ``(H, W, 3)``; gray for ``to_channels=1``."""
        if img.ndim == 3 and img.shape[2] <= 2:  # gray, or gray + alpha
            return img[..., 0]
        if img.ndim == 3:
            img = img[..., :3]  # the alpha channel carries no brightness
            if self.to_channels == 1:
                if img.dtype not in (np.uint8, np.uint16, np.float32):
                    img = img.astype(np.float32)  # what cvtColor accepts
                img = cv2.cvtColor(
                    np.ascontiguousarray(img), cv2.COLOR_BGR2GRAY)
        return img

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        img = self._select_channels(self._read(path))
        img = self.normalizer.normalize(img, path)
        if self.to_channels == 3 and img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        img = np.ascontiguousarray(img)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        n = self.normalizer
        return (f'{self.__class__.__name__}(mode={n.mode!r}, '
                f'value_range={n.value_range}, percentiles={n.percentiles}, '
                f'normalize_8bit={n.normalize_8bit}, '
                f'to_channels={self.to_channels}, '
                f'backend_args={self.backend_args}, '
                f'radiometric={self.radiometric})')
