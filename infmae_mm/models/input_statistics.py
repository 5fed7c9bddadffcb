"""Is the batch normalised with the statistics InfMAE was pre-trained with?

A data-preprocessor concern: swapping ``InfMAEViT`` into a host config often
keeps the host's ``data_preprocessor`` with ImageNet (or caffe-style)
per-channel statistics, while InfMAE was pre-trained on gray infrared images
normalised with one mean and std for all three channels. Nothing fails, the
features are just off. :func:`check_input_statistics` recognises such a
batch after normalisation and warns with the settings to use.

Each host (mmpretrain, mmseg, mmdet) has its own preprocessor class, so the
check runs where all three deliver the normalised batch: a forward pre-hook
of ``InfMAEViT`` checks its first batch (:func:`check_first_batch_statistics`).
"""
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

#: ImageNet statistics (RGB, 0-255) that host configs normalise with.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

#: What to set instead.
ADVICE = ('InfMAE was pre-trained with the infrared statistics: set '
          'model.data_preprocessor mean=[0.425 * 255] * 3, '
          'std=[0.200 * 255] * 3 and bgr_to_rgb=False '
          '(to_rgb=False in mmpretrain).')


def affine_channels(x: torch.Tensor, spread: torch.Tensor) -> bool:
    """Whether channels 1 and 2 of ``x`` are exact affine maps of channel 0.

    Only the pixels where the channels differ count, and most of them must
    fit: gray images normalised with unequal per-channel statistics do.

    Args:
        x (torch.Tensor): (B, 3, H, W) normalised images, float.
        spread (torch.Tensor): (B, H, W) channel range of ``x`` (max - min
            over the channels).

    Returns:
        bool: True for gray content under unequal per-channel statistics.
    """
    differ = spread > 1e-3
    if differ.float().mean() <= 0.5:
        return False
    base = x[:, 0][differ]
    if base.numel() < 16 or base.std() < 1e-6:
        return False
    design = torch.stack([base, torch.ones_like(base)], 1)
    for channel in (1, 2):
        target = x[:, channel][differ]
        coef = torch.linalg.lstsq(design, target[:, None]).solution
        residual = (design @ coef)[:, 0] - target
        tol = 1e-3 * (target.std() + 1e-6)
        if (residual.abs() < tol).float().mean() < 0.9:
            return False
    return True


def _undoes_to_gray(x: torch.Tensor, spread: torch.Tensor,
                    mean: Sequence[float], std: Sequence[float]) -> bool:
    """Whether undoing ``mean`` / ``std`` makes the channels of most pixels of
    (B, 3, H, W) ``x`` that differ (``spread`` (B, H, W) above zero) equal."""
    gray = x * x.new_tensor(std).view(1, 3, 1, 1) + x.new_tensor(mean).view(
        1, 3, 1, 1)
    agree = (gray.amax(1) - gray.amin(1)) < 0.5
    return bool((agree & (spread > 1e-3)).float().mean() > 0.5)


def check_input_statistics(x: torch.Tensor, owner: str = 'InfMAEViT') -> bool:
    """Warn when a batch looks like gray images under per-channel statistics.

    Gray infrared images are read as 3 identical channels; normalising them
    with per-channel mean/std makes the channels differ by an exact affine
    map. ImageNet's statistics (RGB or BGR order) are recognised by name:
    undoing them makes the channels of most pixels equal again. Any other
    per-channel statistics, e.g. the caffe-style means with std 1 of mmdet's
    FCOS configs, are found by fitting channels 1 and 2 as affine maps of
    channel 0 on the pixels where the channels differ
    (:func:`affine_channels`).
    Only the first 4 images are looked at; nothing is checked while tracing
    or for integer input.

    Args:
        x (torch.Tensor): (B, 3, H, W) batch as the data preprocessor
            delivers it.
        owner (str): Who checks, the start of the warning.

    Returns:
        bool: Whether a warning was logged.
    """
    if torch.jit.is_tracing() or not x.is_floating_point():
        return False
    with torch.no_grad():
        x = x[:4].float()
        spread = x.amax(1) - x.amin(1)  # (B, H, W)
        for mean, std in ((IMAGENET_MEAN, IMAGENET_STD), (IMAGENET_MEAN[::-1],
                                                          IMAGENET_STD[::-1])):
            if _undoes_to_gray(x, spread, mean, std):
                MMLogger.get_current_instance().warning(
                    f'{owner}: the input looks like gray (infrared) images '
                    'normalised with ImageNet mean/std, probably the host '
                    "config's data preprocessor. " + ADVICE)
                return True
        if affine_channels(x, spread):
            MMLogger.get_current_instance().warning(
                f'{owner}: the input looks like gray (infrared) images '
                'normalised with per-channel mean/std that differ between '
                'channels (e.g. caffe-style means with std 1), probably the '
                "host config's data preprocessor: its three channels are "
                'exact affine maps of each other. ' + ADVICE)
            return True
    return False


def _check_first_batch(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook of :func:`check_first_batch_statistics`."""
    if args and not getattr(module, '_input_statistics_checked', False):
        module._input_statistics_checked = True
        check_input_statistics(args[0], type(module).__name__)


def check_first_batch_statistics(module: nn.Module) -> None:
    """Have ``module`` check the statistics of the first batch it is called
    with (its first positional argument, (B, 3, H, W)) and of no other
    (:func:`check_input_statistics`: one warning a run)."""
    module._input_statistics_checked = False
    module.register_forward_pre_hook(_check_first_batch)
