"""Draw what information-aware masking keeps visible, per scorer and selection,
on infrared images (no model needed).

    python tools/visualization/show_masks.py --images data/ir_sample --num 4 \
        --size 224 --out docs/images/iam_stride_vs_top.png

One row per image: the input, then one column per masking (default: the
paper's intensity ranking with ``selection='stride'``, the same ranking with
``selection='top'``, and random masking), masked patches tinted. The row
title gives, for each masking, the share of the hottest 10% of patches (by
mean gray value) that stays visible; the same numbers are printed, with the
average over all images.
"""
import argparse
import sys
from typing import List

import numpy as np

from infmae_mm.datasets import IAMMaskGenerator
from infmae_mm.datasets.transforms import LoadThermalImage
from infmae_mm.evaluation.heldout import find_images, load_images
from infmae_mm.models.masking import IAM_MASK_KEY
from infmae_mm.visualization import overlay_mask, save_grid

#: (label, IAMMaskGenerator arguments) drawn by default.
MASKINGS = [
    ('intensity, stride (paper)', dict(scorer='intensity',
                                       selection='stride')),
    ('intensity, top', dict(scorer='intensity', selection='top')),
    ('random', dict(scorer='random')),
]


def parse_args(argv: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--images', nargs='+', required=True, help='image files or folders')
    parser.add_argument('--num', type=int, default=4)
    parser.add_argument(
        '--random',
        action='store_true',
        help='pick the images at random (with --seed)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--size', default='224', help="square side (multiple of 16) or 'full'")
    parser.add_argument('--stride', type=int, default=4)
    parser.add_argument('--out', default='iam_masks.png')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f'--num must be >= 1, got {args.num}')
    return args


def hot_visible_share(gray: np.ndarray,
                      token_mask: np.ndarray,
                      share: float = 0.1) -> float:
    """Fraction of the hottest ``share`` of 16x16 patches (by mean gray value)
    that the (h, w) token mask keeps visible."""
    h, w = token_mask.shape
    means = gray[:h * 16, :w * 16].reshape(h, 16, w, 16).mean((1, 3))
    order = np.argsort(-means.reshape(-1), kind='stable')
    hottest = order[:max(1, int(round(share * h * w)))]
    return float((token_mask.reshape(-1)[hottest] == 0).mean())


def main(argv: List[str] = None) -> int:
    args = parse_args(argv)
    try:
        paths = find_images(args.images, args.num, args.random, args.seed)
    except FileNotFoundError as err:
        sys.exit(str(err))
    images = load_images(paths, LoadThermalImage(), args.size)
    np.random.seed(args.seed)  # the random scorer draws from numpy's RNG
    rows, titles, shares = [], [], []
    for path, img in zip(paths, images):
        gray = img[..., 0]
        h, w = gray.shape[0] // 16, gray.shape[1] // 16
        row, share = [gray], []
        for _, kwargs in MASKINGS:
            gen = IAMMaskGenerator(stride=args.stride, **kwargs)
            mask = gen(dict(img=img))[IAM_MASK_KEY].mask.reshape(h, w)
            row.append(overlay_mask(gray, mask))
            share.append(hot_visible_share(gray.astype(float), mask))
        rows.append(row)
        shares.append(share)
        titles.append(
            path.rsplit('/', 1)[-1][-20:] + '\nhottest 10% vis.:\n' +
            '\n'.join(f'{s:.0%}' for s in share))
    mean = np.mean(shares, 0)
    for (label, _), m in zip(MASKINGS, mean):
        print(f'{label:<28} keeps {m:.0%} of the hottest 10% of patches '
              f'visible (mean of {len(paths)} images; '
              f'{1 / args.stride:.0%} of all patches visible)')
    save_grid(
        args.out,
        rows,
        col_titles=['input'] + [
            f'{label}\n{m:.0%} of hottest 10% visible'
            for (label, _), m in zip(MASKINGS, mean)
        ],
        row_titles=titles)
    print(f'Wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
