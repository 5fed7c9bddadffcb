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


#: Where the loaders look for a state dict inside a file, in this order.
CONTAINERS = ('state_dict', 'model', 'teacher', 'module')
#: Key fragments of the package's InfMAE encoder (hybrid conv + ViT).
INFMAE_MARKS = ('patch_embed1.', 'blocks1.', 'blocks3.', 'stage_fusion.')


def inner_state_dict(checkpoint: dict) -> dict:
    """The state dict of a loaded file, as ``select_vit_state_dict`` finds
    it."""
    for key in CONTAINERS:
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def describe_contents(checkpoint) -> str:
    """What a loaded file holds, in words, for the refusal message."""
    if not isinstance(checkpoint, dict):
        return f'a {type(checkpoint).__name__}, not a dict of tensors'
    top = ', '.join(repr(k) for k in list(checkpoint)[:8])
    state = inner_state_dict(checkpoint)
    tensors = [k for k, v in state.items() if isinstance(v, torch.Tensor)]
    if not tensors:
        return f'no tensors (top-level keys: {top})'
    text = (f'{len(tensors)} tensors (first: '
            f'{", ".join(sorted(tensors)[:4])}; top-level keys: {top})')
    if any(mark in k for k in tensors for mark in INFMAE_MARKS):
        text += ('; these are InfMAE encoder weights (patch_embed1 / blocks3 '
                 'keys), which need no conversion: give the file to an '
                 'InfMAE config as model.backbone.init_cfg.checkpoint (the '
                 "official release's InfMAE.pth too; "
                 'tools/model_converters/infmae_official_to_mm.py writes it '
                 'in mm names)')
    return text


def select_student(checkpoint, src: str) -> dict:
    """The UNIP student of a loaded file, in mmpretrain names.

    Exits naming the file and what it holds when it holds no single ViT; a
    checkpoint of a UNIP run of this package (the student under
    ``backbone.``, the frozen teacher under ``teacher.``) gives its student.
    """
    if isinstance(checkpoint, dict):
        state = inner_state_dict(checkpoint)
        prefixes = sorted(k[:-len('cls_token')] for k in state
                          if k.endswith('cls_token'))
        if len(prefixes) == 1:
            return select_vit_state_dict(checkpoint)
        if len(prefixes) > 1 and 'backbone.' in prefixes:
            print(f'{src} holds {len(prefixes)} ViTs ({prefixes}); '
                  'converting the student, backbone.')
            return select_vit_state_dict(checkpoint, prefix='backbone.')
        if len(prefixes) > 1:
            sys.exit(f'{src} holds {len(prefixes)} ViTs, under {prefixes}, '
                     'and none is a UNIP student (backbone.): it is not a '
                     'UNIP checkpoint. unip_to_mm.py converts the released '
                     'UNIP students (Hugging Face casiatao/UNIP) and '
                     'checkpoints of UNIP runs of this package.')
    sys.exit(f'{src} holds no UNIP student (no ViT: no key ends with '
             f'cls_token): it holds {describe_contents(checkpoint)}. '
             'unip_to_mm.py converts the released UNIP students (Hugging '
             'Face casiatao/UNIP: the ViT under "model", timm names) and '
             'checkpoints of UNIP runs of this package.')


def vit_shape(state_dict: dict) -> str:
    """``'width 384, 12 blocks'`` of an mmpretrain-named ViT state dict."""
    cls = state_dict.get('cls_token')
    width = int(cls.shape[-1]) if isinstance(cls, torch.Tensor) else '?'
    blocks = {k.split('.')[1] for k in state_dict if k.startswith('layers.')}
    return f'width {width}, {len(blocks)} blocks'


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
    width = own.get('cls_token')
    want = expected.get('cls_token')
    if isinstance(width, torch.Tensor) and isinstance(want, torch.Tensor) \
            and width.shape[-1] != want.shape[-1]:
        raise SystemExit(
            f'The converted student is a ViT of {vit_shape(own)}, but '
            f'{config} builds model.backbone as a ViT of '
            f'{vit_shape(expected)} (arch {backbone_cfg.get("arch")!r}): set '
            "model.backbone.arch to the student's ('deit-tiny' for width 192, "
            "'deit-small' / 'small' for 384, 'base' for 768) and the neck / "
            'head widths with it, or convert the UNIP student of the '
            "config's width.")
    for key in ('pos_embed', ):
        if key in own and key in expected and \
                own[key].shape != expected[key].shape:
            raise SystemExit(
                f'{key} is {tuple(own[key].shape)}, {config} expects '
                f'{tuple(expected[key].shape)}: convert with --img-size '
                f'matching the backbone img_size.')
    mismatched = [
        f'{k}: converted {tuple(v.shape)} vs config {tuple(expected[k].shape)}'
        for k, v in own.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if mismatched:
        raise SystemExit(f'{config} does not fit the converted weights, '
                         f'{len(mismatched)} tensors differ:\n  ' +
                         '\n  '.join(mismatched[:10]))
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
    student = select_student(checkpoint, args.src)
    shape = vit_shape(student)
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
    print(f'Wrote {len(state_dict)} tensors (a ViT of {shape}) to {args.dst}' +
          (f' (dropped {dropped})' if dropped else ''))


if __name__ == '__main__':
    main()
