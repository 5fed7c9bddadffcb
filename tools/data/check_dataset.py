#!/usr/bin/env python
"""Check the train / val / test data of a config before training on it.

Builds every dataset the config's dataloaders name, with every check on:
each listed image and mask exists, the mask has its image's size and a
single channel (file headers), and, for IRSTD sets, every mask holds only
background and target values (full decode). Every defect is printed with
its file and the fix; the exit status is 1 when there is any (or a dataset
cannot be built), 0 otherwise.

Examples::

    python tools/data/check_dataset.py \\
        configs/irstd/irstd-head_infmae-base_1xb2-40k_sirst-v2-512x512.py
    python tools/data/check_dataset.py CONFIG \\
        --cfg-options train_dataloader.dataset.data_root=/data/sirst-v2/

IRSTD datasets (``IRSTD1kDataset`` and subclasses) run their own checks with
``check_mask_values=True`` (``--no-mask-values`` for headers only); other
segmentation datasets get the existence and header checks of their image /
mask pairs; datasets without masks (detection, classification) get the
existence check of their images.
"""
from __future__ import annotations
import argparse
import os.path as osp
import sys
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import DATASETS, init_default_scope

from infmae_mm.datasets.pair_checks import (DataDefect, DatasetDefectError,
                                            check_pair_headers, format_defects)

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Check every image / mask of the train, val and test '
        'datasets of a config; print each defect with its file and the fix '
        '(exit 1 when there is any).')
    p.add_argument('config', help='config file')
    p.add_argument(
        '--splits',
        nargs='+',
        choices=SPLITS,
        default=list(SPLITS),
        help='dataloaders to check (default: all three)')
    p.add_argument(
        '--no-mask-values',
        action='store_true',
        help='IRSTD sets: skip the full decode of the masks (headers only, '
        'as when a dataset is built for training)')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, xxx=yyy format (e.g. '
        'train_dataloader.dataset.data_root=/data/sirst-v2/)')
    return p.parse_args(argv)


def leaf_datasets(cfg: dict, where: str) -> Iterator[Tuple[str, dict]]:
    """``(config path, dataset config)`` of each dataset under wrappers."""
    if 'datasets' in cfg:  # ConcatDataset and the like
        for i, sub in enumerate(cfg['datasets']):
            yield from leaf_datasets(sub, f'{where}.datasets.{i}')
    elif 'dataset' in cfg and isinstance(cfg['dataset'], dict):
        yield from leaf_datasets(cfg['dataset'], f'{where}.dataset')
    else:
        yield where, cfg


def _generic_fix(key: str) -> Callable[[str, Dict[str, str]], str]:
    """Fixes for datasets without their own checks."""

    def fix(kind: str, sample: Dict[str, str]) -> str:
        if kind.startswith('missing'):
            return (f'put the file there, or correct {key}.data_root / '
                    'data_prefix / ann_file')
        if kind == 'size':
            return ('resize the mask to its image\'s size (nearest '
                    'neighbour) or re-export it')
        if kind == 'mask_channels':
            return 'save the mask as a single-channel PNG of class ids'
        return 'replace or re-export the file'

    return fix


def check_one(key: str, cfg: dict,
              mask_values: bool) -> Tuple[str, List[DataDefect], str]:
    """Build one dataset with its checks on.

    Returns:
        tuple: A one-line summary, the defects and an error message when
        the dataset cannot be built at all (else ``''``).
    """
    cfg = dict(cfg, pipeline=[])
    with DATASETS.switch_scope_and_registry(None) as registry:
        cls = registry.get(cfg['type']) if isinstance(cfg['type'], str) \
            else cfg['type']
    if cls is None:
        return '', [], (f'{key}.type: {cfg["type"]!r} is not a registered '
                        'dataset (is custom_imports set?)')
    own_checks = hasattr(cls, '_raise_defects')  # IRSTD1kDataset family
    if own_checks:
        cfg.update(check_files=True, check_mask_values=mask_values)
    name = getattr(cls, '__name__', str(cls))
    try:
        dataset = DATASETS.build(cfg)
    except DatasetDefectError as err:
        summary = err.source + (f' ({err.hint})' if err.hint else '')
        return summary, err.defects, ''
    except Exception as err:  # report, do not crash: other splits may run
        return '', [], f'{key} ({name}) cannot be built: ' \
            f'{type(err).__name__}: {err}'
    summary = f'{name} of {getattr(dataset, "ann_file", "") or "?"}: ' \
        f'{len(dataset)} samples'
    if own_checks:
        return summary, [], ''
    samples = [dataset.get_data_info(i) for i in range(len(dataset))]
    samples = [s for s in samples if 'img_path' in s]
    defects = check_pair_headers(samples, _generic_fix(key))
    return summary, defects, ''


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    seen: Dict[str, str] = {}
    all_defects: List[DataDefect] = []
    failures = 0
    for split in args.splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or 'dataset' not in loader:
            print(f'{split}: no {split}_dataloader.dataset in the config')
            continue
        for key, ds_cfg in leaf_datasets(
                loader['dataset'].to_dict() if hasattr(
                    loader['dataset'], 'to_dict') else loader['dataset'],
                f'{split}_dataloader.dataset'):
            fingerprint = repr(sorted(ds_cfg.items(), key=lambda kv: kv[0]))
            if fingerprint in seen:
                print(f'{key}: same dataset as {seen[fingerprint]}')
                continue
            seen[fingerprint] = key
            summary, defects, error = check_one(key, ds_cfg,
                                                not args.no_mask_values)
            if error:
                failures += 1
                print(f'{key}: ERROR {error}')
                continue
            status = f'{len(defects)} defect(s)' if defects else 'ok'
            print(f'{key}: {summary}: {status}')
            if defects:
                print(format_defects(defects))
            all_defects += defects
    files = len({d.path for d in all_defects})
    if all_defects or failures:
        print(f'\nFAILED: {len(all_defects)} defect(s) in {files} file(s)' +
              (f', {failures} dataset(s) not built' if failures else '') +
              f' ({osp.basename(args.config)}).')
        return 1
    print('\nAll checked datasets are free of defects.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
