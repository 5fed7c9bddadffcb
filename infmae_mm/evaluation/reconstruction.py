"""Masked-patch reconstruction quality in gray levels, and trivial fills.

A masked image model is only useful when it predicts the masked patches
better than trivial fills computed from the visible pixels. This module holds
the measures and the fills, on one gray image of gray levels (0-255 for the
8-bit inputs of the recipes):

* :func:`masked_mse` / :func:`psnr`: mean squared error over the masked
  pixels and 10 log10(255^2 / MSE);
* fills (:data:`FILLS`): ``visible_mean`` (every masked pixel gets the mean
  of the image's visible pixels), ``row_mean`` (the mean of the visible
  pixels in its pixel row; rows without a visible pixel get the visible
  mean) and ``inpaint`` (OpenCV's Telea inpainting of the masked pixels,
  radius 3).
"""
import math
from typing import Callable, Dict, Mapping, Sequence

import cv2
import numpy as np

#: Peak value of the PSNR (8-bit gray levels).
PEAK = 255.


def masked_mse(pred: np.ndarray, target: np.ndarray,
               mask: np.ndarray) -> float:
    """Mean squared error over the masked pixels.

    Args:
        pred (np.ndarray): (H, W) prediction in gray levels.
        target (np.ndarray): (H, W) image in gray levels.
        mask (np.ndarray): (H, W), True (or 1) where masked.

    Returns:
        float: MSE in gray levels squared.

    Raises:
        ValueError: If nothing is masked.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError('masked_mse needs at least one masked pixel.')
    diff = pred.astype(np.float64)[mask] - target.astype(np.float64)[mask]
    return float(np.mean(diff * diff))


def psnr(mse: float, peak: float = PEAK) -> float:
    """Peak signal-to-noise ratio in dB of an MSE (inf for 0)."""
    return math.inf if mse <= 0 else 10. * math.log10(peak * peak / mse)


def visible_mean_fill(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked pixels set to the mean of the visible pixels: (H, W)."""
    mask = np.asarray(mask, bool)
    out = gray.astype(np.float64).copy()
    out[mask] = out[~mask].mean()
    return out


def row_mean_fill(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked pixels set to the mean of the visible pixels of their row:
    (H, W). Rows without a visible pixel get the image's visible mean."""
    mask = np.asarray(mask, bool)
    gray = gray.astype(np.float64)
    visible = ~mask
    counts = visible.sum(1)
    sums = np.where(visible, gray, 0.).sum(1)
    fallback = gray[visible].mean()
    row_means = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
    return np.where(mask, row_means[:, None], gray)


def inpaint_fill(gray: np.ndarray,
                 mask: np.ndarray,
                 radius: int = 3) -> np.ndarray:
    """Masked pixels inpainted with OpenCV's Telea method: (H, W)."""
    mask = np.asarray(mask, bool)
    img = np.clip(np.round(gray), 0, 255).astype(np.uint8)
    out = cv2.inpaint(img, mask.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return np.where(mask, out.astype(np.float64), gray.astype(np.float64))


#: The trivial fills every model is compared against, by name.
FILLS: Dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    'visible_mean': visible_mean_fill,
    'row_mean': row_mean_fill,
    'inpaint': inpaint_fill,
}


def image_scores(target: np.ndarray, preds: Mapping[str, np.ndarray],
                 mask: np.ndarray) -> Dict[str, float]:
    """Masked MSE of the model's predictions and of every fill on one image.

    Args:
        target (np.ndarray): (H, W) image in gray levels.
        preds (Mapping[str, np.ndarray]): (H, W) predictions by name (e.g.
            ``{'model': ...}``), in gray levels.
        mask (np.ndarray): (H, W), True where masked.

    Returns:
        dict: ``{name: mse}`` for each prediction and each of :data:`FILLS`.
    """
    scores = {name: masked_mse(p, target, mask) for name, p in preds.items()}
    for name, fill in FILLS.items():
        scores[name] = masked_mse(fill(target, mask), target, mask)
    return scores


def record_scores(record: Mapping) -> Dict[str, float]:
    """Per-image scores of a ``reconstruction`` record (``target`` and, per
    mask set, ``pred`` and ``mask``; numpy arrays or tensors), keyed
    ``'<set>/<method>'`` for the model and every fill."""

    def numpy(value) -> np.ndarray:
        return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)

    target = numpy(record['target'])
    scores = {}
    for name, value in record.items():
        if name == 'target':
            continue
        for method, mse in image_scores(target, {
                'model': numpy(value['pred'])
        }, numpy(value['mask'])).items():
            scores[f'{name}/{method}'] = mse
    return scores


def summarize(results: Sequence[Mapping[str, float]]) -> Dict[str, float]:
    """Average per-image scores (:func:`image_scores` keyed
    ``'<set>/<method>'``) into ``'<set>/<method>_mse'`` (mean MSE),
    ``'<set>/<method>_psnr'`` (mean of the per-image PSNRs) and
    ``'<set>/model_beats_fills'`` (1 when the model's mean MSE is below every
    fill's, else 0)."""
    if not results:
        raise ValueError('No images were measured.')
    metrics: Dict[str, float] = {}
    for key in results[0]:
        mses = np.array([r[key] for r in results])
        metrics[f'{key}_mse'] = float(mses.mean())
        metrics[f'{key}_psnr'] = float(np.mean([psnr(m) for m in mses]))
    for s in mask_sets_of(results[0]):
        if f'{s}/model_mse' in metrics:
            metrics[f'{s}/model_beats_fills'] = float(
                all(metrics[f'{s}/model_mse'] < metrics[f'{s}/{f}_mse']
                    for f in FILLS))
    return metrics


def mask_sets_of(scores: Mapping[str, float]) -> list:
    """The mask-set names (``'iam'``, ``'random'``) of ``'<set>/<method>'``
    keys, in first-seen order."""
    return list(dict.fromkeys(k.split('/')[0] for k in scores))


def summary_table(metrics: Mapping[str, float], mask_sets: Sequence[str],
                  methods: Sequence[str], num_images: int) -> str:
    """A plain-text table of masked MSE / PSNR, one row per method.

    Args:
        metrics (Mapping[str, float]): ``'<set>/<method>_mse'`` and
            ``'<set>/<method>_psnr'`` values.
        mask_sets (Sequence[str]): Column groups (e.g. ``'iam'``,
            ``'random'``).
        methods (Sequence[str]): Rows (``'model'`` and the fills).
        num_images (int): Number of images measured (for the title).

    Returns:
        str: The table.
    """
    head = f'{"masked patches":<16}' + ''.join(
        f'{s + " MSE":>14}{s + " PSNR":>14}' for s in mask_sets)
    lines = [
        f'Held-out reconstruction, {num_images} images (gray levels; MSE in '
        f'levels^2, PSNR in dB, peak {PEAK:g}):', head
    ]
    for method in methods:
        row = f'{method:<16}'
        for s in mask_sets:
            row += f'{metrics[f"{s}/{method}_mse"]:>14.1f}'
            row += f'{metrics[f"{s}/{method}_psnr"]:>14.2f}'
        lines.append(row)
    for s in mask_sets:
        if f'{s}/model_mse' not in metrics:
            continue
        best_fill = min(FILLS, key=lambda f: metrics[f'{s}/{f}_mse'])
        verdict = 'beats' if metrics[f'{s}/model_mse'] < metrics[
            f'{s}/{best_fill}_mse'] else 'does NOT beat'
        lines.append(f'{s}: the model {verdict} the best fill '
                     f'({best_fill}).')
    return '\n'.join(lines)
