"""FLOPs of an IRSTD model's encoder (backbone + neck) and decode head apart.

    python tools/analysis_tools/irstd_head_flops.py CONFIG [CONFIG ...] \
        --archs nano tiny --sizes 256 512 --batch 4 [--test-widths]

Each config is shrunk to each InfMAEViT arch with
``infmae_mm.testing.tiny_arch_options`` (encoder, neck and the head's input
widths), keeping the head's own widths (``channels``, ``up_channels``) as
the config sets them unless ``--test-widths`` (the tests' 16 / 8 / 8). The
counts are ``infmae_mm.analysis.complexity_with_attention``'s (multiply-adds,
attention included) of the eval-mode forward on a random
``batch x 3 x size x size`` input. Prints a Markdown table.
"""
import argparse
from typing import Dict, List

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope

from infmae_mm.analysis import complexity_with_attention
from infmae_mm.testing import tiny_arch_options

#: The head's own widths, which --test-widths shrinks as the tests do.
HEAD_WIDTH_KEYS = ('model.decode_head.channels',
                   'model.decode_head.up_channels')


class EncoderNeck(nn.Module):
    """The segmentor's ``extract_feat`` as a module (backbone + neck)."""

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return list(self.segmentor.extract_feat(x))


def build(config: str, arch: str, test_widths: bool) -> nn.Module:
    """The config's segmentor at ``arch``, BN for SyncBN, in eval mode."""
    from mmseg.registry import MODELS
    cfg = Config.fromfile(config)
    options = tiny_arch_options(cfg, arch)
    if not test_widths:
        for key in HEAD_WIDTH_KEYS:
            options.pop(key, None)
    cfg.merge_from_dict(options)
    init_default_scope('mmseg')
    # FLOPs do not depend on the weights: no init_weights (and its log)
    return revert_sync_batchnorm(MODELS.build(cfg.model)).eval()


def count(config: str, arch: str, size: int, batch: int,
          test_widths: bool) -> Dict[str, float]:
    """GFLOPs (multiply-adds) of the encoder + neck and of the head."""
    torch.manual_seed(0)
    model = build(config, arch, test_widths)
    x = torch.randn(batch, 3, size, size)
    encoder = EncoderNeck(model)
    with torch.no_grad():
        feats = encoder(x)
    head = model.decode_head
    head_count = complexity_with_attention(head, (feats, ))
    return dict(
        encoder=complexity_with_attention(encoder, x)['flops'] / 1e9,
        head=head_count['flops'] / 1e9,
        skipped=', '.join(sorted(head_count['unsupported_ops'])),
        head_params=sum(p.numel() for p in head.parameters()) / 1e6)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--archs', nargs='+', default=['nano', 'tiny'])
    parser.add_argument('--sizes', type=int, nargs='+', default=[256, 512])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument(
        '--test-widths',
        action='store_true',
        help="the head's inner widths as the tests shrink them")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import infmae_mm  # noqa: F401 (registers the components)
    print('| arch | input | encoder + neck (G) | head | head (G) | '
          'head / encoder | head params (M) |')
    print('|---|---|---|---|---|---|---|')
    skipped = set()
    for arch in args.archs:
        for size in args.sizes:
            for config in args.configs:
                cfg = Config.fromfile(config)
                name = cfg.model.decode_head.type
                result = count(config, arch, size, args.batch,
                               args.test_widths)
                skipped.update(filter(None, result['skipped'].split(', ')))
                print(
                    f'| {arch} | {args.batch}x3x{size}x{size} | '
                    f'{result["encoder"]:.3f} | {name} | '
                    f'{result["head"]:.3f} | '
                    f'{result["head"] / result["encoder"]:.2f} | '
                    f'{result["head_params"]:.3f} |',
                    flush=True)
    print(f'\nNot counted in the heads (elementwise): '
          f'{", ".join(sorted(skipped)) or "none"}')


if __name__ == '__main__':
    main()
