"""Picture columns for DuGI-MAE: entropy map, AFDM response, filtered input.

Used by ``tools/visualization/show_reconstruction.py``: the entropy map
(the paper's masking criterion, 256-level histogram entropy per 16x16
patch) for any model, and for models whose decoder has a
``DualDomainGuidance`` bridge the filter response and what the frequency
path hands on (the filtered image, or for the code form the norm of each
filtered embedding token).
"""
from typing import List, Tuple

import cv2
import numpy as np
import torch

from ..models.masking import patch_scores


def _heat(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1)
    return cv2.applyColorMap((scaled * 255).round().astype(np.uint8),
                             cv2.COLORMAP_INFERNO)


def _stretch(values: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(values, (1, 99))
    return (np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1) *
            255).round().astype(np.uint8)


def entropy_map(gray: np.ndarray, patch_size: int = 16) -> np.ndarray:
    """Per-patch gray-histogram entropy as a heat map (0 to 8 bits).

    Args:
        gray (np.ndarray): (H, W) uint8 image, sides multiples of the patch.
        patch_size (int): Patch side. Defaults to 16.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR heat map, one colour per patch.
    """
    h, w = gray.shape[0] // patch_size, gray.shape[1] // patch_size
    images = torch.from_numpy(np.ascontiguousarray(gray)).float()[None, None]
    bits = patch_scores(
        images, 'entropy', patch_size,
        value_range=(0., 255.))[0].reshape(h, w).numpy()
    grid = bits.repeat(patch_size, 0).repeat(patch_size, 1)
    return _heat(grid, 0., 8.)


def has_guidance(model: torch.nn.Module) -> bool:
    """Whether ``model``'s decoder (or the model) has a DDG bridge."""
    return hasattr(getattr(model, 'neck', None), 'guidance') or hasattr(
        model, 'guidance')


@torch.no_grad()
def guidance_views(model: torch.nn.Module, inputs: torch.Tensor,
                   mask: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """The AFDM response and the frequency path's output for one image.

    Args:
        model (nn.Module): A model with a ``DualDomainGuidance`` bridge.
        inputs (torch.Tensor): (1, C, H, W) normalised image.
        mask (torch.Tensor): (1, N) token mask, 1 = masked (what the bridge
            hides with ``afdm_input='visible'``).

    Returns:
        tuple: the centred filter response (M, K) as a uint8 image (0 to
        1 -> 0 to 255; for the code form M x K = tokens x channels) and the
        filtered input as an (H, W) uint8 image (image domain: the first
        channel, contrast-stretched; embedding domain: the norm of each
        filtered token, one value per patch).
    """
    bridge = getattr(getattr(model, 'neck', None), 'guidance', None)
    if bridge is None:
        bridge = model.guidance
    views = bridge.filter(inputs, mask.to(inputs))
    response = views['response'].float()
    response = response.reshape(-1, *response.shape[-2:])[0].cpu().numpy()
    response_img = (np.clip(response, 0, 1) * 255).round().astype(np.uint8)
    H, W = inputs.shape[2:]
    if bridge.domain == 'image':
        filtered = views['filtered'][0, 0].float().cpu().numpy()
    else:
        p = bridge.patch_size
        norms = views['filtered'][0].float().norm(dim=-1).cpu().numpy()
        filtered = norms.reshape(H // p, W // p).repeat(p, 0).repeat(p, 1)
    return response_img, _stretch(filtered)


def view_titles(model: torch.nn.Module) -> List[str]:
    """Column titles matching :func:`view_cells`."""
    titles = ['entropy (bits/patch, 0-8)']
    if has_guidance(model):
        bridge = getattr(getattr(model, 'neck', None), 'guidance', None) or \
            model.guidance
        seen = 'full image' if bridge.leaks_masked_content else \
            'visible only'
        titles += [
            f'AFDM response ({bridge.afdm.response_type})',
            f'AFDM output ({seen})'
        ]
    return titles


def view_cells(model: torch.nn.Module, inputs: torch.Tensor, gray: np.ndarray,
               mask: torch.Tensor) -> List[np.ndarray]:
    """The extra picture cells of one image.

    Args:
        model (nn.Module): The pre-training model.
        inputs (torch.Tensor): (1, C, H, W) normalised image.
        gray (np.ndarray): (H, W) uint8 image (for the entropy map).
        mask (torch.Tensor): (1, N) token mask, 1 = masked.

    Returns:
        list[np.ndarray]: the entropy map and, for DuGI models, the filter
        response and the filtered input.
    """
    cells = [entropy_map(gray)]
    if has_guidance(model):
        cells += list(guidance_views(model, inputs, mask))
    return cells
