"""ONNX export of InfMAE backbones and segmentors with dynamic B, H and W.

The graph takes the *preprocessed* batch (B, C, H, W): the image minus the
config's ``data_preprocessor`` mean, divided by its std, padded as it pads.
Three things make the trace valid for every input size, and none of them
patches a module:

* :class:`~infmae_mm.models.InfMAEViT` builds or resizes its position table
  from the traced input size while tracing (``torch.jit.is_tracing()``, see
  ``InfMAEViT.position_table``);
* :class:`~infmae_mm.models.layers.RelativePositionBias` likewise computes
  its bias from the traced grid while tracing, even at its table's own grid;
* ONNX has no adaptive average pooling for outputs above 1x1, so the
  exported copy computes it as two averaging matrices built from the input
  size (:class:`ExportableAdaptiveAvgPool2d`), the same operation.

``tools/deployment/export_onnx.py`` is the command line over these helpers.
"""
import copy
import io
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from infmae_mm.utils.checkpoint import (extract_state_dict,
                                        load_checkpoint_checked,
                                        safe_load_checkpoint)
from infmae_mm.utils.io import atomic_write_bytes
from .adaptive_pool import ExportableAdaptiveAvgPool2d

#: Name of the graph input.
INPUT_NAME = 'input'


class SegmentorLogits(nn.Module):
    """An mmseg segmentor's ``mode='tensor'`` forward (decode head logits).

    Args:
        segmentor (nn.Module): An mmseg segmentor; (B, C, H, W) in,
            (B, num_classes, H / 4, W / 4) logits out.
    """

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the decode head for a preprocessed (B, C, H, W)."""
        return self.segmentor(x, mode='tensor')


def make_exportable(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose trace is valid for every input size.

    Every ``AdaptiveAvgPool2d`` with an output larger than 1x1 becomes an
    :class:`ExportableAdaptiveAvgPool2d` (1x1 pooling exports as
    ``GlobalAveragePool``, which is dynamic already). ``module`` itself is
    left unchanged.
    """
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveAvgPool2d):
                size = child.output_size
                size = size if isinstance(size,
                                          (tuple, list)) else (size, size)
                if tuple(size) != (1, 1):
                    setattr(parent, name, ExportableAdaptiveAvgPool2d(size))
    return module


def load_export_weights(model: nn.Module, checkpoint: str, config: str,
                        backbone_only: bool, allow_partial: bool) -> None:
    """Load ``checkpoint`` into what is exported, refusing what does not fit.

    Whole exports need the whole model's tensors; ``backbone_only`` needs
    the encoder's only (the ``backbone.`` keys of a whole-model checkpoint,
    or a bare encoder state dict), so a pre-training or detection checkpoint
    exports its encoder without complaint about its other parts.

    Raises:
        CheckpointMismatchError: If the tensors do not fit (and not
            ``allow_partial``), naming the file, the config and the keys.
    """
    if not backbone_only:
        report = load_checkpoint_checked(
            model,
            checkpoint,
            target=f'the model of {config}',
            allow_partial=allow_partial)
    else:
        state = extract_state_dict(safe_load_checkpoint(checkpoint))
        state = {
            k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state.items()
        }
        if any(k.startswith('backbone.') for k in state):
            state = {
                k[len('backbone.'):]: v
                for k, v in state.items() if k.startswith('backbone.')
            }
        report = load_checkpoint_checked(
            model.backbone,
            checkpoint,
            target=f'the backbone (model.backbone) of {config}',
            allow_partial=allow_partial,
            state_dict=state)
    print(f'Loaded {checkpoint}: ' + report.describe())


def build_model(
        config: str,
        checkpoint: Optional[str] = None,
        cfg_options: Optional[dict] = None,
        backbone_only: bool = False,
        allow_partial: bool = False) -> Tuple[nn.Module, Optional[List[str]]]:
    """Build the module to export and its output names.

    Args:
        config (str): Config file.
        checkpoint (str, optional): Weights, loaded through the safe loader.
            None: the config's initialisation.
        cfg_options (dict, optional): Overrides merged into the config.
        backbone_only (bool): Export the backbone's feature maps.
        allow_partial (bool): Load only the tensors of ``checkpoint`` that
            fit and keep the others as built (e.g. a segmentor with only
            pre-trained encoder weights, for latency measurements).
            Defaults to False: a checkpoint that does not fit is refused.

    Returns:
        tuple: The module in eval mode (SyncBN reverted to BN) and its output
        names (``['seg_logits']``, or ``f1``... for the backbone's
        ``out_indices``).

    Raises:
        CheckpointMismatchError: If ``checkpoint`` does not fit the exported
            module (a ValueError; the message lists the keys).
        ValueError: If the config is not a segmentor and ``backbone_only``
            is False.
    """
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    if checkpoint:
        load_export_weights(model, checkpoint, config, backbone_only,
                            allow_partial)
    else:
        model.init_weights()
    model.eval()
    if backbone_only:
        backbone = model.backbone
        indices = getattr(backbone, 'out_indices', None)
        names = [f'f{i + 1}' for i in indices] if indices is not None else \
            None
        return backbone, names
    if not (hasattr(model, 'decode_head') and hasattr(model, 'extract_feat')):
        raise ValueError(
            f'{type(model).__name__} is not a segmentor: only mmseg '
            f'segmentors export whole; export the encoder of pre-training '
            f'and detection configs with --backbone-only.')
    return SegmentorLogits(model).eval(), ['seg_logits']


def input_channels(module: nn.Module) -> int:
    """Image channels C of the (B, C, H, W) input a module of
    :func:`build_model` takes."""
    inner = getattr(module, 'segmentor', module)
    return getattr(getattr(inner, 'backbone', inner), 'in_channels', 3)


def export_onnx(module: nn.Module,
                out: str,
                shape: Sequence[int],
                in_channels: int = 3,
                output_names: Optional[List[str]] = None,
                opset: int = 17) -> List[str]:
    """Export ``module`` with dynamic batch, height and width, atomically.

    Args:
        module (nn.Module): Takes (B, C, H, W), returns a tensor or a tuple
            of (B, C_i, H_i, W_i) tensors.
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
        raise ValueError(f'The module has {num} outputs but output_names '
                         f'is {names}.')
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
        # for other sizes is what compare_with_onnxruntime measures.
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
        batch (int): Batch size B. Defaults to 1.
        in_channels (int): Channels C. Defaults to 3.
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
