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

Three things make the export dynamic. InfMAEViT rebuilds or resizes its
position table from the traced input size while tracing (see
``InfMAEViT.position_table``). The relative position biases of the
detection backbone are likewise computed from the traced grid, also at the
grid of their tables (``make_exportable``). And ONNX has no adaptive average
pooling: the exporter can only lower ``AdaptiveAvgPool2d`` with an output
size above 1 (UperNet's pyramid pooling, scales 2, 3, 6) for a fixed input
size, so the exported copy computes it as two averaging matrices built from
the input size, which is the same operation. Windowed attention exports
dynamically as it is (the padding to whole windows is computed from the
traced size).

``--verify`` runs the file in ONNX Runtime at the export shape and at a
second shape (``--verify-shape``, default H + 32 x W + 64, batch 2) and
compares with the PyTorch model (``--atol``, default 1e-4); the exit status
is 1 when they differ. Without a CHECKPOINT the config's initialisation is
used (set ``model.backbone.init_cfg=None`` for random weights). The file is
written atomically; models over 2 GB (ONNX's protobuf limit) cannot be
exported this way.
"""
import argparse
import copy
import io
import sys
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from infmae_mm.models.layers import RelativePositionBias
from infmae_mm.utils.checkpoint import (describe_incompatible_keys,
                                        load_checkpoint_to_model)
from infmae_mm.utils.io import atomic_write_bytes

#: Name of the graph input.
INPUT_NAME = 'input'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        'checkpoint', nargs='?', help='weights (infmae_mm/mmengine '
        'checkpoint); default: the config\'s initialisation')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
        help='input size traced for the export (default 224 224)')
    parser.add_argument(
        '--backbone-only', action='store_true',
        help='export the encoder\'s feature maps instead of the segmentor')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--verify', action='store_true',
        help='compare ONNX Runtime with PyTorch at two input sizes')
    parser.add_argument(
        '--verify-shape', type=int, nargs=2, metavar=('H', 'W'),
        help='the second size of --verify (default H + 32, W + 64)')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


# ----------------------------------------------------------------- modules
class ExportableAdaptiveAvgPool2d(nn.Module):
    """``AdaptiveAvgPool2d`` written as two averaging matrices.

    Output cell ``i`` of ``n`` along a side of length ``L`` averages inputs
    ``floor(i * L / n)`` to ``ceil((i + 1) * L / n) - 1``, as PyTorch does;
    the matrices are built from the input's (traced) size with arange and
    comparisons, which ONNX records for any size.

    Args:
        output_size (int | tuple[int, int]): As for ``AdaptiveAvgPool2d``;
            None entries are not supported.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        size = output_size if isinstance(output_size, (tuple, list)) else \
            (output_size, output_size)
        if any(s is None for s in size):
            raise ValueError('output sizes of None are not supported')
        self.output_size = tuple(int(s) for s in size)

    @staticmethod
    def averaging_matrix(length, cells: int,
                         dtype: torch.dtype) -> torch.Tensor:
        """(cells, length) matrix whose rows average the cells' inputs."""
        index = torch.arange(cells)
        start = torch.div(index * length, cells, rounding_mode='floor')
        end = torch.div((index + 1) * length + cells - 1, cells,
                        rounding_mode='floor')
        pos = torch.arange(length)
        inside = (pos[None, :] >= start[:, None]) & (pos[None, :] <
                                                     end[:, None])
        return inside.to(dtype) / (end - start)[:, None].to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.averaging_matrix(x.shape[-2], self.output_size[0],
                                     x.dtype).to(x.device)
        cols = self.averaging_matrix(x.shape[-1], self.output_size[1],
                                     x.dtype).to(x.device)
        return torch.matmul(torch.matmul(rows, x), cols.t())


class _GeneralGrid(tuple):
    """A table grid that compares unequal to every grid.

    ``RelativePositionBias`` reuses its stored index when asked for the grid
    its table was built for, a shortcut that a trace at that grid freezes
    into the graph. With this as its ``grid_size`` it always takes its
    general path, a bicubic resize of the table (the identity at the table's
    own grid) and an index built from the traced grid.
    """

    def __eq__(self, other) -> bool:
        return False

    def __ne__(self, other) -> bool:
        return True

    __hash__ = tuple.__hash__


class SegmentorLogits(nn.Module):
    """An mmseg segmentor's ``mode='tensor'`` forward (decode head logits)."""

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segmentor(x, mode='tensor')


def make_exportable(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose trace is valid for every input size.

    Every ``AdaptiveAvgPool2d`` with an output larger than 1x1 becomes an
    :class:`ExportableAdaptiveAvgPool2d` (1x1 pooling exports as
    ``GlobalAveragePool``, dynamic already), and every
    ``RelativePositionBias`` computes its bias from the traced grid even at
    its table's own grid (see :class:`_GeneralGrid`).
    """
    module = copy.deepcopy(module)
    for bias in module.modules():
        if isinstance(bias, RelativePositionBias):
            bias.grid_size = _GeneralGrid(bias.grid_size)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveAvgPool2d):
                size = child.output_size
                size = size if isinstance(size, (tuple, list)) else (size,
                                                                     size)
                if tuple(size) != (1, 1):
                    setattr(parent, name, ExportableAdaptiveAvgPool2d(size))
    return module


# ------------------------------------------------------------------ build
def build_model(config: str,
                checkpoint: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                backbone_only: bool = False) -> Tuple[nn.Module, List[str]]:
    """Build the module to export and its output names.

    Args:
        config (str): Config file.
        checkpoint (str, optional): Weights, loaded through the safe loader.
            None: the config's initialisation.
        cfg_options (dict, optional): Overrides merged into the config.
        backbone_only (bool): Export the backbone's feature maps.

    Returns:
        tuple: The module in eval mode (SyncBN reverted to BN) and its output
        names.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    if checkpoint:
        result = load_checkpoint_to_model(model, checkpoint)
        if len(result.missing_keys) == len(model.state_dict()):
            raise ValueError(f'No weight of {checkpoint} fits the model of '
                             f'{config}:\n' +
                             describe_incompatible_keys(result))
        print(f'Loaded {checkpoint}: ' + describe_incompatible_keys(result))
    else:
        model.init_weights()
    model.eval()
    if backbone_only:
        backbone = model.backbone
        indices = getattr(backbone, 'out_indices', None)
        names = [f'f{i + 1}' for i in indices] if indices is not None else \
            None
        return backbone, names
    if not (hasattr(model, 'decode_head') and hasattr(model,
                                                      'extract_feat')):
        raise ValueError(
            f'{type(model).__name__} is not a segmentor: only mmseg '
            f'segmentors export whole; export the encoder of pre-training '
            f'and detection configs with --backbone-only.')
    return SegmentorLogits(model).eval(), ['seg_logits']


def input_channels(module: nn.Module) -> int:
    """Image channels a module from :func:`build_model` takes."""
    inner = getattr(module, 'segmentor', module)
    return getattr(getattr(inner, 'backbone', inner), 'in_channels', 3)


# ----------------------------------------------------------------- export
def export_onnx(module: nn.Module,
                out: str,
                shape: Sequence[int],
                in_channels: int = 3,
                output_names: Optional[List[str]] = None,
                opset: int = 17) -> List[str]:
    """Export ``module`` with dynamic batch, height and width, atomically.

    Args:
        module (nn.Module): Takes (B, C, H, W), returns a tensor or a tuple.
        out (str): Destination file.
        shape (Sequence[int]): (H, W) traced.
        in_channels (int): C. Defaults to 3.
        output_names (list[str], optional): Defaults to ``output0``, ...
        opset (int): ONNX opset. Defaults to 17.

    Returns:
        list[str]: The output names.
    """
    example = torch.zeros(1, in_channels, *shape)
    exportable = make_exportable(module).eval()
    with torch.no_grad():
        outputs = exportable(example)
    num = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    names = list(output_names or [f'output{i}' for i in range(num)])
    if len(names) != num:
        raise ValueError(f'{num} outputs but names {names}')
    axes: Dict[str, Dict[int, str]] = {
        INPUT_NAME: {
            0: 'batch',
            2: 'height',
            3: 'width'
        }
    }
    for name in names:
        axes[name] = {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about every shape check (Python bools from traced
        # sizes). They only validate the input; whether the graph is right
        # for other sizes is what --verify measures.
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(
            exportable, (example, ),
            buffer,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True)
    data = buffer.getvalue()
    try:
        import onnx
    except ImportError:
        pass
    else:
        onnx.checker.check_model(onnx.load_from_string(data))
    atomic_write_bytes(out, data)
    return names


def compare_with_onnxruntime(module: nn.Module,
                             onnx_file: str,
                             shape: Sequence[int],
                             batch: int = 1,
                             in_channels: int = 3,
                             seed: int = 0) -> List[float]:
    """Max absolute difference of every output, ONNX Runtime vs PyTorch.

    Args:
        module (nn.Module): The PyTorch module (as built, not the exported
            copy: the comparison covers the pooling rewrite too).
        onnx_file (str): The exported file.
        shape (Sequence[int]): (H, W) of the random input.
        batch (int): Batch size. Defaults to 1.
        in_channels (int): Channels. Defaults to 3.
        seed (int): Seed of the input. Defaults to 0.

    Returns:
        list[float]: One difference per output.
    """
    import onnxruntime as ort
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_channels, *shape, generator=generator)
    with torch.no_grad():
        expected = module(x)
    if not isinstance(expected, (tuple, list)):
        expected = [expected]
    session = ort.InferenceSession(
        onnx_file, providers=['CPUExecutionProvider'])
    actual = session.run(None, {INPUT_NAME: x.numpy()})
    diffs = []
    for got, want in zip(actual, expected):
        want = want.numpy()
        if got.shape != want.shape:
            raise AssertionError(f'ONNX output {got.shape} vs PyTorch '
                                 f'{want.shape} at input {tuple(x.shape)}')
        diffs.append(float(np.abs(got - want).max()))
    return diffs


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    module, names = build_model(args.config, args.checkpoint,
                                args.cfg_options, args.backbone_only)
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
