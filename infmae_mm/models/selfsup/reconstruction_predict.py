"""``predict``: held-out reconstructions under fixed masks, in gray levels."""
import os.path as osp
import zlib
from typing import Dict, List, Optional

import torch
from mmpretrain.structures import DataSample

from ..masking import IAMMask, seeded_random_masks

#: Added to every image's seed of the random evaluation masks.
RANDOM_MASK_SEED = 0


def image_seed(sample: Optional[DataSample], index: int) -> int:
    """Seed of an image's random evaluation mask: the CRC32 of its file name
    when known (the same image gets the same mask in every run and for every
    checkpoint), else its dataset index, else its batch index."""
    if sample is not None and sample.get('img_path') is not None:
        name = osp.basename(str(sample.get('img_path')))
        return RANDOM_MASK_SEED + zlib.crc32(name.encode())
    if sample is not None and sample.get('sample_idx') is not None:
        return RANDOM_MASK_SEED + int(sample.get('sample_idx'))
    return RANDOM_MASK_SEED + index


class ReconstructionPredictMixin:
    """``predict`` (``mode='predict'``) for algorithms that reconstruct pixels.

    The interface ``ReconstructionMetric`` and
    ``tools/analysis_tools/eval_reconstruction.py`` rely on. The algorithm
    provides

    * ``compute_masks(inputs, data_samples) -> IAMMask``: its configured
      masks (from the pipeline or in-model);
    * ``reconstruct(inputs, data_samples=None, masks=None) -> dict`` with
      ``pred`` (B, C', H, W) in the normalised space and ``mask``
      (B, 1, H, W), 1 = masked;
    * ``data_preprocessor`` with ``mean`` / ``std`` buffers when it
      normalises.

    Each image is reconstructed twice: with its configured masks (``'iam'``)
    and with a random mask of the same visible count seeded per image
    (``'random'``, :func:`image_seed`), so numbers compare across
    checkpoints and runs. Algorithms that do not reconstruct pixels (UNIP
    distils attention) do not use this mixin.
    """

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """Mmpretrain's modes plus ``'predict'`` (see :meth:`predict`)."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    def gray_levels(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised (B, C, H, W) images back to gray levels (B, H, W).

        Channels are de-normalised with the data preprocessor's mean and std
        and averaged; a one-channel image of a multi-channel model (a one-
        channel reconstruction head) uses the mean of both.
        """
        mean = getattr(self.data_preprocessor, 'mean', None)
        std = getattr(self.data_preprocessor, 'std', None)
        if mean is None or std is None:
            return images.mean(1)
        mean, std = mean.reshape(-1), std.reshape(-1)
        if images.shape[1] == mean.numel():
            return (images * std[None, :, None, None] +
                    mean[None, :, None, None]).mean(1)
        return images.mean(1) * std.mean() + mean.mean()

    def evaluation_masks(
            self, inputs: torch.Tensor,
            data_samples: Optional[List[DataSample]]) -> Dict[str, IAMMask]:
        """The configured masks and seeded random masks with as many visible
        tokens, by name (``'iam'``, ``'random'``)."""
        iam = self.compute_masks(inputs, data_samples)
        seeds = [
            image_seed(data_samples[i] if data_samples else None, i)
            for i in range(inputs.shape[0])
        ]
        random = seeded_random_masks(iam.mask.shape[1], iam.ids_keep.shape[1],
                                     seeds, inputs.device)
        return dict(iam=iam, random=random)

    @torch.no_grad()
    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Reconstruct a normalised (B, C, H, W) batch under fixed masks.

        Returns:
            list[DataSample]: The samples (new ones when none were given)
            with a ``reconstruction`` field: ``target`` (H, W) float gray
            levels of the input, and per mask set (``'iam'``, ``'random'``) a
            dict of ``pred`` (H, W) gray levels clipped to 0-255 and
            ``mask`` (H, W) bool, True = masked.
        """
        target = self.gray_levels(inputs).float().cpu()
        per_set = {}
        for name, masks in self.evaluation_masks(inputs, data_samples).items():
            out = self.reconstruct(inputs, data_samples, masks)
            pred = self.gray_levels(out['pred']).clamp(0, 255).float().cpu()
            per_set[name] = (pred, out['mask'][:, 0].bool().cpu())
        samples = list(data_samples) if data_samples else [
            DataSample() for _ in range(inputs.shape[0])
        ]
        for i, sample in enumerate(samples):
            record = dict(target=target[i])
            for name, (pred, mask) in per_set.items():
                record[name] = dict(pred=pred[i], mask=mask[i])
            sample.set_field(record, 'reconstruction')
        return samples
