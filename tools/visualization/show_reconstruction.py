"""Draw InfMAE's masks and reconstructions as a PNG grid.

    python tools/visualization/show_reconstruction.py CONFIG CHECKPOINT \
        --images data/ir_sample --num 6 --out work_dirs/reconstruction.png

One row per image: the input, its information-aware mask (masked patches
tinted), the model's reconstruction, and the reconstruction with the visible
patches pasted back from the input. Masks come from the config's pipeline
``IAMMaskGenerator`` (or the model's in-model ``mask_generator``).
"""
import argparse
import os
import os.path as osp
import sys
from typing import List

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

from infmae_mm.datasets.image_decoding import stretch_to_uint8
from infmae_mm.models.selfsup.infmae import MASK_KEYS
from infmae_mm.utils.checkpoint import (describe_incompatible_keys,
                                        load_checkpoint_to_model)
from infmae_mm.visualization import overlay_mask, save_grid

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.pgm')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint, or 'none' for "
                        'freshly initialised weights')
    parser.add_argument(
        '--images', nargs='+', required=True, help='image files or folders')
    parser.add_argument('--num', type=int, default=6, help='images to draw')
    parser.add_argument(
        '--size', type=int, default=224, help='side of the square crop')
    parser.add_argument('--out', default='reconstruction.png')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as for the training tools')
    return parser.parse_args()


def collect_images(paths: List[str], num: int) -> List[str]:
    files = []
    for path in paths:
        if osp.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                files += [
                    osp.join(root, n) for n in sorted(names)
                    if n.lower().endswith(IMAGE_SUFFIXES)
                ]
        elif osp.isfile(path):
            files.append(path)
        else:
            sys.exit(f'No such image or folder: {path}')
    if not files:
        sys.exit(f'No images ({", ".join(IMAGE_SUFFIXES)}) found in {paths}.')
    return files[:num]


def load_square(path: str, size: int, channels: int) -> np.ndarray:
    """Centre-crop to a square and resize; returns (size, size, channels)."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        sys.exit(f'Cannot read image {path} (corrupt or unsupported).')
    if img.dtype != np.uint8:
        img = stretch_to_uint8(img, *np.percentile(img, (0.5, 99.5)))
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    h, w = img.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top:top + side, left:left + side]
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.repeat(img[..., None], channels, axis=2)


def find_mask_transform(cfg: Config):
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get(
        'pipeline', [])
    for step in pipeline:
        if step.get('type') == 'IAMMaskGenerator':
            return TRANSFORMS.build(step)
    return None


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    if args.checkpoint.lower() == 'none':
        model.init_weights()
    else:
        # The safe loader: mmengine's load_checkpoint unpickles with a bare
        # torch.load, which runs whatever a crafted file asks for.
        result = load_checkpoint_to_model(model, args.checkpoint)
        if result.missing_keys or result.unexpected_keys:
            print(f'{args.checkpoint} does not match the model exactly:\n' +
                  describe_incompatible_keys(result))
    model.to(args.device).eval()

    channels = model.backbone.in_channels
    mask_transform = find_mask_transform(cfg)
    if mask_transform is None and model.mask_generator is None:
        sys.exit('The config has no IAMMaskGenerator in its pipeline and the '
                 'model no mask_generator: nothing defines the masks.')
    inputs, samples, grays = [], [], []
    for path in collect_images(args.images, args.num):
        img = load_square(path, args.size, channels)
        grays.append(img[..., 0])
        sample = DataSample()
        if mask_transform is not None:
            results = mask_transform(dict(img=img))
            for key in MASK_KEYS:
                sample.set_field(torch.from_numpy(results[key]), key)
        inputs.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
        samples.append(sample)

    data = model.data_preprocessor(
        dict(inputs=torch.stack(inputs), data_samples=samples))
    out = model.reconstruct(data['inputs'], data['data_samples'])
    preproc = model.data_preprocessor
    mean = preproc.mean.mean().item() if preproc._enable_normalize else 0.
    std = preproc.std.mean().item() if preproc._enable_normalize else 1.

    def to_uint8(t: torch.Tensor) -> np.ndarray:
        img = t.mean(0).cpu().numpy() * std + mean
        return np.clip(img, 0, 255).astype(np.uint8)

    rows = []
    for i, gray in enumerate(grays):
        pixel_mask = out['mask'][i, 0].cpu().numpy()
        recon = to_uint8(out['pred'][i])
        pasted = np.where(pixel_mask > 0, recon, gray).astype(np.uint8)
        rows.append([gray, overlay_mask(gray, pixel_mask), recon, pasted])
    save_grid(
        args.out,
        rows,
        col_titles=['input', 'IAM mask', 'reconstruction',
                    'recon. + visible'])
    print(f'Wrote {args.out} ({len(rows)} images)')


if __name__ == '__main__':
    main()
