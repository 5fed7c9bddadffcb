#!/usr/bin/env python
"""Generate small synthetic infrared datasets (no network or real data).

Examples::

    T=tools/data/generate_sample_data.py
    python $T pretrain data/sample/pretrain --num 64 --size 224 224
    python $T pretrain data/sample/raw16 --bit-depth 16
    python $T msrs data/sample/MSRS --num 8 --size 240 320
    python $T m3fd data/sample/M3FD --num 12 --size 384 512
    python $T irstd data/sample/IRSTD-1k --num 8

``--num`` is the number of pre-training images, M3FD images, MSRS training
pairs or IRSTD train/val images; the test splits get ``--num-test`` images
(default: half of ``--num``, at least 1).
"""
from __future__ import annotations
import argparse
import os
import sys
import time
from typing import List, Optional

from infmae_mm import testing as syn
from infmae_mm.datasets.metainfo import M3FD_CLASSES, MSRS_CLASSES

DEFAULT_NUM = {'pretrain': 64, 'msrs': 8, 'm3fd': 12, 'irstd': 8}
DEFAULT_SIZE = {
    'pretrain': (256, 256),
    'msrs': (480, 640),
    'm3fd': (768, 1024),
    'irstd': (512, 512)
}

#: Smallest image side written (one 16-pixel token).
MIN_SIDE = 16


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Write synthetic infrared-like sample datasets laid out '
        'like the real ones (pre-training folder, MSRS, M3FD, IRSTD-1k).')
    p.add_argument(
        'kind',
        choices=sorted(DEFAULT_NUM),
        help='which dataset layout to write')
    p.add_argument('out_dir', metavar='OUT_DIR', help='output folder')
    p.add_argument(
        '--num',
        type=int,
        default=None,
        help='number of images (train/trainval split for msrs and '
        'irstd); default: ' +
        ', '.join(f'{k} {v}' for k, v in sorted(DEFAULT_NUM.items())))
    p.add_argument(
        '--num-test',
        type=int,
        default=None,
        help='test images for msrs/irstd (default: half of --num)')
    p.add_argument(
        '--size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=None,
        help='image size (default: the real '
        "dataset's: pretrain 256x256, msrs 480x640, m3fd "
        '768x1024, irstd 512x512)')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument(
        '--bit-depth',
        type=int,
        choices=(8, 16),
        default=8,
        help='8-bit or 16-bit radiometric-like images '
        '(pretrain only)')
    args = p.parse_args(argv)
    if args.bit_depth != 8 and args.kind != 'pretrain':
        p.error('--bit-depth 16 is only supported for "pretrain"')
    if args.num is not None and args.num < 0:
        p.error('--num must be >= 0')
    if args.num_test is not None and args.num_test < 0:
        p.error('--num-test must be >= 0')
    if args.size is not None and min(args.size) < MIN_SIDE:
        # The scene drawers need room (8x8 pre-training or IRSTD images
        # failed inside numpy), and the models take multiples of 16.
        p.error(f'--size must be at least {MIN_SIDE} {MIN_SIDE} (the models '
                f'take sides that are multiples of 16), got '
                f'{args.size[0]} {args.size[1]}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    num = DEFAULT_NUM[args.kind] if args.num is None else args.num
    num_test = max(1, num // 2) if args.num_test is None else args.num_test
    size = tuple(args.size) if args.size else DEFAULT_SIZE[args.kind]
    out = args.out_dir
    t0 = time.perf_counter()
    if args.kind == 'pretrain':
        paths = syn.write_pretrain_folder(
            out,
            num_images=num,
            size=size,
            seed=args.seed,
            bit_depth=args.bit_depth)
        by_dir = {}
        for pth in paths:
            d = os.path.relpath(os.path.dirname(pth), out)
            by_dir[d] = by_dir.get(d, 0) + 1
        print(f'pretrain: wrote {len(paths)} {args.bit_depth}-bit images of '
              f'{size[0]}x{size[1]} to {out}')
        for d, n in sorted(by_dir.items()):
            print(f'  {os.path.join(out, d)}/  {n} images')
    elif args.kind == 'msrs':
        split = syn.write_msrs_like(
            out, num_train=num, num_test=num_test, size=size, seed=args.seed)
        print(f'msrs: wrote MSRS-like segmentation data ({size[0]}x{size[1]}, '
              f'{len(MSRS_CLASSES)} classes) to {out}')
        for s, stems in split.items():
            print(f'  {os.path.join(out, s, "ir")}/  {len(stems)} images')
            print(f'  {os.path.join(out, s, "Segmentation_labels")}/  '
                  f'{len(stems)} label maps')
    elif args.kind == 'm3fd':
        stems = syn.write_m3fd_like(
            out, num_images=num, size=size, seed=args.seed)
        print(f'm3fd: wrote M3FD-like detection data ({size[0]}x{size[1]}, '
              f'classes {", ".join(M3FD_CLASSES)}) to {out}')
        print(f'  {os.path.join(out, "Ir")}/  {len(stems)} images')
        print(f'  {os.path.join(out, "Annotation")}/  {len(stems)} VOC xml')
    else:
        split = syn.write_irstd_like(
            out,
            num_trainval=num,
            num_test=num_test,
            size=size,
            seed=args.seed)
        n = sum(len(v) for v in split.values())
        print(f'irstd: wrote IRSTD-1k-like small-target data '
              f'({size[0]}x{size[1]}) to {out}')
        print(f'  {os.path.join(out, "images")}/  {n} images')
        print(f'  {os.path.join(out, "masks")}/  {n} masks (0/255)')
        for s, stems in split.items():
            print(f'  {os.path.join(out, s + ".txt")}  {len(stems)} stems')
    print(f'done in {time.perf_counter() - t0:.2f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
