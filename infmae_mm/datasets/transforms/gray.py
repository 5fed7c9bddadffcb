"""Gray conversion of every image (UNIP's ``--rgb_gray``)."""
import logging
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from infmae_mm.registry import register_in_hosts


@register_in_hosts('TRANSFORMS')
class ConvertToGray(BaseTransform):
    """Convert an image to gray and give it ``to_channels`` channels.

    UNIP pre-trains on a mix of infrared and RGB images and turns **every**
    image to gray (PIL ``RGB -> L -> RGB``: 3 identical channels), so that
    RGB sources look like thermal ones. BGR images are converted with the
    ITU-R BT.601 weights (``cv2.COLOR_BGR2GRAY``; PIL's ``L`` uses the same
    weights and differs by at most one gray level in rounding); gray
    images, given as (H, W), (H, W, 1) or 3 identical channels, keep their
    values exactly.

    It is also the first step of the pre-training and classification
    configs' test pipelines, which mmpretrain's ``FeatureExtractor`` and
    ``inference_model`` run on the arrays they are given, so images that are
    not uint8 are brought to 8 bits here by one stated rule:

    * integer or float images whose finite values are all whole numbers in
      0-255 (an 8-bit image held in another dtype) are cast exactly;
    * any other real image (16-bit counts, floats in [0, 1], temperatures)
      is stretched to 0-255 between its 0.5 and 99.5 percentiles, the rule
      ``LoadThermalImage`` applies to 16-bit and float files, with one
      logged warning per transform saying so and how to keep your own
      scaling; NaN / inf pixels follow
      :data:`~infmae_mm.datasets.image_decoding.NONFINITE_RULE` and are
      reported with their counts;
    * an image without a finite pixel, and complex or non-numeric arrays,
      are refused with a ``ValueError`` / ``TypeError`` naming the problem.

    Required Keys:

    - img (np.ndarray): (H, W), (H, W, 1), gray + alpha (H, W, 2; the
      alpha is dropped, as ``LoadThermalImage`` does) or BGR(A)
      (H, W, 3 or 4); uint8, or another real dtype converted as above.

    Modified Keys:

    - img: (H, W, 3) with identical channels, or (H, W) for
      ``to_channels=1``.

    Args:
        to_channels (int): 3 (default) or 1.
    """

    def __init__(self, to_channels: int = 3) -> None:
        if to_channels not in (1, 3):
            raise ValueError(
                f'to_channels must be 1 or 3, got {to_channels!r}.')
        self.to_channels = to_channels
        self._warned = False
        self._normalizer = None

    #: Percentiles of the stretch applied to images that are not 8-bit.
    PERCENTILES = (0.5, 99.5)

    def to_uint8(self,
                 img: np.ndarray,
                 path: Optional[str] = None) -> np.ndarray:
        """Bring an image of any real dtype to uint8 by the rule above.

        Args:
            img (np.ndarray): The image.
            path (str, optional): Its file, for messages.

        Returns:
            np.ndarray: uint8, same shape (``img`` itself when uint8).
        """
        if not isinstance(img, np.ndarray):
            raise TypeError(f'ConvertToGray expects a numpy image, got '
                            f'{type(img).__name__}.')
        where = path or 'The image'
        if img.ndim >= 2 and 0 in img.shape[:2]:
            # Later transforms would fail on it far from here (mmpretrain's
            # ResizeEdge divides by the short side: ZeroDivisionError).
            raise ValueError(
                f'{where} is empty (shape {img.shape}): an image needs at '
                'least one pixel. Check how the array was made or read.')
        if img.dtype == np.uint8:
            return img
        if img.dtype.kind not in 'biuf':
            raise TypeError(
                f'{where} has dtype {img.dtype}; images must be real-valued '
                '(uint8, or 16-bit / float intensities, which are mapped to '
                '0-255).')
        finite = np.isfinite(img) if img.dtype.kind == 'f' else None
        if finite is not None and not finite.any():
            from ..image_decoding import describe_nonfinite
            raise ValueError(
                f'{where} has no finite pixel ({describe_nonfinite(img)}): '
                'there is nothing to convert to 8 bits. Check how the array '
                'was made.')
        if finite is None or finite.all():
            values = img.astype(np.float64, copy=False)
            if values.min() >= 0 and values.max() <= 255 and \
                    np.array_equal(values, np.round(values)):
                return img.astype(np.uint8)
        if self._normalizer is None:
            from .loading import ThermalNormalize
            self._normalizer = ThermalNormalize(
                mode='percentile', percentiles=self.PERCENTILES)
        if not self._warned:
            self._warned = True
            valid = img[finite] if finite is not None else img
            p_lo, p_hi = self.PERCENTILES
            print_log(
                f'{where} is {img.dtype} with values {valid.min():g} to '
                f'{valid.max():g}, not 8-bit: ConvertToGray stretches it, and '
                'every later such image, to 0-255 between its own '
                f'{p_lo:g} and {p_hi:g} percentiles (the rule '
                'LoadThermalImage applies to 16-bit and float files; said '
                'once). To keep your '
                'own scaling give uint8 images, e.g. '
                '(img * 255).round().astype(np.uint8) for values in [0, 1].',
                logger='current',
                level=logging.WARNING)
        return self._normalizer.normalize(img, path)

    def transform(self, results: dict) -> dict:
        img = self.to_uint8(results['img'], results.get('img_path'))
        if img.ndim == 3 and img.shape[2] in (1, 2):
            img = img[..., 0]  # gray, or gray + alpha (alpha dropped)
        elif img.ndim == 3 and img.shape[2] >= 3:
            img = cv2.cvtColor(
                np.ascontiguousarray(img[..., :3]), cv2.COLOR_BGR2GRAY)
        elif img.ndim != 2:
            raise ValueError(f'ConvertToGray expects (H, W) or (H, W, C) '
                             f'images, got shape {img.shape}.')
        if self.to_channels == 3:
            img = np.repeat(img[..., None], 3, axis=2)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(to_channels={self.to_channels})'
