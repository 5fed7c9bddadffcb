"""FLOPs and parameters of any infmae_mm config (mmseg, mmdet or mmpretrain).

    python tools/analysis_tools/get_flops.py CONFIG --shape 480 640 \
        [--cfg-options ...]

mmseg 1.2.2's own ``tools/analysis_tools/get_flops.py`` cannot run with
mmengine 0.10.x for any config (it passes both ``input_shape`` and ``inputs``
to ``get_model_complexity_info``, which refuses that); this tool counts the
same thing, the model's ``mode='tensor'`` forward on one random image, and
also counts ``scaled_dot_product_attention`` (which the hosts' counters skip:
``infmae_mm.analysis.complexity_with_attention``). FLOPs are multiply-adds,
as the hosts' tools report them.
"""
import argparse
import sys
from functools import partial

import torch
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import BaseDataElement

from infmae_mm.analysis import complexity_with_attention


def giga(count: int) -> str:
    """A count in units of 10^9 (G), as the hosts' tools print FLOPs."""
    return f'{count / 1e9:.3f} G'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[512, 512], help='H [W]')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument(
        '--show-table', action='store_true', help='per-module table')
    return parser.parse_args()


def data_sample_type(scope: str) -> type:
    if scope == 'mmseg':
        from mmseg.structures import SegDataSample
        return SegDataSample
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        return DetDataSample
    return BaseDataElement


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    scope = cfg.get('default_scope', 'mmseg')
    init_default_scope(scope)
    if len(args.shape) > 2 or min(args.shape) < 1:
        sys.exit(f'error: --shape takes H [W], positive, got '
                 f'{" ".join(map(str, args.shape))}.')
    h, w = (args.shape * 2)[:2]
    channels = cfg.model.get('backbone', {}).get('in_channels', 3)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    if hasattr(model, 'auxiliary_head'):
        model.auxiliary_head = None  # training-only
    meta = dict(
        ori_shape=(h, w),
        img_shape=(h, w),
        pad_shape=(h, w),
        batch_input_shape=(h, w),
        scale_factor=(1., 1.))
    data = model.data_preprocessor(
        dict(
            inputs=[
                torch.randint(0, 256, (channels, h, w), dtype=torch.uint8)
            ],
            data_samples=[data_sample_type(scope)(metainfo=meta)]))
    inputs = data['inputs']
    if isinstance(inputs, (list, tuple)) and inputs[0].dim() == 3:
        # mmpretrain's SelfSupDataPreprocessor returns the images unbatched
        # outside training: one (C, H, W) tensor per image.
        inputs = torch.stack(list(inputs))
    try:
        # One plain forward first: the counter traces the model, and an
        # input the model refuses (e.g. sides not multiples of 16) then
        # fails inside the trace with a message about tensor shapes.
        with torch.no_grad():
            model(inputs, data_samples=data['data_samples'], mode='tensor')
    except (ValueError, AssertionError, RuntimeError) as err:
        sys.exit(f'error: the model of {args.config} does not take a '
                 f'{channels}x{h}x{w} input (--shape {h} {w}): {err}')
    model.forward = partial(
        model.forward, data_samples=data['data_samples'], mode='tensor')
    result = complexity_with_attention(
        model, inputs, show_table=args.show_table)
    line = '=' * 40
    if args.show_table:
        print(result['table'])
    skipped = ', '.join(f'{op} x{n}'
                        for op, n in result['unsupported_ops'].items())
    print(f'{line}\nConfig: {args.config}\nInput shape: {(channels, h, w)}\n'
          f'Flops: {giga(result["flops"])} (multiply-adds; attention '
          f'{giga(result["attention_flops"])} of them)\n'
          f'Params: {result["params"] / 1e6:.3f} M\n'
          f'Not counted (elementwise and others): {skipped or "none"}\n'
          f'{line}')


if __name__ == '__main__':
    main()
