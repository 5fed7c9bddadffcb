"""A stand-in for mmcv's compiled ``mmcv._ext``, for GPU checks on machines
where only ``mmcv-lite`` (mmcv without compiled ops) can be installed.

``tools/gpu_check.sh`` copies this file to ``<site>/mmcv/_ext.py`` when
``import mmcv._ext`` fails, and only there: the package never imports it.

mmcv's Python ops load their kernels with
``ext_loader.load_ext('_ext', [names])``, which only checks that each name
exists; without a compiled ``_ext`` that import fails and with it
``mmcv.ops``, ``mmseg.models`` and ``mmdet.models``. This module provides
every name. Three kernels are real, computed by torchvision's ops (CUDA and
CPU) with mmcv's conventions, and cover what the package's Mask R-CNN,
Cascade R-CNN and UperNet configs call:

* ``nms`` (``offset=0``): ``torchvision.ops.nms``; mmcv and torchvision both
  suppress a box whose IoU with a kept, higher-scored box exceeds the
  threshold, with areas ``(x2 - x1) * (y2 - y1)``.
* ``roi_align_forward`` / ``roi_align_backward`` (``pool_mode`` 'avg'):
  ``torchvision.ops.roi_align`` and its backward, which take the same
  ``(batch_index, x1, y1, x2, y2)`` rois, ``sampling_ratio`` (0: adaptive)
  and ``aligned`` (half-pixel shift) as mmcv's kernel.

Every other name is a function that raises ``NotImplementedError`` naming
the op and this file, so a config that needs it fails with that message
instead of at import.
"""
from typing import Any, Callable

import torch

#: Ops this module computes; everything else raises when called.
IMPLEMENTED = ('nms', 'roi_align_forward', 'roi_align_backward')


def nms(boxes: torch.Tensor,
        scores: torch.Tensor,
        iou_threshold: float,
        offset: int = 0) -> torch.Tensor:
    """Indices of the boxes kept, by decreasing score.

    Args:
        boxes (torch.Tensor): (N, 4) boxes x1, y1, x2, y2.
        scores (torch.Tensor): (N, ) scores.
        iou_threshold (float): IoU above which a box is suppressed.
        offset (int): mmcv's legacy +1 on widths; only 0 is supported.

    Returns:
        torch.Tensor: (K, ) int64 indices.
    """
    if offset != 0:
        raise NotImplementedError(
            'gpu_check_mmcv_ext.nms supports offset=0 only (mmcv 2.x '
            f'default); got offset={offset}')
    from torchvision.ops import nms as tv_nms
    return tv_nms(boxes, scores.to(boxes.dtype), float(iou_threshold))


def _check_avg(pool_mode: int) -> None:
    if pool_mode != 1:
        raise NotImplementedError(
            "gpu_check_mmcv_ext.roi_align supports pool_mode='avg' only "
            f'(got the code {pool_mode}, max pooling)')


def roi_align_forward(input: torch.Tensor, rois: torch.Tensor,
                      output: torch.Tensor, argmax_y: torch.Tensor,
                      argmax_x: torch.Tensor, aligned_height: int,
                      aligned_width: int, spatial_scale: float,
                      sampling_ratio: int, pool_mode: int,
                      aligned: bool) -> None:
    """Fill ``output`` (K, C, aligned_height, aligned_width) with RoIAlign of
    ``input`` (B, C, H, W) over ``rois`` (K, 5), in place as mmcv's kernel."""
    _check_avg(pool_mode)
    from torchvision.ops import roi_align
    output.copy_(
        roi_align(input, rois.to(input.dtype),
                  (int(aligned_height), int(aligned_width)),
                  float(spatial_scale), int(sampling_ratio), bool(aligned)))


def roi_align_backward(grad_output: torch.Tensor, rois: torch.Tensor,
                       argmax_y: torch.Tensor, argmax_x: torch.Tensor,
                       grad_input: torch.Tensor, aligned_height: int,
                       aligned_width: int, spatial_scale: float,
                       sampling_ratio: int, pool_mode: int,
                       aligned: bool) -> None:
    """Fill ``grad_input`` (B, C, H, W) with the gradient of RoIAlign given
    ``grad_output`` (K, C, aligned_height, aligned_width), in place."""
    _check_avg(pool_mode)
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)
    B, C, H, W = grad_input.shape
    grad_input.copy_(
        torch.ops.torchvision._roi_align_backward(grad_output,
                                                  rois.to(grad_output.dtype),
                                                  float(spatial_scale),
                                                  int(aligned_height),
                                                  int(aligned_width), B, C, H,
                                                  W, int(sampling_ratio),
                                                  bool(aligned)))


def _missing(name: str) -> Callable[..., Any]:

    def op(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'mmcv op {name!r} needs mmcv compiled with its ops; this machine '
            'has mmcv-lite with tools/gpu_check_mmcv_ext.py, which computes '
            f'only {", ".join(IMPLEMENTED)}')

    op.__name__ = name
    return op


def __getattr__(name: str) -> Callable[..., Any]:
    """Any other kernel name: a function that raises when called."""
    if name.startswith('__'):
        raise AttributeError(name)
    return _missing(name)
