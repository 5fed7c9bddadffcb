#!/usr/bin/env python
"""Curate raw infrared image folders into a pre-training set, like Inf30.

Drops unreadable files, images whose width and height are both under
``--min-side`` pixels and near-duplicates of a kept image (re-encoded,
resized, brighter, other bit depth, or moved like video frames: shifted or
cropped by up to ~10%, zoomed by up to ~10%), then writes into OUT_DIR:

* ``manifest.txt``: the kept images, one path per line relative to OUT_DIR
  (read by the config ``configs/pretrain/infmae_vit-base-p16_4xb64-amp-``
  ``coslr-400e_ir-manifest.py`` with ``data_root=OUT_DIR``);
* ``curation_report.csv``: every input and why it was dropped;
* ``stats.txt``, ``stats.json``, ``stats.png``: information entropy (paper,
  equation 1), resolutions, counts per source;
* ``curation_state.jsonl``: the journal that ``--resume`` continues from;
* ``images/`` with ``--copy``, ``--link`` or ``--symlink``.

Examples::

    T=tools/data/curate_pretrain_data.py
    python $T data/raw/flir data/raw/kaist --out data/curated --workers 4
    python $T data/raw/flir data/raw/kaist --out data/curated --resume
    python $T data/raw/flir --out data/curated --copy --crop-borders
    python $T data/curated/manifest.txt --stats-only --out work_dirs/stats

The exit status is 1 when no image is kept (every input unreadable or too
small): an empty manifest cannot be trained on.

See :mod:`infmae_mm.curation` for the measures and why.
"""
from __future__ import annotations
import argparse
import sys
from collections import Counter
from typing import List, Optional

from infmae_mm import curation


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Curate raw infrared image folders into a pre-training '
        'set (Inf30 recipe): drop unreadable, tiny and near-duplicate images,'
        ' write a manifest, a report and statistics.')
    p.add_argument(
        'inputs',
        nargs='+',
        metavar='RAW_DIR',
        help='raw image folders, searched recursively for ' +
        ' '.join(curation.IMAGE_SUFFIXES) + '; with '
        '--stats-only also manifest files')
    p.add_argument(
        '--out', required=True, metavar='OUT_DIR', help='output folder')
    p.add_argument(
        '--min-side',
        type=int,
        default=curation.DEFAULT_MIN_SIDE,
        help='drop images whose width and height are both under '
        'this many pixels (default: %(default)s, as the paper)')
    p.add_argument(
        '--dedup-threshold',
        type=int,
        default=curation.DEFAULT_DEDUP_THRESHOLD,
        help='largest Hamming distance (of 64 bits) between '
        'window hashes that makes a kept image a near-duplicate '
        'candidate (default: %(default)s; larger finds more '
        'candidates and costs more comparisons; negative: keep '
        'near-duplicates)')
    p.add_argument(
        '--min-similarity',
        type=float,
        default=curation.DEFAULT_MIN_SIMILARITY,
        help='smallest shift- and scale-tolerant similarity '
        '(0-1) of a candidate that makes it a near-duplicate '
        '(default: %(default)s)')
    p.add_argument(
        '--crop-borders',
        action='store_true',
        help='crop constant borders (black bars, padding) before '
        'measuring; with --copy the cropped image is written; '
        'the crop box of each image is in the report')
    place = p.add_mutually_exclusive_group()
    place.add_argument(
        '--copy',
        dest='transfer',
        action='store_const',
        const='copy',
        help='copy kept files to OUT_DIR/images')
    place.add_argument(
        '--link',
        dest='transfer',
        action='store_const',
        const='hardlink',
        help='hard-link kept files to '
        'OUT_DIR/images (symbolic links across file systems)')
    place.add_argument(
        '--symlink',
        dest='transfer',
        action='store_const',
        const='symlink',
        help='symbolic-link kept files to '
        'OUT_DIR/images')
    p.add_argument(
        '--resume',
        action='store_true',
        help='reuse the analyses journalled in OUT_DIR by an '
        'earlier or interrupted run (unchanged files only)')
    p.add_argument(
        '--workers',
        type=int,
        default=1,
        help='processes decoding images (default: %(default)s)')
    p.add_argument(
        '--stats-only',
        action='store_true',
        help='only write statistics of the folders/manifests, '
        'without filtering')
    p.add_argument(
        '--data-root',
        default=None,
        help='with --stats-only: root of the manifest paths '
        "(default: the manifest's folder)")
    p.add_argument(
        '--quiet',
        action='store_true',
        help='no progress line, only the table')
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error('--workers must be >= 1')
    if args.min_side < 0:
        p.error('--min-side must be >= 0')
    if args.stats_only and args.transfer:
        p.error('--stats-only does not copy or link files')
    if not 0.0 <= args.min_similarity <= 1.0:
        p.error('--min-similarity must be in [0, 1]')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    verbose = not args.quiet
    try:
        if args.stats_only:
            stats = curation.dataset_statistics(
                args.inputs,
                args.out,
                data_root=args.data_root,
                resume=args.resume,
                workers=args.workers,
                verbose=verbose)
            print(curation.format_statistics(stats), end='')
            return 0
        result = curation.curate(
            args.inputs,
            args.out,
            min_side=args.min_side,
            dedup_threshold=args.dedup_threshold,
            transfer=args.transfer,
            resume=args.resume,
            workers=args.workers,
            verbose=verbose,
            min_similarity=args.min_similarity,
            crop_borders=args.crop_borders)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(curation.format_statistics(result.statistics), end='')
    print(f'\nmanifest: {result.manifest} ({len(result.kept)} images)\n'
          f'report:   {result.report}\n'
          f'{len(result.decisions)} inputs in {result.seconds:.1f} s '
          f'({len(result.decisions) / max(result.seconds, 1e-9):.1f} img/s): '
          f'{result.analysed} analysed, {result.reused} reused from the '
          'journal')
    if result.decisions and not result.kept:
        # A manifest without a line would only fail later, at training.
        reasons = Counter(d.reason for d in result.decisions)
        why = ', '.join(f'{n} {reason}' for reason, n in reasons.most_common())
        print(
            f'error: no image was kept ({why}): the manifest '
            f'{result.manifest} is empty and cannot be trained on. See '
            f'{result.report} for each file and its reason; give as RAW_DIR '
            'folders of readable images (or lower --min-side).',
            file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
