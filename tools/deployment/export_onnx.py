"""Export an InfMAE backbone or segmentor to ONNX with dynamic H and W.

    python tools/deployment/export_onnx.py CONFIG [CHECKPOINT] \
        --out model.onnx --shape 480 640 [--backbone-only] [--verify] \
        [--cfg-options ...]

The graph takes the *preprocessed* batch (B, C, H, W): the image minus the
config's ``data_preprocessor`` mean, divided by its std, padded as it pads
(mmseg configs here: to a multiple of 32). Batch, height and width are
dynamic: any H and W that the model accepts in PyTorch run (multiples of
16; the segmentation configs pad to multiples of 32).

* segmentor configs (mmseg): ``seg_logits``, the decode head's logits of
  ``mode='tensor'`` at stride 4 (upsample and argmax them to get labels);
* ``--backbone-only`` (any config: pre-training, segmentation, detection):
  the encoder's feature maps ``f1``/``f2``/``f3`` (strides 4, 8, 16) of its
  ``out_indices``.

The tracing details (position tables and relative position biases computed
from the traced size, adaptive pooling as averaging matrices) are in
:mod:`infmae_mm.deployment`; this file is its command line.

``--verify`` runs the file in ONNX Runtime at the export shape and at a
second shape (``--verify-shape``, default H + 32 x W + 64, batch 2) and
compares with the PyTorch model (``--atol``, default 1e-4); the exit status
is 1 when they differ. Without a CHECKPOINT the config's initialisation is
used (set ``model.backbone.init_cfg=None`` for random weights). The file is
written atomically; models over 2 GB (ONNX's protobuf limit) cannot be
exported this way.
"""
import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from infmae_mm.deployment import (INPUT_NAME, build_model,
                                  compare_with_onnxruntime, export_onnx,
                                  input_channels)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='weights (infmae_mm/mmengine '
        'checkpoint); default: the config\'s initialisation')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[224, 224],
        metavar=('H', 'W'),
        help='input size traced for the export (default 224 224)')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='export the encoder\'s feature maps instead of the segmentor')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='load only the checkpoint tensors that fit and keep the rest '
        'as built (e.g. a segmentor with only pre-trained encoder weights, '
        'to measure latency); without it a checkpoint that does not fit '
        'the config is refused with the list of keys')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare ONNX Runtime with PyTorch at two input sizes')
    parser.add_argument(
        '--verify-shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='the second size of --verify (default H + 32, W + 64)')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    module, names = build_model(args.config, args.checkpoint, args.cfg_options,
                                args.backbone_only, args.allow_partial)
    in_channels = input_channels(module)
    names = export_onnx(module, args.out, args.shape, in_channels, names,
                        args.opset)
    print(f'Wrote {args.out}: input {INPUT_NAME} (batch, {in_channels}, '
          f'height, width) -> {", ".join(names)}')
    if not args.verify:
        return 0
    h, w = args.shape
    second = args.verify_shape or [h + 32, w + 64]
    ok = True
    for shape, batch in ((args.shape, 1), (second, 2)):
        diffs = compare_with_onnxruntime(module, args.out, shape, batch,
                                         in_channels)
        worst = max(diffs)
        ok &= worst <= args.atol
        print(f'verify {batch}x{in_channels}x{shape[0]}x{shape[1]}: max '
              f'|onnxruntime - pytorch| = {worst:.2e} '
              f'({"ok" if worst <= args.atol else "FAILED"}, atol '
              f'{args.atol:g})')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
