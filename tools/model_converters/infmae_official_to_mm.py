"""Convert an official InfMAE checkpoint to an infmae_mm checkpoint.

    python tools/model_converters/infmae_official_to_mm.py InfMAE.pth \
        checkpoints/infmae_vit-base-p16_official.pth

The official file is ``{'model': state_dict, ...}`` and may hold an
``argparse.Namespace``; it is read with an allow-list unpickler, so nothing in
it is executed. The result loads into the
``infmae_vit-base-p16-officialiam_*`` config with no missing or unexpected
keys (``--check CONFIG`` verifies that), and as a backbone with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import argparse
import os.path as osp
import sys

import torch

from infmae_mm.utils.checkpoint import extract_state_dict, safe_load_checkpoint
from infmae_mm.utils.io import atomic_open
from infmae_mm.utils.official import convert_official_state_dict


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (InfMAE.pth)')
    parser.add_argument('dst', help='output infmae_mm checkpoint')
    parser.add_argument(
        '--check',
        metavar='CONFIG',
        help='build the model of CONFIG and load the result strictly')
    return parser.parse_args()


def is_infmae_mm_state_dict(state_dict: dict) -> bool:
    """Whether the keys are this package's InfMAE names (``backbone.`` /
    ``neck.``), i.e. the file was written by a run or by this converter."""
    return any(
        k.startswith(('backbone.patch_embed1.', 'backbone.blocks3.'))
        for k in state_dict)


def check_against_config(state_dict: dict, config: str) -> None:
    """Load ``state_dict`` strictly into the model of ``config``."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SystemExit(f'{config} does not fit the converted weights:\n'
                         f'  missing: {result.missing_keys}\n'
                         f'  unexpected: {result.unexpected_keys}')
    print(f'{config}: all {len(state_dict)} tensors load strictly.')


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.src):
        sys.exit(f'No such checkpoint: {args.src}')
    checkpoint = safe_load_checkpoint(args.src)
    source = extract_state_dict(checkpoint, keys=('model', 'state_dict'))
    if is_infmae_mm_state_dict(source):
        sys.exit(f'{args.src} is already an infmae_mm checkpoint (keys '
                 f'{", ".join(sorted(source)[:3])}, ...): it needs no '
                 'conversion. Give it as model.backbone.init_cfg.checkpoint '
                 '(with prefix=\'backbone.\') or to load_from / the tools '
                 'as it is.')
    try:
        state_dict = convert_official_state_dict(source)
    except KeyError as err:
        sys.exit(f'{args.src} is not an official InfMAE checkpoint: '
                 f'{err.args[0]}')
    if args.check:
        check_against_config(state_dict, args.check)
    meta = dict(
        source=osp.basename(args.src),
        converter='infmae_official_to_mm',
        epoch=checkpoint.get('epoch')
        if isinstance(checkpoint, dict) else None)
    with atomic_open(args.dst, 'wb') as f:
        torch.save(dict(state_dict=state_dict, meta=meta), f)
    print(f'Wrote {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
