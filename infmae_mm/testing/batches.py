"""A pre-training batch built the way a config's data path builds one."""
from typing import Any, List, Tuple

import numpy as np
import torch


def pipeline_batch(model: torch.nn.Module,
                   cfg: Any,
                   size: int,
                   batch: int,
                   seed: int = 0) -> Tuple[torch.Tensor, List]:
    """Random gray images through ``cfg``'s training pipeline and the model's
    data preprocessor.

    The images (side ``size + size // 8``, 3 identical channels, seeded)
    skip the loading step and are cropped to ``size`` by the pipeline's
    ``RandomResizedCrop``; the rest of the pipeline (flip, masks, packing)
    runs as in training, so the samples carry e.g. the pipeline's IAM masks.

    Args:
        model (nn.Module): The algorithm (its ``data_preprocessor`` is used).
        cfg (Config): The config whose ``train_dataloader.dataset.pipeline``
            is used.
        size (int): Crop side.
        batch (int): Images in the batch.
        seed (int): Seed of the images. Defaults to 0.

    Returns:
        tuple: (B, C, size, size) inputs on the model's device and the data
        samples.
    """
    from mmengine.dataset import Compose, default_collate
    steps = []
    for step in cfg.train_dataloader.dataset.pipeline:
        step = dict(step)
        if step['type'] in ('LoadThermalImage', 'LoadImageFromFile'):
            continue
        if step['type'] == 'RandomResizedCrop':
            step['scale'] = size
        steps.append(step)
    pipeline = Compose(steps)
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(batch):
        gray = rng.integers(0, 256, (size + size // 8, ) * 2, dtype=np.uint8)
        img = np.repeat(gray[..., None], 3, 2)
        items.append(
            pipeline(
                dict(
                    img=img, img_shape=img.shape[:2],
                    ori_shape=img.shape[:2])))
    data = model.data_preprocessor(default_collate(items), True)
    return data['inputs'], data['data_samples']
