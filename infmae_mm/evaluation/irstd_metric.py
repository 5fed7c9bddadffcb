"""IRSTDMetric: IoU, nIoU, Pd, Fa, F1 and ROC-AUC as the IRSTD field codes."""
import logging
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from infmae_mm.registry import register_in_hosts

MATCHING_MODES = ('distance', 'label_order')
NIOU_EMPTY_MODES = ('zero', 'one', 'skip')


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for dicts, ``obj.key`` for data elements, else None."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _pixel_data(sample: Any, key: str) -> Optional[torch.Tensor]:
    """The ``data`` tensor of field ``key`` of a data sample, if present."""
    field = _get(sample, key)
    if field is None:
        return None
    data = field if isinstance(field, torch.Tensor) else _get(field, 'data')
    return None if data is None else torch.as_tensor(data)


def _binary_label_map(labels: torch.Tensor, name: str) -> np.ndarray:
    """Turn a (1, H, W) or (H, W) 0/1 label map into an (H, W) bool array.

    Raises:
        ValueError: If the shape is wrong or a value is neither 0 nor 1.
    """
    labels = labels.detach().cpu()
    if labels.ndim == 3 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 2:
        raise ValueError(f'{name} must have shape (1, H, W) or (H, W), got '
                         f'{tuple(labels.shape)}')
    arr = labels.numpy()
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        found = np.unique(arr[bad])[:5].tolist()
        raise ValueError(
            f'{name} must hold labels 0 (background) and 1 (target); found '
            f'{found}. Masks stored as 0/255 must be mapped to 0/1 when '
            'loading (IRSTD1kDataset does it); 255 is mmseg\'s ignore_index, '
            'not the target class.')
    return arr != 0


def foreground_score(seg_logits: torch.Tensor) -> np.ndarray:
    """Per-pixel target probability from mmseg's ``seg_logits``.

    mmseg's ``postprocess_result`` already applies the sigmoid when the head
    has one output channel, and leaves raw logits when it has two; this
    follows that convention.

    Args:
        seg_logits (Tensor): (C, H, W) with C = 1 (probabilities in
            [0, 1]) or C = 2 (background/target logits); (H, W) is read as
            C = 1.

    Returns:
        np.ndarray: (H, W) float32 target probability; for C = 2 the softmax
        target channel, computed as ``sigmoid(l1 - l0)``.

    Raises:
        ValueError: For other channel counts, NaN scores, or C = 1 values
            outside [0, 1] (raw logits were passed).
    """
    logits = seg_logits.detach().cpu().float()
    if logits.ndim == 2:
        logits = logits[None]
    if logits.ndim != 3 or logits.shape[0] not in (1, 2):
        raise ValueError('seg_logits must have shape (1, H, W) or (2, H, W) '
                         f'for IRSTD, got {tuple(seg_logits.shape)}')
    if logits.shape[0] == 2:
        score = torch.sigmoid(logits[1] - logits[0]).numpy()
    else:
        score = logits[0].numpy()
        # NaN fails both comparisons, hence the explicit isnan below
        if score.min() < 0 or score.max() > 1:
            raise ValueError(
                'single-channel seg_logits must be probabilities in [0, 1] '
                '(mmseg applies the sigmoid in postprocess_result); got '
                f'values in [{score.min():.3g}, {score.max():.3g}]')
    if np.isnan(score).any():
        raise ValueError('seg_logits gives NaN target scores')
    return score


def connected_components(mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """8-connected components of a binary mask.

    Args:
        mask (np.ndarray): (H, W) bool.

    Returns:
        tuple: ``(centroids, areas)``: (N, 2) float64 (row, col) mean pixel
        coordinates and (N, ) int64 pixel counts, in raster order of each
        component's first pixel (the numbering of ``skimage.measure.label``).
    """
    num, labels, stats, cents = cv2.connectedComponentsWithStats(
        np.ascontiguousarray(mask, dtype=np.uint8),
        connectivity=8,
        ltype=cv2.CV_32S)
    if num <= 1:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    # OpenCV does not promise raster numbering; the first raster position
    # of each label gives it (only foreground pixels are scanned).
    flat = labels.ravel()
    fg_labels = flat[np.flatnonzero(flat)]
    _, first = np.unique(fg_labels, return_index=True)
    order = np.argsort(first, kind='stable') + 1  # label ids 1..num-1
    centroids = cents[order][:, ::-1].astype(np.float64)  # (x, y) -> (r, c)
    areas = stats[order, cv2.CC_STAT_AREA].astype(np.int64)
    return centroids, areas


def match_targets(gt_centroids: np.ndarray,
                  pred_centroids: np.ndarray,
                  max_distance: float = 3.0,
                  mode: str = 'distance') -> List[Tuple[int, int]]:
    """One-to-one matching of ground-truth targets and predicted components.

    A pair is admissible when the Euclidean distance between the centroids
    is strictly below ``max_distance``. Each target and each predicted
    component is used at most once.

    Args:
        gt_centroids (np.ndarray): (G, 2) target centroids, raster order.
        pred_centroids (np.ndarray): (P, 2) predicted centroids, raster order.
        max_distance (float): Centroid distance bound, exclusive.
            Defaults to 3.0.
        mode (str): ``'distance'``: greedy over all admissible pairs by
            increasing distance (ties: lower target index, then lower
            predicted index), so the result does not depend on numbering.
            ``'label_order'``: BasicIRSTD's loop; targets in raster order
            each take the first still-unmatched admissible component in
            raster order. Defaults to 'distance'.

    Returns:
        list[tuple[int, int]]: Matched ``(target index, component index)``.
    """
    _check_choice('mode', mode, MATCHING_MODES)
    if len(gt_centroids) == 0 or len(pred_centroids) == 0:
        return []
    diff = gt_centroids[:, None, :] - pred_centroids[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))  # (G, P)
    pairs: List[Tuple[int, int]] = []
    used_gt, used_pred = set(), set()
    if mode == 'distance':
        gi, pj = np.nonzero(dist < max_distance)
        for k in np.lexsort((pj, gi, dist[gi, pj])):
            g, p = int(gi[k]), int(pj[k])
            if g not in used_gt and p not in used_pred:
                pairs.append((g, p))
                used_gt.add(g)
                used_pred.add(p)
    else:  # 'label_order'
        for g in range(len(gt_centroids)):
            for p in np.flatnonzero(dist[g] < max_distance).tolist():
                if p not in used_pred:
                    pairs.append((g, p))
                    used_pred.add(p)
                    break
    return pairs


def _sparse_hist(bin_ids: np.ndarray,
                 num_bins: int) -> Tuple[np.ndarray, np.ndarray]:
    """Non-empty bins of a histogram as (bin ids int32, counts int64)."""
    counts = np.bincount(bin_ids, minlength=num_bins)
    nonzero = np.flatnonzero(counts)
    return nonzero.astype(np.int32), counts[nonzero].astype(np.int64)


def auc_from_histograms(pos: np.ndarray,
                        neg: np.ndarray) -> Tuple[float, float]:
    """ROC-AUC of binned scores and its worst-case binning error.

    The AUC is the Mann-Whitney probability that a random target pixel
    scores higher than a random background pixel, ties counting 1/2; for
    binned scores this equals the trapezoidal area under the ROC curve
    swept over the bin edges. Pairs that fall in the same bin are the only
    ones whose order is lost, so the AUC of the unbinned scores differs by
    at most half their share.

    Args:
        pos (np.ndarray): (B, ) target pixel counts per score bin.
        neg (np.ndarray): (B, ) background pixel counts per score bin.

    Returns:
        tuple[float, float]: ``(auc, max_error)`` in [0, 1]; NaN when there
        are no target or no background pixels.
    """
    pos = pos.astype(np.float64)
    neg = neg.astype(np.float64)
    pairs = pos.sum() * neg.sum()
    if pairs == 0:
        return float('nan'), float('nan')
    neg_below = np.cumsum(neg) - neg
    auc = float((pos * (neg_below + 0.5 * neg)).sum() / pairs)
    max_error = float(0.5 * (pos * neg).sum() / pairs)
    return auc, max_error


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float('nan')


@register_in_hosts('METRICS', hosts=('mmseg', ))
class IRSTDMetric(BaseMetric):
    """Infrared small-target detection metrics (IoU, nIoU, Pd, Fa, F1, AUC).

    Each image gives a binary prediction P and a binary ground truth G
    (label 1 = target). With scores (``seg_logits``), ``P = score >
    threshold``; otherwise ``P = pred_sem_seg``. Re-thresholding matters
    for one-channel heads: mmseg's ``pred_sem_seg`` uses the head's
    ``threshold``, which defaults to 0.3, while the field uses 0.5. Over the
    N images:

    * ``IoU`` = ``sum |P & G| / sum |P | G|`` (dataset-level foreground IoU,
      the field's "mIoU"), x 100.
    * ``nIoU`` = mean over images of ``|P & G| / |P | G|``, x 100. An image
      with empty P and empty G follows ``niou_empty``; the default
      ``'zero'`` is what the field's code (``SamplewiseSigmoidMetric``:
      ``inter / (eps + union)``) yields.
    * ``Pd`` = matched targets / targets, x 100. Targets and predicted
      components are 8-connected components (touching targets are one
      target); a target is matched by a predicted component whose centroid
      lies strictly closer than ``match_distance`` px, one-to-one (see
      :func:`match_targets`).
    * ``Fa`` = pixels of unmatched predicted components / all pixels, in
      units of 1e-6 (BasicIRSTD's fixed count: a matched component's pixels
      are never false alarms, even where they cover background).
    * ``F1`` = 2 TP / (2 TP + FP + FN) over all pixels of all images
      (= 2PR / (P + R) for pixel precision and recall), x 100.
    * ``AUC`` = ROC-AUC of the per-pixel target probability over all pixels,
      x 100, from histograms of ``auc_bins`` equal bins on [0, 1] (memory
      does not grow with the pixel count; the logged bound says how far the
      binning can move it). Without ``seg_logits`` the 0/1 prediction is the
      score, which gives (TPR + TNR) / 2.

    A ratio whose denominator is zero (no targets for ``Pd``, nothing
    predicted nor labelled for ``IoU``/``F1``) is NaN. Values are not
    rounded; the logged table shows two decimals.

    ``process`` reads mmseg ``SegDataSample`` dicts: ``gt_sem_seg.data``
    (1, H, W) labels 0/1, ``pred_sem_seg.data`` (1, H, W) and, if present,
    ``seg_logits.data`` (1, H, W) probabilities or (2, H, W) logits, as
    ``postprocess_result`` leaves them. All are compared at the resolution
    given (the ground truth's).

    Args:
        threshold (float, optional): Binarisation threshold on the target
            probability (``score > threshold``). None uses ``pred_sem_seg``
            even when scores exist. Defaults to 0.5, as the field.
        match_distance (float): Exclusive centroid distance bound in pixels.
            Defaults to 3.0.
        matching (str): ``'distance'`` or ``'label_order'`` (BasicIRSTD's
            exact loop), see :func:`match_targets`. They differ only when a
            target has several admissible components or a component several
            admissible targets. Defaults to 'distance'.
        niou_empty (str): nIoU of an image with empty prediction and empty
            ground truth: ``'zero'`` (field), ``'one'`` or ``'skip'`` (left
            out of the mean). Defaults to 'zero'.
        auc_bins (int): Number of score bins for the AUC. Defaults to 10000.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    def __init__(self,
                 threshold: Optional[float] = 0.5,
                 match_distance: float = 3.0,
                 matching: str = 'distance',
                 niou_empty: str = 'zero',
                 auc_bins: int = 10000,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        _check_choice('matching', matching, MATCHING_MODES)
        _check_choice('niou_empty', niou_empty, NIOU_EMPTY_MODES)
        if int(auc_bins) < 2:
            raise ValueError(f'auc_bins must be >= 2, got {auc_bins}')
        self.threshold = threshold
        self.match_distance = float(match_distance)
        self.matching = matching
        self.niou_empty = niou_empty
        self.auc_bins = int(auc_bins)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Reduce each image to a few counts and two sparse histograms.

        One result per image keeps mmengine's ``collect_results`` (which
        drops the padding of distributed samplers by position) correct.

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict]): Model outputs with ground truth.
        """
        for sample in data_samples:
            gt_data = _pixel_data(sample, 'gt_sem_seg')
            if gt_data is None:
                raise KeyError('IRSTDMetric needs gt_sem_seg in data samples')
            gt = _binary_label_map(gt_data, 'gt_sem_seg')
            logits = _pixel_data(sample, 'seg_logits')
            score = None if logits is None else foreground_score(logits)
            if score is not None and self.threshold is not None:
                pred = score > self.threshold
            else:
                pred_data = _pixel_data(sample, 'pred_sem_seg')
                if pred_data is None:
                    raise KeyError('IRSTDMetric needs pred_sem_seg or '
                                   'seg_logits in data samples')
                pred = _binary_label_map(pred_data, 'pred_sem_seg')
            for name, arr in (('prediction', pred), ('seg_logits', score)):
                if arr is not None and arr.shape != gt.shape:
                    raise ValueError(f'{name} shape {arr.shape} differs from '
                                     f'gt_sem_seg shape {gt.shape}')
            self.results.append(self._image_result(pred, gt, score))

    def _image_result(self, pred: np.ndarray, gt: np.ndarray,
                      score: Optional[np.ndarray]) -> dict:
        """Counts of one image.

        Args:
            pred (np.ndarray): (H, W) bool prediction.
            gt (np.ndarray): (H, W) bool ground truth.
            score (np.ndarray, optional): (H, W) float target probability.

        Returns:
            dict: Pixel counts, target counts and score histograms.
        """
        inter = int(np.count_nonzero(pred & gt))
        pred_area = int(np.count_nonzero(pred))
        gt_area = int(np.count_nonzero(gt))
        gt_cents, _ = connected_components(gt)
        pred_cents, pred_areas = connected_components(pred)
        pairs = match_targets(gt_cents, pred_cents, self.match_distance,
                              self.matching)
        matched_area = int(sum(pred_areas[p] for _, p in pairs))

        if score is None:
            bin_ids = pred.astype(np.int64) * (self.auc_bins - 1)
        else:
            bin_ids = np.minimum((score * self.auc_bins).astype(np.int64),
                                 self.auc_bins - 1)
        return dict(
            inter=inter,
            union=pred_area + gt_area - inter,
            pred_area=pred_area,
            gt_area=gt_area,
            num_targets=len(gt_cents),
            num_detected=len(pairs),
            fa_pixels=pred_area - matched_area,
            num_pixels=int(gt.size),
            soft=score is not None,
            pos_hist=_sparse_hist(bin_ids[gt], self.auc_bins),
            neg_hist=_sparse_hist(bin_ids[~gt], self.auc_bins))

    def _dense_hist(self, results: List[dict], key: str) -> np.ndarray:
        """Sum the per-image sparse histograms ``key`` into (B, ) counts."""
        ids = [r[key][0] for r in results]
        counts = [r[key][1] for r in results]
        if not ids:
            return np.zeros(self.auc_bins)
        return np.bincount(
            np.concatenate(ids).astype(np.int64),
            weights=np.concatenate(counts).astype(np.float64),
            minlength=self.auc_bins)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute the dataset metrics and log them as a table.

        Args:
            results (list[dict]): Per-image results of :meth:`process`.

        Returns:
            dict[str, float]: ``IoU``, ``nIoU``, ``Pd``, ``F1``, ``AUC`` in
            percent and ``Fa`` in units of 1e-6.
        """
        logger: MMLogger = MMLogger.get_current_instance()

        def total(key: str) -> int:
            return sum(int(r[key]) for r in results)

        inter, union = total('inter'), total('union')
        fp = total('pred_area') - inter
        fn = total('gt_area') - inter
        per_image = []
        for r in results:
            if r['union'] > 0:
                per_image.append(r['inter'] / r['union'])
            elif self.niou_empty != 'skip':
                per_image.append(0.0 if self.niou_empty == 'zero' else 1.0)
        niou = float(np.mean(per_image)) if per_image else float('nan')
        auc, auc_error = auc_from_histograms(
            self._dense_hist(results, 'pos_hist'),
            self._dense_hist(results, 'neg_hist'))

        metrics = dict(
            IoU=100 * _ratio(inter, union),
            nIoU=100 * niou,
            Pd=100 * _ratio(total('num_detected'), total('num_targets')),
            Fa=1e6 * _ratio(total('fa_pixels'), total('num_pixels')),
            F1=100 * _ratio(2 * inter, 2 * inter + fp + fn),
            AUC=100 * auc)

        table = PrettyTable()
        for key, val in metrics.items():
            table.add_column('Fa (1e-6)' if key == 'Fa' else key,
                             [round(val, 2)])
        print_log('IRSTD results:', logger)
        print_log('\n' + table.get_string(), logger=logger)
        print_log(
            f'{len(results)} images, {total("num_targets")} targets '
            f'({total("num_detected")} detected); threshold '
            f'{self.threshold}, centroid distance < {self.match_distance} px, '
            f'{self.matching} matching, nIoU empty images: '
            f'{self.niou_empty}; AUC from {self.auc_bins} bins, binning '
            f'error <= {100 * auc_error:.3f} points',
            logger=logger)
        hard = sum(not r['soft'] for r in results)
        if hard:
            print_log(
                f'{hard} of {len(results)} images had no seg_logits: their '
                '0/1 predictions were used as AUC scores.',
                logger=logger,
                level=logging.WARNING)
        return metrics
