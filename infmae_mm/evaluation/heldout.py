"""Held-out images for reconstruction checks: finding, loading, batching.

Shared by ``tools/analysis_tools/eval_reconstruction.py`` and
``tools/visualization/show_reconstruction.py`` so that both measure the same
images the same way: files found under folders (sorted, or a seeded random
pick), loaded with the config's thermal loader, cut to the model's input
(full frames centre-cropped to multiples of 16, or a centre square), given
the config's IAM masks and normalised by the model's data preprocessor.
Their command line is in ``eval_reconstruction.py``; the scores are
:class:`~infmae_mm.evaluation.ReconstructionMetric`'s, as in validation.
"""
import logging
import os
import os.path as osp
import random as pyrandom
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

from infmae_mm.datasets.metainfo import IMAGE_SUFFIXES
from infmae_mm.models.masking import IAM_MASK_KEY
from infmae_mm.utils.checkpoint import load_checkpoint_checked

#: Side multiple of InfMAE inputs (the token patch).
MULTIPLE = 16
LOADERS = ('LoadThermalImage', 'LoadImageFromFile')


def build_model(cfg: Config,
                checkpoint: str,
                device: str = 'cpu') -> torch.nn.Module:
    """Build ``cfg.model`` in eval mode with ``checkpoint``'s weights, or
    freshly initialised for ``checkpoint='none'``.

    The checkpoint loads through the safe loader and must fit the model
    (:func:`~infmae_mm.utils.checkpoint.load_checkpoint_checked`: only the
    known optional keys may differ), so that a checkpoint of another config
    is never scored or drawn as if it were this one.

    Raises:
        CheckpointMismatchError: If the checkpoint does not fit; the message
            names the file, the config and the keys.
    """
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    if checkpoint.lower() == 'none':
        # mmengine logs every initialised tensor at INFO: keep it quiet.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    else:
        config = getattr(cfg, 'filename', None) or 'the config'
        load_checkpoint_checked(
            model,
            checkpoint,
            target=f'the model of {config}',
            partial_option=None)
    return model.to(device).eval()


def find_images(paths: Sequence[str],
                num: Optional[int] = None,
                random: bool = False,
                seed: int = 0) -> List[str]:
    """Image files under ``paths`` (files or folders, searched recursively).

    Args:
        paths (Sequence[str]): Files and folders.
        num (int, optional): How many to return; None: all.
        random (bool): Pick ``num`` at random (seeded) instead of the first
            ones in sorted order.
        seed (int): Seed of the random pick.

    Returns:
        list[str]: Paths, sorted (or in the seeded random order).

    Raises:
        FileNotFoundError: If a path does not exist or nothing is found.
    """
    files = []
    for path in paths:
        if osp.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files += [
                    osp.join(root, n) for n in sorted(names)
                    if n.lower().endswith(IMAGE_SUFFIXES)
                ]
        elif osp.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f'No such image or folder: {path}')
    if not files:
        raise FileNotFoundError(
            f'No images ({", ".join(IMAGE_SUFFIXES)}) found in '
            f'{list(paths)}.')
    if random:
        files = pyrandom.Random(seed).sample(files, len(files))
    return files if num is None else files[:num]


def fit_to_multiple(img: np.ndarray, multiple: int = MULTIPLE) -> np.ndarray:
    """Centre-crop a full frame to sides that are multiples of ``multiple`` (a
    330x500 frame becomes 320x496).

    Raises:
        ValueError: If a side is shorter than ``multiple``.
    """
    h, w = img.shape[:2]
    if h < multiple or w < multiple:
        raise ValueError(f'An image of {h}x{w} is smaller than one '
                         f'{multiple}x{multiple} patch.')
    nh, nw = h // multiple * multiple, w // multiple * multiple
    top, left = (h - nh) // 2, (w - nw) // 2
    return img[top:top + nh, left:left + nw]


def centre_square(img: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to ``size`` and centre-crop a square, with the
    transforms of the held-out validation pipeline (pillow bicubic
    ``ResizeEdge``, ``CenterCrop``), so the tools measure what the validation
    loop measures."""
    if size % MULTIPLE:
        raise ValueError(f'--size must be a multiple of {MULTIPLE}, got '
                         f'{size}.')
    results = dict(img=img, img_shape=img.shape[:2])
    for step in (dict(
            type='ResizeEdge',
            scale=size,
            edge='short',
            backend='pillow',
            interpolation='bicubic'), dict(type='CenterCrop', crop_size=size)):
        results = TRANSFORMS.build(step)(results)
    return results['img']


def train_pipeline(cfg: Config) -> list:
    """The training pipeline of ``cfg``: its dataset's or, for wrapped and
    concatenated datasets (``dataset.dataset``, ``dataset.datasets``), the
    first inner one's; [] when there is none."""
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    while 'pipeline' not in dataset:
        if 'dataset' in dataset:
            dataset = dataset['dataset']
        elif dataset.get('datasets'):
            dataset = dataset['datasets'][0]
        else:
            return []
    return list(dataset['pipeline'])


def loader_from_config(cfg: Config, channels: int):
    """The config's image loader (its training pipeline's first step when that
    is a loader, so 16-bit mappings match), with ``channels``."""
    pipeline = train_pipeline(cfg)
    if pipeline and pipeline[0].get('type') in LOADERS:
        step = dict(pipeline[0])
    else:
        step = dict(type='LoadThermalImage')
    if step['type'] == 'LoadThermalImage':
        step['to_channels'] = channels
    return TRANSFORMS.build(step)


def mask_transform_from_config(cfg: Config):
    """The training pipeline's ``IAMMaskGenerator``, or None."""
    for step in train_pipeline(cfg):
        if step.get('type') == 'IAMMaskGenerator':
            return TRANSFORMS.build(step)
    return None


def masking_label(cfg: Config, model: torch.nn.Module) -> str:
    """How the configured masks are made, e.g. ``'IAM intensity, stride S=4,
    descending (pipeline)'``."""
    generator = getattr(model, 'mask_generator', None)
    if generator is not None:
        how, where = generator, 'in-model'
    else:
        transform = mask_transform_from_config(cfg)
        if transform is None:
            return 'no masks configured'
        how, where = transform.masking, 'pipeline'
    order = 'descending' if how.descending else 'ascending'
    return (f'IAM {how.scorer}, {how.selection} S={how.stride}, {order} '
            f'({where})')


def load_images(paths: Sequence[str], loader,
                size: Union[int, str]) -> List[np.ndarray]:
    """Load images and cut them to model inputs.

    Args:
        paths (Sequence[str]): Image files.
        loader: A loading transform (``loader_from_config``).
        size (int | str): A square side (multiple of 16), or ``'full'`` for
            the whole frame centre-cropped to multiples of 16.

    Returns:
        list[np.ndarray]: (H, W, C) uint8 images.
    """
    images = []
    for path in paths:
        img = loader(dict(img_path=path))['img']
        if img.ndim == 2:
            img = img[..., None]
        img = fit_to_multiple(img) if size == 'full' else centre_square(
            img, int(size))
        images.append(
            np.ascontiguousarray(img if img.ndim == 3 else img[..., None]))
    return images


def size_groups(images: Sequence[np.ndarray],
                batch_size: int) -> List[List[int]]:
    """Indices of ``images`` in batches of equal size (full frames may differ),
    at most ``batch_size`` each, in first-seen order."""
    by_shape: Dict[Tuple[int, ...], List[int]] = {}
    for i, img in enumerate(images):
        by_shape.setdefault(img.shape, []).append(i)
    return [
        group[j:j + batch_size] for group in by_shape.values()
        for j in range(0, len(group), batch_size)
    ]


def pack_batch(model: torch.nn.Module,
               images: Sequence[np.ndarray],
               paths: Sequence[str],
               mask_transform=None) -> dict:
    """Normalised inputs and data samples (with the pipeline's masks and image
    paths) for equally sized (H, W, C) images."""
    inputs, samples = [], []
    for img, path in zip(images, paths):
        sample = DataSample(metainfo=dict(img_path=path))
        if mask_transform is not None:
            results = mask_transform(dict(img=img))
            sample.set_field(results[IAM_MASK_KEY], IAM_MASK_KEY)
        inputs.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
        samples.append(sample)
    return model.data_preprocessor(
        dict(inputs=torch.stack(inputs), data_samples=samples))


def reconstruct_images(
        model: torch.nn.Module,
        cfg: Config,
        paths: Sequence[str],
        size: Union[int, str],
        batch_size: int = 8,
        device: str = 'cpu') -> Tuple[List[dict], List[torch.Tensor]]:
    """Load, mask and reconstruct ``paths`` with ``model.predict``.

    Returns:
        tuple: Per image (in ``paths`` order) its ``reconstruction`` record
        (see ``ReconstructionPredictMixin.predict``) and its normalised input
        (1, C, H, W).

    Raises:
        ValueError: If neither the config's pipeline nor the model defines
            masks.
    """
    images = load_images(paths,
                         loader_from_config(cfg, model.backbone.in_channels),
                         size)
    mask_transform = mask_transform_from_config(cfg)
    if mask_transform is None and model.mask_generator is None:
        raise ValueError('The config has no IAMMaskGenerator in its training '
                         'pipeline and the model no mask_generator: nothing '
                         'defines the masks.')
    records: List[dict] = [None] * len(paths)
    inputs: List[torch.Tensor] = [None] * len(paths)
    for group in size_groups(images, batch_size):
        data = pack_batch(model, [images[i] for i in group],
                          [paths[i] for i in group], mask_transform)
        batch = data['inputs'].to(device)
        with torch.no_grad():
            samples = model.predict(batch, data['data_samples'])
        for j, (i, sample) in enumerate(zip(group, samples)):
            records[i] = sample.reconstruction
            inputs[i] = batch[j:j + 1]
    return records, inputs
