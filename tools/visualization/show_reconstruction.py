"""Draw a pre-training model's masks and reconstructions as a PNG grid.

    python tools/visualization/show_reconstruction.py CONFIG CHECKPOINT \
        --images data/ir_sample --num 6 [--size 224 | --size full] \
        [--random --seed 0] [--masks iam|random] --out work_dirs/recon.png

One row per image: the input; its mask (masked patches tinted; the column is
titled with the configured scorer and selection); the model's prediction
where the loss is defined, i.e. on the masked patches only (visible patches
are greyed out: the model is not trained to reproduce them); the prediction
pasted into the visible input; and, for comparison, the best trivial fill
(OpenCV inpainting) pasted the same way. The row title gives the image's
masked-patch MSE (gray levels^2) and PSNR of the model and of each fill
(mean of the visible pixels, row-wise mean, inpainting), also printed.
Last, the per-patch gray-histogram entropy map (DuGI-MAE's masking
criterion, 0-8 bits) and, for models with a DuGI-MAE frequency bridge, the
AFDM filter response and the frequency path's output (titled with what it
sees: the full image or only the visible patches).

``--size full`` takes whole frames centre-cropped to multiples of 16;
``--size N`` resizes the short side to N and takes the centre square.
"""
import argparse
import importlib.util
import os.path as osp
import sys
from typing import List

import numpy as np
import torch

from infmae_mm.evaluation import FILLS, image_scores, psnr
from infmae_mm.evaluation.heldout import (build_model, find_images,
                                          masking_label, reconstruct_images)
from infmae_mm.evaluation.reconstruction import inpaint_fill
from infmae_mm.models.selfsup.reconstruction_predict import \
    ReconstructionPredictMixin
from infmae_mm.utils.checkpoint import CheckpointMismatchError
from infmae_mm.visualization import overlay_mask, save_grid
from infmae_mm.visualization.frequency_views import view_cells, view_titles

FILL_LABELS = dict(
    visible_mean='vis. mean', row_mean='row mean', inpaint='inpaint')


def _eval_tool():
    """``tools/analysis_tools/eval_reconstruction.py``, whose held-out
    arguments this tool shares."""
    path = osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'analysis_tools',
        'eval_reconstruction.py')
    spec = importlib.util.spec_from_file_location('eval_reconstruction', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EVAL_TOOL = _eval_tool()


def parse_args(argv: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    EVAL_TOOL.add_heldout_arguments(parser, default_num=6)
    parser.add_argument(
        '--masks',
        choices=('iam', 'random'),
        default='iam',
        help='draw the configured masks or the seeded random ones')
    parser.add_argument('--out', default='reconstruction.png')
    return EVAL_TOOL.parse_heldout_args(parser, argv)


def to_uint8(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.round(gray), 0, 255).astype(np.uint8)


def masked_only(pred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The prediction on masked pixels; visible pixels a flat mid-gray with a
    blue tint (no loss there)."""
    shown = np.where(mask, to_uint8(pred), 128).astype(np.uint8)
    return overlay_mask(shown, ~mask, color=(160, 90, 40), alpha=0.6)


def main(argv: List[str] = None) -> int:
    args = parse_args(argv)
    cfg = EVAL_TOOL.load_config(args)
    try:
        model = build_model(cfg, args.checkpoint, args.device)
    except CheckpointMismatchError as err:
        sys.exit(f'error: {err}')
    if not isinstance(model, ReconstructionPredictMixin):
        print(f'{type(model).__name__} does not reconstruct pixels (e.g. '
              f'UNIP distils attention): there is no reconstruction to draw.')
        return 0
    try:
        paths = find_images(args.images, args.num, args.random, args.seed)
        # inputs: each image normalised (1, C, H, W), for the extra views.
        records, inputs = reconstruct_images(
            model, cfg, paths, args.size, device=args.device)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))
    label = masking_label(cfg, model) if args.masks == 'iam' else \
        'random (seeded per file), same visible count'

    rows, titles = [], []
    print(f'masks: {label}')
    print(f'{"image":<28}' +
          ''.join(f'{m:>18}' for m in ['model', *FILL_LABELS.values()]) +
          '   (masked-patch MSE, gray levels^2 / PSNR dB)')
    for path, record, image in zip(paths, records, inputs):
        target = record['target'].numpy()
        pred = record[args.masks]['pred'].numpy()
        mask = record[args.masks]['mask'].numpy()
        scores = image_scores(target, {'model': pred}, mask)
        cells = {
            m: f'{scores[m]:.0f} / {psnr(scores[m]):.1f}'
            for m in ['model', *FILLS]
        }
        name = path.rsplit('/', 1)[-1]
        print(f'{name[-28:]:<28}' + ''.join(f'{cells[m]:>18}'
                                            for m in ['model', *FILLS]))
        titles.append(
            '\n'.join([name[-20:], f'model {cells["model"]}'] +
                      [f'{FILL_LABELS[f]} {cells[f]}' for f in FILLS]))
        gray = to_uint8(target)
        rows.append([
            gray,
            overlay_mask(gray, mask),
            masked_only(pred, mask),
            to_uint8(np.where(mask, pred, target)),
            to_uint8(inpaint_fill(target, mask)),
            # Entropy map; for DuGI-MAE the AFDM response and output.
            *view_cells(model, image, gray,
                        torch.from_numpy(mask[::16, ::16]).reshape(1, -1)),
        ])
    save_grid(
        args.out,
        rows,
        col_titles=[
            'input', 'mask: ' +
            label.replace(', desc', '\ndesc').replace(', asc', '\nasc'),
            'model (masked patches)', 'model + visible input',
            'inpaint fill + visible', *view_titles(model)
        ],
        row_titles=titles)
    print(f'Wrote {args.out} ({len(rows)} images; MSE / PSNR per image in '
          f'the row titles)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
