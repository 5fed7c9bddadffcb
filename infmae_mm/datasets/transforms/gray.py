"""Gray conversion of every image (UNIP's ``--rgb_gray``)."""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform

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

    Required Keys:

    - img (np.ndarray): uint8, (H, W), (H, W, 1) or BGR (H, W, 3).

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

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
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
