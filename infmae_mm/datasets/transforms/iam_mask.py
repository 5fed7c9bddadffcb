"""IAMMaskGenerator: information-aware masks computed in the data pipeline."""
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from infmae_mm.models.masking import (IAM_MASK_KEY, IAMMask, IAMMasking,
                                      get_scorer)
from infmae_mm.registry import register_in_hosts


@register_in_hosts('TRANSFORMS', hosts=('mmpretrain', ))
class IAMMaskGenerator(BaseTransform):
    """Compute an image's information-aware mask from its raw pixels.

    Place it after every transform that changes the image (crops, flips,
    resizes) and pack its one output field with
    ``PackInputs(algorithm_keys=['iam_mask'])`` (the name is
    ``infmae_mm.models.masking.IAM_MASK_KEY``).

    Scorers (per 16x16 patch, on the gray image = mean over channels; any
    scorer registered with ``infmae_mm.models.masking.register_scorer`` that
    needs no weights works too):

    * ``'intensity'``: the mean gray value (paper section 4.2.1);
    * ``'entropy'``: Shannon entropy (bits) of the 256-level gray histogram;
      uint8 images are quantised on 0-255, others on their own min-max;
    * ``'random'``: uniform noise, MAE's random masking (ablations); drawn
      from numpy's global RNG, which mmengine seeds per worker.

    The official ``'linear'`` scorer needs model weights and is configured on
    the model instead (``InfMAE.mask_generator``).

    Any image whose sides are multiples of 16 works: ``ceil(N / S)`` of its N
    tokens stay visible (49 of 196 at 224x224 with S = 4).

    Required Keys:

    - img

    Added Keys:

    - iam_mask (IAMMask): numpy ``ids_keep`` (N_vis, ) int64 visible token
      ids in rank order, ``ids_restore`` (N, ) int64 un-shuffle ids and
      ``mask`` (N, ) float32 raster token mask, 1 = masked.

    Args:
        scorer (str): ``'intensity'``, ``'entropy'``, ``'random'`` or another
            registered scorer without weights. Defaults to 'intensity'.
        stride (int): Sampling stride S; ``ceil(N / S)`` tokens stay visible.
            Defaults to 4.
        selection (str): ``'stride'`` (keep the first of every S ranks, which
            spreads the visible tokens evenly over the score range) or
            ``'top'`` (keep the first ranks: with ``descending`` the
            highest scores). Defaults to 'stride'.
        descending (bool): Rank high scores first, so that the most
            informative patch is always visible. Defaults to True.
        patch_size (int): Token patch side. Defaults to 16.
        mask_ratio (float, optional): Not an IAM setting (MAE's): refused
            with an error naming the stride that gives that ratio.
            Defaults to None.
    """

    #: How errors name this transform's settings in a config.
    CONFIG_KEY = ("dict(type='IAMMaskGenerator') in the data pipeline "
                  '(train_dataloader.dataset.pipeline)')

    def __init__(self,
                 scorer: str = 'intensity',
                 stride: int = 4,
                 selection: str = 'stride',
                 descending: bool = True,
                 patch_size: int = 16,
                 mask_ratio: Optional[float] = None) -> None:
        if get_scorer(scorer).needs_weights:
            raise ValueError(
                f'The {scorer!r} IAM scorer needs the model\'s weights; set '
                f"model.mask_generator=dict(scorer='{scorer}') instead of "
                f'using IAMMaskGenerator.')
        self.masking = IAMMasking(
            scorer=scorer,
            stride=stride,
            selection=selection,
            descending=descending,
            patch_size=patch_size,
            mask_ratio=mask_ratio,
            config_key=self.CONFIG_KEY)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        value_range: Optional[tuple] = (0., 255.) \
            if img.dtype == np.uint8 else None
        images = torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1))).float().unsqueeze(0)
        generator = None
        if self.masking.scorer == 'random':
            generator = torch.Generator().manual_seed(
                int(np.random.randint(0, 2**31 - 1)))
        iam = self.masking(images, generator, value_range)
        results[IAM_MASK_KEY] = IAMMask(*(None if v is None else v[0].numpy()
                                          for v in iam))
        return results

    def __repr__(self) -> str:
        m = self.masking
        return (f'{self.__class__.__name__}(scorer={m.scorer!r}, '
                f'stride={m.stride}, selection={m.selection!r}, '
                f'descending={m.descending}, patch_size={m.patch_size})')
