"""Convert a released UNIP student to an mmpretrain/mmseg ViT checkpoint.

    python tools/model_converters/unip_to_mm.py \
        unip_vit_small_by_mae_large.pth \
        checkpoints/unip_vit-small-p16_mae-large-l18_mm.pth \
        --img-size 512 \
        --check configs/seg/unip_vit-small-p16-llfpn_upernet_2xb4-amp-14k_soda-512x512.py  # noqa: E501

The released files (Hugging Face ``casiatao/UNIP``) are full training
checkpoints: the student under ``model`` (timm names, 150 tensors), the
optimiser state, and an ``argparse.Namespace``. They are read with the
package's allow-list unpickler (the Namespace becomes plain data; nothing in
the file runs). The student is written as the ``backbone.`` of an
mmpretrain ``VisionTransformer`` (which mmseg and mmdet configs use through
``type='mmpretrain.VisionTransformer'``): names mapped, the position table
resized bicubically to the fine-tuning grid with its cls row kept, layer
scales of 1 added (the official fine-tuning ViT's ``init_values=1.``), the
final norm dropped (``--keep-final-norm`` keeps it), and
the qkv weights kept as they are (the distilled last block had 16 heads;
the fine-tuning model reads the same weights with its own head count).
``--check CONFIG`` builds that config's backbone and loads the result
strictly. The optimiser state is dropped.
"""
import argparse
import importlib
import os.path as osp
import sys

import torch

from infmae_mm.models.backbones.vit_weights import (adapt_vit_state_dict,
                                                    select_vit_state_dict)
from infmae_mm.utils.checkpoint import safe_load_checkpoint
from infmae_mm.utils.io import atomic_open


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='released UNIP checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs='+',
        default=None,
        help='fine-tuning input size (one value or H W) for the position '
        'table; default: keep the 224 table (the model resizes on load)')
    parser.add_argument(
        '--patch-size', type=int, default=16, help='patch size (16)')
    parser.add_argument(
        '--layer-scale-init',
        type=float,
        default=1.0,
        help='value of the layer scales added for a BEiT-style fine-tuning '
        'ViT (layer_scale_init_value); 0 adds none')
    parser.add_argument(
        '--keep-final-norm',
        action='store_true',
        help='keep the final norm (for a ViT with final_norm=True); by '
        'default it is dropped: LL-FPN and linear probing read the blocks '
        'without it, and UNIP pre-training never trained it')
    parser.add_argument(
        '--check',
        metavar='CONFIG',
        help="build CONFIG's backbone and load the result strictly")
    return parser.parse_args()


def check_against_config(state_dict: dict, config: str) -> None:
    """Load the ``backbone.`` tensors strictly into CONFIG's backbone."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    backbone_cfg = dict(cfg.model.backbone)
    backbone_cfg.pop('init_cfg', None)
    backbone = registry.build(backbone_cfg)
    own = {
        k[len('backbone.'):]: v
        for k, v in state_dict.items() if k.startswith('backbone.')
    }
    expected = backbone.state_dict()
    for key in ('pos_embed', ):
        if key in own and key in expected and \
                own[key].shape != expected[key].shape:
            raise SystemExit(
                f'{key} is {tuple(own[key].shape)}, {config} expects '
                f'{tuple(expected[key].shape)}: convert with --img-size '
                f'matching the backbone img_size.')
    result = backbone.load_state_dict(own, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SystemExit(f'{config} does not fit the converted weights:\n'
                         f'  missing: {result.missing_keys}\n'
                         f'  unexpected: {result.unexpected_keys}')
    print(f'{config}: all {len(own)} backbone tensors load strictly.')


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.src):
        sys.exit(f'No such checkpoint: {args.src}')
    checkpoint = safe_load_checkpoint(args.src)
    student = select_vit_state_dict(checkpoint)
    grid = None
    if args.img_size is not None:
        if len(args.img_size) not in (1, 2):
            sys.exit('--img-size takes one value or H W')
        h, w = args.img_size * 2 if len(args.img_size) == 1 else args.img_size
        grid = (h // args.patch_size, w // args.patch_size)
    student = adapt_vit_state_dict(
        student,
        grid=grid,
        layer_scale_init=args.layer_scale_init,
        drop_final_norm=not args.keep_final_norm)
    dropped = sorted(k for k in student if k.startswith(('head.', 'fc_norm')))
    state_dict = {
        f'backbone.{k}': v
        for k, v in student.items() if k not in dropped
    }
    if args.check:
        check_against_config(state_dict, args.check)
    meta = dict(
        source=osp.basename(args.src),
        converter='unip_to_mm',
        epoch=checkpoint.get('epoch')
        if isinstance(checkpoint, dict) else None)
    with atomic_open(args.dst, 'wb') as f:
        torch.save(dict(state_dict=state_dict, meta=meta), f)
    print(f'Wrote {len(state_dict)} tensors to {args.dst}' +
          (f' (dropped {dropped})' if dropped else ''))


if __name__ == '__main__':
    main()
