#!/usr/bin/env python
"""Convert the M3FD infrared release (Pascal VOC) to COCO JSON for mmdet.

Example::

    python tools/dataset_converters/m3fd_to_coco.py data/M3FD data/M3FD \\
        --val-ratio 0.2 --seed 0 --split scene

reads ``data/M3FD/{Ir,Annotation}`` and writes
``data/M3FD/annotations/m3fd_inf_{all,train,val}.json`` and
``data/M3FD/splits/{train,val}.txt``, then prints a summary (images and
annotations per class and split, skipped items by reason). Every skipped
file or object is also reported on its own line.

The default split is ``scene``: M3FD's images are frames of video
sequences, so a random split leaks near-identical frames from train into
val; the scene split keeps consecutive similar frames (and runs of
consecutive stem numbers) together. ``--split random`` is there for
comparison with papers that split at random. Category ids are 1..6 for
People, Car, Bus, Motorcycle, Lamp, Truck; boxes are
``[xmin, ymin, xmax - xmin, ymax - ymin]`` clipped to the image. The full
rules are in :mod:`infmae_mm.converters.m3fd`.
"""
from __future__ import annotations
import argparse
import sys
from typing import List, Optional

from infmae_mm.converters.m3fd import (DEFAULT_SCENE_THRESHOLD, SPLIT_METHODS,
                                       convert_m3fd, format_summary)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Convert M3FD (Ir/*.png + Annotation/*.xml, Pascal VOC) '
        'to COCO JSON with a deterministic train/val split.')
    p.add_argument(
        'root', metavar='M3FD_ROOT', help='folder holding Ir/ and Annotation/')
    p.add_argument(
        'out_dir',
        metavar='OUT_DIR',
        help='output folder (annotations/ and splits/ go here)')
    p.add_argument(
        '--val-ratio',
        type=float,
        default=0.2,
        help='fraction of images for val, in (0, 1) (default 0.2)')
    p.add_argument('--seed', type=int, default=0, help='split seed')
    p.add_argument(
        '--split',
        choices=SPLIT_METHODS,
        default='scene',
        help='scene: whole scenes of consecutive similar frames '
        '(default; keeps near-duplicate frames on one side); '
        'random: single images')
    p.add_argument(
        '--min-box-size',
        type=float,
        default=1.0,
        help='drop boxes narrower or lower than this many pixels '
        'after clipping (default 1)')
    p.add_argument(
        '--scene-threshold',
        type=float,
        default=DEFAULT_SCENE_THRESHOLD,
        help='scene split: consecutive frames whose similarity '
        "(curation's shift-tolerant near-duplicate measure, 0..1)"
        ' is below this start a new scene (default %(default)s)')
    args = p.parse_args(argv)
    if not 0.0 < args.val_ratio < 1.0:
        p.error('--val-ratio must be in (0, 1)')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        report = convert_m3fd(
            args.root,
            args.out_dir,
            val_ratio=args.val_ratio,
            seed=args.seed,
            split=args.split,
            min_box_size=args.min_box_size,
            scene_threshold=args.scene_threshold)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(format_summary(report))
    for path in report.outputs:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
