"""IAMMaskGenerator: information-aware masks computed in the data pipeline."""
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from infmae_mm.models.masking import (SCORERS, SELECTIONS, check_token_grid,
                                      patch_scores, select_tokens,
                                      upsample_token_mask)
from infmae_mm.registry import register_in_hosts


@register_in_hosts('TRANSFORMS', hosts=('mmpretrain', ))
class IAMMaskGenerator(BaseTransform):
    """Compute an image's information-aware mask from its raw pixels.

    Place it after every transform that changes the image (crops, flips,
    resizes) and pack its outputs with
    ``PackInputs(algorithm_keys=('ids_keep', 'ids_restore', 'mask',
    'mask_stage1', 'mask_stage2'))``.

    Scorers (per 16x16 patch, on the gray image = mean over channels):

    * ``'intensity'``: the mean gray value (paper section 4.2.1);
    * ``'entropy'``: Shannon entropy (bits) of the 256-level gray histogram;
      uint8 images are quantised on 0-255, others on their own min-max;
    * ``'random'``: uniform noise, MAE's random masking (ablations); drawn
      from numpy's global RNG, which mmengine seeds per worker.

    The official ``'linear'`` scorer needs model weights and is configured on
    the model instead (``InfMAE.mask_generator``).

    Required Keys:

    - img

    Added Keys:

    - ids_keep (np.ndarray): (N / S, ) int64 visible token ids, rank order.
    - ids_restore (np.ndarray): (N, ) int64 un-shuffle ids.
    - mask (np.ndarray): (h, w) float32 token mask, 1 = masked.
    - mask_stage1 (np.ndarray): (4h, 4w) float32, the mask at stride 4.
    - mask_stage2 (np.ndarray): (2h, 2w) float32, the mask at stride 8.

    Args:
        scorer (str): ``'intensity'``, ``'entropy'`` or ``'random'``.
            Defaults to 'intensity'.
        stride (int): Sampling stride S; N / S tokens stay visible (S = 4:
            25%). Must divide the token count. Defaults to 4.
        selection (str): ``'stride'`` (keep the first of every S ranks) or
            ``'top'`` (keep the N / S first ranks). Defaults to 'stride'.
        descending (bool): Rank high scores first, so that the most
            informative patch is always visible. Defaults to True.
        patch_size (int): Token patch side. Defaults to 16.
    """

    def __init__(self,
                 scorer: str = 'intensity',
                 stride: int = 4,
                 selection: str = 'stride',
                 descending: bool = True,
                 patch_size: int = 16) -> None:
        if scorer == 'linear':
            raise ValueError(
                "The official 'linear' IAM scorer needs the model's weights; "
                "set model.mask_generator=dict(scorer='linear') instead of "
                'using IAMMaskGenerator.')
        if scorer not in SCORERS:
            raise ValueError(
                f'Unknown IAM scorer {scorer!r}; choose from '
                f"{tuple(s for s in SCORERS if s != 'linear')}.")
        if selection not in SELECTIONS:
            raise ValueError(f'Unknown IAM selection {selection!r}; choose '
                             f'from {SELECTIONS}.')
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'stride must be a positive int, got {stride!r}.')
        self.scorer = scorer
        self.stride = stride
        self.selection = selection
        self.descending = descending
        self.patch_size = patch_size

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        height, width = img.shape[:2]
        grid = check_token_grid(height, width, self.patch_size, self.stride)
        value_range: Optional[tuple] = (0., 255.) \
            if img.dtype == np.uint8 else None
        images = torch.from_numpy(np.ascontiguousarray(
            img.transpose(2, 0, 1))).float().unsqueeze(0)
        generator = None
        if self.scorer == 'random':
            generator = torch.Generator().manual_seed(
                int(np.random.randint(0, 2**31 - 1)))
        scores = patch_scores(
            images,
            self.scorer,
            self.patch_size,
            value_range=value_range,
            generator=generator)
        iam = select_tokens(scores, self.stride, self.selection,
                            self.descending)
        results['ids_keep'] = iam.ids_keep[0].numpy()
        results['ids_restore'] = iam.ids_restore[0].numpy()
        results['mask'] = iam.mask[0].reshape(grid).numpy()
        results['mask_stage1'] = upsample_token_mask(iam.mask, grid,
                                                     4)[0, 0].numpy()
        results['mask_stage2'] = upsample_token_mask(iam.mask, grid,
                                                     2)[0, 0].numpy()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scorer={self.scorer!r}, '
                f'stride={self.stride}, selection={self.selection!r}, '
                f'descending={self.descending}, '
                f'patch_size={self.patch_size})')
