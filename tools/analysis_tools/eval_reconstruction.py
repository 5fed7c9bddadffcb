"""Held-out reconstruction quality of a pre-training checkpoint.

    python tools/analysis_tools/eval_reconstruction.py CONFIG CHECKPOINT \
        --images data/heldout [--num 30] [--size 224 | --size full] \
        [--out work_dirs/heldout.json]

Reconstructs every image with the configured masks (the config's IAM,
deterministic per image) and with a random mask of the same visible count
seeded by the file name, and prints the masked-patch MSE (gray levels
squared) and PSNR (dB, peak 255) of the model beside three trivial fills:
the mean of the visible pixels, the row-wise mean of the visible pixels and
OpenCV's inpainting of the masked pixels. The JSON (written atomically) holds
the averages and the per-image numbers. Numbers are comparable across
checkpoints and runs for the same images, size and config.

The arguments shared with ``tools/visualization/show_reconstruction.py``
are defined here (``add_heldout_arguments``); the scores are
``ReconstructionMetric``'s, the validation metric.

Works for every pre-training algorithm that reconstructs pixels (InfMAE and
its variants); for one that does not (UNIP distils attention) it says so and
exits with status 0 without measuring.
"""
import argparse
import json
import sys
from typing import List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction

from infmae_mm.evaluation import (FILLS, ReconstructionMetric, summarize,
                                  summary_table)
from infmae_mm.evaluation.heldout import (build_model, find_images,
                                          masking_label, reconstruct_images)
from infmae_mm.models.selfsup.reconstruction_predict import \
    ReconstructionPredictMixin
from infmae_mm.utils.checkpoint import CheckpointMismatchError
from infmae_mm.utils.io import atomic_write_text


def add_heldout_arguments(parser: argparse.ArgumentParser,
                          default_num: Optional[int]) -> None:
    """The arguments the held-out tools share: CONFIG, CHECKPOINT,
    ``--images``, ``--num``, ``--random``, ``--seed``, ``--size``,
    ``--device`` and ``--cfg-options``."""
    parser.add_argument('config')
    parser.add_argument(
        'checkpoint',
        help="checkpoint, or 'none' for freshly initialised weights")
    parser.add_argument(
        '--images', nargs='+', required=True, help='image files or folders')
    parser.add_argument(
        '--num',
        type=int,
        default=default_num,
        help='how many images (default: '
        f'{"all" if default_num is None else default_num})')
    parser.add_argument(
        '--random',
        action='store_true',
        help='pick --num images at random (with --seed) instead of the '
        'first ones in sorted order')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--size',
        default='224',
        help='square side (a multiple of 16; short side resized, centre '
        "crop) or 'full' (whole frames centre-cropped to multiples of 16)")
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as for the training tools')


def parse_heldout_args(
        parser: argparse.ArgumentParser,
        argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse, checking ``--size`` and ``--num``."""
    args = parser.parse_args(argv)
    if args.size != 'full' and not args.size.isdigit():
        parser.error(f"--size must be an integer or 'full', got {args.size}")
    if args.num is not None and args.num < 1:
        parser.error(f'--num must be >= 1 (or left out for every image), '
                     f'got {args.num}')
    return args


def load_config(args: argparse.Namespace) -> Config:
    """``args.config`` with ``args.cfg_options`` merged."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def parse_args(argv: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_heldout_arguments(parser, default_num=None)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parse_heldout_args(parser, argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    return args


def main(argv: List[str] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args)
    try:
        model = build_model(cfg, args.checkpoint, args.device)
    except CheckpointMismatchError as err:
        sys.exit(f'error: {err}')
    if not isinstance(model, ReconstructionPredictMixin):
        reason = (f'{type(model).__name__} does not reconstruct pixels (e.g. '
                  f"UNIP distils a teacher's attention), so held-out "
                  f'reconstruction quality does not apply; skipped.')
        print(reason)
        if args.out:
            atomic_write_text(
                args.out,
                json.dumps(dict(skipped=reason, config=args.config), indent=2)
                + '\n')
        return 0
    try:
        paths = find_images(args.images, args.num, args.random, args.seed)
        records, _ = reconstruct_images(model, cfg, paths, args.size,
                                        args.batch_size, args.device)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))
    # Scored as the validation loop scores them (its table is printed
    # below, with the masking).
    metric = ReconstructionMetric()
    metric.process(None, [dict(reconstruction=r) for r in records])
    metrics = summarize(metric.results)
    per_image = [
        dict(path=path, **scores)
        for path, scores in zip(paths, metric.results)
    ]
    label = masking_label(cfg, model)
    size = 'full frames' if args.size == 'full' else \
        f'{args.size}x{args.size}'
    print(f'{args.checkpoint}: {len(per_image)} images ({size}); iam = '
          f'{label}; random = seeded random, same visible count')
    print(
        summary_table(metrics, ['iam', 'random'], ['model', *FILLS],
                      len(per_image)))
    if args.out:
        atomic_write_text(
            args.out,
            json.dumps(
                dict(
                    config=args.config,
                    checkpoint=args.checkpoint,
                    masking=dict(iam=label, random='seeded per file name'),
                    size=args.size,
                    num_images=len(per_image),
                    metrics=metrics,
                    images=per_image),
                indent=2) + '\n')
        print(f'Wrote {args.out}')
    return 0


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    sys.exit(main())
