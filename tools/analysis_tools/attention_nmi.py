"""Per-layer NMI of attention (UNIP's local / hybrid / global patterns).

    python tools/analysis_tools/attention_nmi.py CONFIG CHECKPOINT \
        --images DIR [--component backbone|teacher] [--num-images 32] \
        [--img-size 224] [--out-dir work_dirs/attention_nmi]

Works for every ViT-like backbone of the package: mmpretrain's
``VisionTransformer`` (MAE, DINO, iBOT teachers; fine-tuning backbones),
``UNIPViT`` and InfMAE's stage 3 (``InfMAEViT``). ``--component teacher``
analyses the teacher ViT of a UNIP pre-training config, in full depth, from
CHECKPOINT (timm/official or mmpretrain layout): pick the deepest layer in
the hybrid band as the distillation target (``model.teacher.layer``).

For each layer the softmax attention of every head on every image is
reduced to one NMI (Park et al., ICLR 2023; cls token dropped), averaged over
the images and then the heads. Prints a table, writes ``nmi.json`` and
``nmi.png`` (the per-layer curve over the bands) in ``--out-dir``.
"""
import argparse
import importlib
import json
import os
import os.path as osp
import sys
from typing import List, Optional

import cv2
import numpy as np
import torch


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--images', required=True, help='image folder')
    parser.add_argument(
        '--component',
        choices=('backbone', 'teacher'),
        default='backbone',
        help="the config's backbone (default) or its UNIP teacher")
    parser.add_argument('--num-images', type=int, default=32)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument(
        '--bands',
        type=float,
        nargs=2,
        default=None,
        metavar=('GLOBAL_BELOW', 'LOCAL_ABOVE'),
        help='NMI band limits (default: infmae_mm DEFAULT_NMI_BANDS)')
    parser.add_argument('--out-dir', default='work_dirs/attention_nmi')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if args.img_size < 16 or args.img_size % 16:
        parser.error(f'--img-size must be a positive multiple of 16 (the '
                     f'patch size), got {args.img_size}')
    for name in ('num_images', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{getattr(args, name)}')
    return args


def build_model(args: argparse.Namespace):
    """The analysed module, with weights, and its number of extra tokens."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from infmae_mm.models.backbones.vit_weights import load_vit_weights
    from infmae_mm.utils.checkpoint import (CheckpointMismatchError,
                                            extract_state_dict,
                                            load_checkpoint_checked,
                                            safe_load_checkpoint)
    cfg = Config.fromfile(args.config)
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    if args.component == 'teacher':
        teacher = cfg.model.get('teacher')
        if teacher is None:
            sys.exit(f'{args.config} has no model.teacher (not a UNIP '
                     f'config); use --component backbone.')
        vit_cfg = dict(teacher['vit'])
        vit_cfg.setdefault('type', 'VisionTransformer')
        vit_cfg.update(final_norm=False, drop_path_rate=0.)
        from mmpretrain.registry import MODELS as PRETRAIN_MODELS
        model = PRETRAIN_MODELS.build(vit_cfg)
        load_vit_weights(model, args.checkpoint, what='Teacher')
    else:
        backbone_cfg = dict(cfg.model.backbone)
        backbone_cfg.pop('init_cfg', None)
        model = registry.build(backbone_cfg)
        state = extract_state_dict(safe_load_checkpoint(args.checkpoint))
        if any(k.startswith('backbone.') for k in state):
            state = {
                k[len('backbone.'):]: v
                for k, v in state.items() if k.startswith('backbone.')
            }
        try:
            load_checkpoint_checked(
                model,
                args.checkpoint,
                target=f'the backbone (model.backbone) of {args.config}',
                partial_option=None,
                state_dict=state)
        except CheckpointMismatchError as err:
            sys.exit(f'error: {err}')
    extra = 0
    if getattr(model, 'cls_token', None) is not None:
        extra = getattr(model, 'num_extra_tokens', 1)
    mean = cfg.model.get('data_preprocessor', {}).get('mean', [127.5] * 3)
    std = cfg.model.get('data_preprocessor', {}).get('std', [127.5] * 3)
    model.eval()  # some backbones' train() returns None: no chaining
    return model.to(args.device), extra, mean, std


def load_images(folder: str, num: int, size: int, mean, std) -> torch.Tensor:
    """Up to ``num`` images of ``folder`` (recursive, sorted), gray, resized to
    ``size`` x ``size`` and normalised: (B, 3, size, size)."""
    from infmae_mm.datasets.image_decoding import ImageDecodeError
    from infmae_mm.datasets.transforms import ConvertToGray, LoadThermalImage
    suffixes = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.pgm')
    paths: List[str] = sorted(
        osp.join(root, f) for root, _, files in os.walk(folder) for f in files
        if f.lower().endswith(suffixes))[:num]
    if not paths:
        sys.exit(f'No images with suffix {suffixes} under {folder}.')
    load, gray = LoadThermalImage(), ConvertToGray()
    batch = []
    for path in paths:
        try:
            img = gray(load(dict(img_path=path)))['img']
        except ImageDecodeError as err:
            sys.exit(f'error: {err}')
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
        batch.append(torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1))
    x = torch.stack(batch)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    from infmae_mm.evaluation import DEFAULT_NMI_BANDS, attention_nmi, nmi_band
    from infmae_mm.models.layers.attention_logits import \
        AttentionLogitsRecorder
    bands = tuple(args.bands) if args.bands else DEFAULT_NMI_BANDS
    model, extra, mean, std = build_model(args)
    images = load_images(args.images, args.num_images, args.img_size, mean,
                         std)
    recorder = AttentionLogitsRecorder(model)
    per_layer = {name: [] for name, _ in recorder.modules}
    with torch.no_grad(), recorder:
        for chunk in images.split(args.batch_size):
            model(chunk.to(args.device))
            for name, logits in recorder.logits.items():
                attn = logits.pop().softmax(-1)
                per_layer[name].append(attention_nmi(attn, extra).cpu())
    rows = []
    for index, (name, values) in enumerate(per_layer.items(), start=1):
        nmi = torch.cat(values).mean(0)  # images, then one value per head
        value = nmi.mean().item()
        rows.append(
            dict(
                layer=index,
                module=name,
                nmi=value,
                head_min=nmi.min().item(),
                head_max=nmi.max().item(),
                band=nmi_band(value, bands)))
    print(f'{len(images)} images, {args.img_size}px; bands: global < '
          f'{bands[0]} <= hybrid <= {bands[1]} < local')
    print(f'{"layer":>5}  {"NMI":>6}  {"head min":>8}  {"head max":>8}  '
          f'{"band":<7} module')
    for r in rows:
        print(f'{r["layer"]:>5}  {r["nmi"]:6.3f}  {r["head_min"]:8.3f}  '
              f'{r["head_max"]:8.3f}  {r["band"]:<7} {r["module"]}')
    hybrid = [r['layer'] for r in rows if r['band'] == 'hybrid']
    if hybrid:
        print(f'Deepest hybrid layer: {hybrid[-1]} '
              f'(model.teacher.layer={hybrid[-1]})')
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'nmi.json'), 'w') as f:
        json.dump(dict(bands=bands, layers=rows), f, indent=1)
    plot(rows, bands, osp.join(args.out_dir, 'nmi.png'),
         f'{osp.basename(args.config)} ({args.component})')
    print(f'Wrote {args.out_dir}/nmi.json and nmi.png')


def plot(rows: list, bands, path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    layers = [r['layer'] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = max(1.0, max(r['head_max'] for r in rows))
    ax.axhspan(0, bands[0], color='tab:blue', alpha=.12, label='global')
    ax.axhspan(
        bands[0], bands[1], color='tab:green', alpha=.12, label='hybrid')
    ax.axhspan(bands[1], top, color='tab:red', alpha=.10, label='local')
    ax.fill_between(
        layers, [r['head_min'] for r in rows], [r['head_max'] for r in rows],
        color='k',
        alpha=.1)
    ax.plot(layers, [r['nmi'] for r in rows], 'o-', color='k', label='NMI')
    ax.set_xlabel('layer')
    ax.set_ylabel('NMI')
    ax.set_ylim(0, top)
    ax.set_xticks(layers)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc='upper right')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == '__main__':
    main()
