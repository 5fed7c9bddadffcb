"""Deployment helpers: ONNX export with dynamic batch, height and width.

Not imported by ``import infmae_mm`` (nothing here registers a component);
``tools/deployment/export_onnx.py`` is the command line over it.
"""
from .adaptive_pool import ExportableAdaptiveAvgPool2d
from .onnx_export import (INPUT_NAME, SegmentorLogits, build_model,
                          compare_with_onnxruntime, export_onnx,
                          input_channels, make_exportable)
from .tracing import traced_position_table

__all__ = [
    'ExportableAdaptiveAvgPool2d', 'INPUT_NAME', 'SegmentorLogits',
    'build_model', 'compare_with_onnxruntime', 'export_onnx', 'input_channels',
    'make_exportable', 'traced_position_table'
]
