"""IRSTDMetric: hand-computed cases and a brute-force cross-check."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample
from scipy import ndimage

from infmae_mm.evaluation.irstd_metric import IRSTDMetric

H = W = 32
NPIX = H * W
KEYS = ('IoU', 'nIoU', 'Pd', 'Fa', 'F1', 'AUC')


def mask(points: Sequence[Tuple[int, int]] = (),
         shape=(H, W),
         boxes: Sequence[Tuple[int, int, int, int]] = ()) -> np.ndarray:
    """Bool mask with single pixels (r, c) and boxes (r0, c0, r1, c1) set."""
    m = np.zeros(shape, bool)
    for r, c in points:
        m[r, c] = True
    for r0, c0, r1, c1 in boxes:
        m[r0:r1, c0:c1] = True
    return m


def sample(pred: np.ndarray,
           gt: np.ndarray,
           score: Optional[np.ndarray] = None) -> dict:
    """A SegDataSample dict as mmengine's evaluator hands it to metrics."""
    out = dict(
        gt_sem_seg=dict(data=torch.from_numpy(gt.astype(np.int64))[None]),
        pred_sem_seg=dict(data=torch.from_numpy(pred.astype(np.int64))[None]))
    if score is not None:
        out['seg_logits'] = dict(
            data=torch.from_numpy(score.astype(np.float32))[None])
    return out


def run(samples: List[dict], **kwargs) -> Dict[str, float]:
    metric = IRSTDMetric(**kwargs)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def check(result: Dict[str, float], **expected: float) -> None:
    for key, val in expected.items():
        if isinstance(val, float) and math.isnan(val):
            assert math.isnan(result[key]), (key, result[key])
        else:
            assert result[key] == pytest.approx(val, abs=1e-9), (key, result)


# ---------------------------------------------------------------- edge cases
def test_registered_and_keys():
    assert METRICS.get('IRSTDMetric') is IRSTDMetric
    res = run([sample(mask([(5, 5)]), mask([(5, 5)]))])
    assert tuple(res) == KEYS


def test_empty_prediction():
    gt = mask(boxes=[(10, 10, 13, 13)])  # one 3x3 target
    res = run([sample(mask(), gt)])
    # hard scores: every pixel ties in one bin -> AUC 1/2
    check(res, IoU=0.0, nIoU=0.0, Pd=0.0, Fa=0.0, F1=0.0, AUC=50.0)


def test_empty_ground_truth():
    pred = mask(boxes=[(4, 4, 6, 6)])  # 4 false-alarm pixels
    res = run([sample(pred, mask())])
    check(
        res,
        IoU=0.0,
        nIoU=0.0,
        Pd=float('nan'),
        Fa=4 / NPIX * 1e6,
        F1=0.0,
        AUC=float('nan'))


@pytest.mark.parametrize('mode,niou', [('zero', 50.0), ('one', 100.0),
                                       ('skip', 100.0)])
def test_both_empty(mode, niou):
    alone = run([sample(mask(), mask())], niou_empty=mode)
    check(
        alone,
        IoU=float('nan'),
        Pd=float('nan'),
        Fa=0.0,
        F1=float('nan'),
        AUC=float('nan'),
        nIoU={
            'zero': 0.0,
            'one': 100.0,
            'skip': float('nan')
        }[mode])
    # with a perfect image next to it only nIoU depends on the convention
    target = mask(boxes=[(10, 10, 13, 13)])
    res = run([sample(mask(), mask()),
               sample(target, target)],
              niou_empty=mode)
    check(res, IoU=100.0, nIoU=niou, Pd=100.0, Fa=0.0, F1=100.0, AUC=100.0)


def test_touching_targets_are_one_target():
    # two 2x2 squares meeting at one corner: 8-connected, hence one target
    gt = mask(boxes=[(10, 10, 12, 12), (12, 12, 14, 14)])
    res = run([sample(gt, gt)])
    check(res, Pd=100.0, Fa=0.0, IoU=100.0)
    # predicting only one square: the merged target's centroid (12, 12) is
    # 1.41 px from the square's (10.5, 10.5) -> still detected
    res = run([sample(mask(boxes=[(10, 10, 12, 12)]), gt)])
    check(res, Pd=100.0, Fa=0.0, IoU=50.0)


def test_target_at_border():
    gt = mask(boxes=[(0, 0, 2, 2)])
    check(run([sample(gt, gt)]), Pd=100.0, Fa=0.0, IoU=100.0, nIoU=100.0)
    # bottom-right corner, prediction one pixel off (distance 1.41)
    gt = mask([(H - 1, W - 1)])
    check(run([sample(mask([(H - 2, W - 2)]), gt)]), Pd=100.0, Fa=0.0, IoU=0.0)


@pytest.mark.parametrize('dc,detected', [(2, True), (3, False), (4, False)])
def test_centroid_distance_is_strict(dc, detected):
    gt = mask([(10, 10)])
    res = run([sample(mask([(10, 10 + dc)]), gt)])
    check(
        res,
        Pd=100.0 if detected else 0.0,
        Fa=0.0 if detected else 1 / NPIX * 1e6)


def test_distance_uses_row_and_column():
    gt = mask([(10, 10)])
    check(run([sample(mask([(12, 12)]), gt)]), Pd=100.0)  # 2.83 px
    check(run([sample(mask([(12, 13)]), gt)]), Pd=0.0)  # 3.61 px


def test_one_blob_over_two_targets_matches_once():
    gt = mask([(10, 10), (10, 14)])  # two targets, 3 px gap
    pred = mask(boxes=[(10, 10, 11, 15)])  # 5 px, centroid (10, 12)
    for matching in ('distance', 'label_order'):
        res = run([sample(pred, gt)], matching=matching)
        # both targets are 2 px from the centroid, the blob is used once;
        # a matched blob is never a false alarm, even over background
        check(res, Pd=50.0, Fa=0.0, IoU=40.0, F1=2 * 2 / (2 * 2 + 3) * 100)


def test_false_alarm_pixels():
    gt = mask([(5, 5)])
    pred = mask([(5, 5), (20, 1), (20, 2)], boxes=[(25, 25, 28, 28)])
    res = run([sample(pred, gt)])
    check(res, Pd=100.0, Fa=11 / NPIX * 1e6, IoU=100 / 12)


def test_false_alarm_with_same_area_as_match_is_counted():
    # the area-value matching of some codes (SCTransNet#14) misses this one
    gt = mask(boxes=[(5, 5, 7, 7)])
    pred = mask(boxes=[(5, 5, 7, 7), (20, 20, 22, 22)])
    check(run([sample(pred, gt)]), Pd=100.0, Fa=4 / NPIX * 1e6)


def test_fa_and_pd_pool_over_images():
    a = sample(mask([(3, 3), (20, 20)]), mask([(3, 3)]))  # 1 FA pixel
    b = sample(mask(), mask([(8, 8), (16, 16)]))  # 2 missed targets
    check(run([a, b]), Pd=100 / 3, Fa=1 / (2 * NPIX) * 1e6)


def test_matching_modes_differ_only_when_ambiguous():
    # p1 (10, 12) is admissible for both targets, p2 (12, 10) only for A;
    # raster order lets A take p1 first in the field's loop
    gt = mask([(10, 10), (10, 13)])
    pred = mask([(10, 12), (12, 10)])
    check(
        run([sample(pred, gt)], matching='label_order'),
        Pd=50.0,
        Fa=1 / NPIX * 1e6)
    check(run([sample(pred, gt)], matching='distance'), Pd=100.0, Fa=0.0)


def test_iou_is_dataset_level_and_niou_per_image():
    g1, p1 = mask(boxes=[(0, 0, 2, 2)]), mask(boxes=[(0, 0, 2, 1)])  # 2/4
    g2 = mask(boxes=[(10, 10, 20, 20)])  # 100 px, predicted exactly
    res = run([sample(p1, g1), sample(g2, g2)])
    check(
        res,
        IoU=102 / 104 * 100,
        nIoU=(0.5 + 1.0) / 2 * 100,
        F1=2 * 102 / (2 * 102 + 0 + 2) * 100)


# ----------------------------------------------------------- soft scores
def test_scores_threshold_and_auc():
    gt = np.zeros((2, 2), bool)
    gt[0, 0] = True
    score = np.array([[0.9, 0.1], [0.95, 0.5]])
    res = run([sample(np.zeros((2, 2)), gt, score)])
    # 0.9 beats 0.1 and 0.5, loses to 0.95; 0.5 is not > 0.5, so the
    # prediction is the left column: one blob, centroid 0.5 px from the
    # target, matched, hence no false alarm
    check(res, AUC=200 / 3, IoU=50.0, Pd=100.0, Fa=0.0)
    # ties count one half
    score = np.array([[0.5, 0.5], [0.1, 0.1]])
    check(run([sample(np.zeros((2, 2)), gt, score)]), AUC=100 * 2.5 / 3)
    # a configurable threshold
    check(run([sample(np.zeros((2, 2)), gt, score)], threshold=0.4), IoU=50.0)


def test_threshold_none_uses_pred_sem_seg():
    gt = mask([(5, 5)])
    score = np.where(gt, 0.9, 0.1)
    res = run([sample(mask(), gt, score)], threshold=None)
    check(res, Pd=0.0, AUC=100.0)


def test_two_channel_logits_are_softmaxed():
    rng = np.random.default_rng(0)
    gt = mask([(5, 5), (5, 6), (20, 9)])
    logits = rng.normal(size=(2, H, W)).astype(np.float32)
    prob = torch.softmax(torch.from_numpy(logits), 0)[1].numpy()
    two = sample(mask(), gt)
    two['seg_logits'] = dict(data=torch.from_numpy(logits))
    res2 = run([two])
    res1 = run([sample(mask(), gt, prob)])
    for key in KEYS:
        assert res2[key] == pytest.approx(res1[key], abs=1e-6), key


def test_input_validation():
    gt255 = torch.zeros(1, H, W, dtype=torch.long)
    gt255[0, 3, 3] = 255
    metric = IRSTDMetric()
    with pytest.raises(ValueError, match='ignore_index'):
        metric.process({}, [
            dict(
                gt_sem_seg=dict(data=gt255), pred_sem_seg=dict(data=gt255 * 0))
        ])
    raw = sample(mask(), mask([(1, 1)]), np.full((H, W), 3.0))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        metric.process({}, [raw])
    nan = sample(mask(), mask([(1, 1)]), np.full((H, W), np.nan))
    with pytest.raises(ValueError, match='NaN'):
        metric.process({}, [nan])
    bad = sample(mask(shape=(H, W + 1)), mask([(1, 1)]))
    with pytest.raises(ValueError, match='shape'):
        metric.process({}, [bad])
    with pytest.raises(ValueError):
        IRSTDMetric(matching='hungarian')
    with pytest.raises(ValueError):
        IRSTDMetric(niou_empty='nan')


def test_seg_data_sample_and_reset():
    gt = mask([(5, 5)])
    labels = torch.from_numpy(gt.astype(np.int64))[None]
    ds = SegDataSample()
    ds.gt_sem_seg = PixelData(data=labels)
    ds.pred_sem_seg = PixelData(data=labels.clone())
    ds.seg_logits = PixelData(
        data=torch.from_numpy(np.where(gt, 0.8, 0.2).astype(np.float32))[None])
    metric = METRICS.build(dict(type='IRSTDMetric', _scope_='mmseg'))
    metric.process({}, [ds.to_dict()])
    check(metric.evaluate(1), IoU=100.0, Pd=100.0, AUC=100.0, Fa=0.0)
    metric.process({}, [ds])  # a data element works too
    metric.process({}, [sample(mask(), gt)])
    check(metric.evaluate(2), IoU=50.0, Pd=50.0)  # results were reset


# -------------------------------------------- independent implementation
def ref_image(pred: np.ndarray, gt: np.ndarray, matching: str) -> dict:
    """Brute force: scipy labels, loops over all component pairs."""
    eight = np.ones((3, 3), int)
    glab, ng = ndimage.label(gt, structure=eight)
    plab, npr = ndimage.label(pred, structure=eight)
    gc = [ndimage.center_of_mass(gt, glab, i) for i in range(1, ng + 1)]
    pc = [ndimage.center_of_mass(pred, plab, j) for j in range(1, npr + 1)]
    dist = {(i, j): math.dist(gc[i], pc[j])
            for i in range(ng) for j in range(npr)}
    matched = {}  # target -> component
    if matching == 'distance':
        for (i, j), d in sorted(dist.items(), key=lambda kv: (kv[1], kv[0])):
            if d < 3 and i not in matched and j not in matched.values():
                matched[i] = j
    else:
        for i in range(ng):
            for j in range(npr):
                if dist[i, j] < 3 and j not in matched.values():
                    matched[i] = j
                    break
    fa = 0
    for j in range(npr):
        if j not in matched.values():
            fa += int((plab == j + 1).sum())
    inter, union = int((pred & gt).sum()), int((pred | gt).sum())
    return dict(
        inter=inter,
        union=union,
        tp=inter,
        fp=int((pred & ~gt).sum()),
        fn=int((~pred & gt).sum()),
        targets=ng,
        detected=len(matched),
        fa=fa,
        pixels=pred.size)


def ref_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Exact Mann-Whitney AUC with ties = 1/2, by comparing all pairs."""
    pos, neg = np.sort(scores[labels]), np.sort(scores[~labels])
    below = np.searchsorted(neg, pos, side='left')
    equal = np.searchsorted(neg, pos, side='right') - below
    return float((below + 0.5 * equal).sum() / (len(pos) * len(neg)))


def ref_metrics(images: List[Tuple[np.ndarray, np.ndarray]],
                matching: str) -> Dict[str, float]:
    stats = []
    for score, gt in images:
        stats.append(ref_image(score > 0.5, gt, matching))
    tot = {k: sum(s[k] for s in stats) for k in stats[0]}
    ious = [s['inter'] / s['union'] if s['union'] else 0.0 for s in stats]
    scores = np.concatenate([s.ravel() for s, _ in images])
    labels = np.concatenate([g.ravel() for _, g in images])
    return dict(
        IoU=100 * tot['inter'] / tot['union'],
        nIoU=100 * sum(ious) / len(ious),
        Pd=100 * tot['detected'] / tot['targets'],
        Fa=1e6 * tot['fa'] / tot['pixels'],
        F1=100 * 2 * tot['tp'] / (2 * tot['tp'] + tot['fp'] + tot['fn']),
        AUC=100 * ref_auc(scores, labels))


def random_image(rng: np.random.Generator,
                 shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Small targets (some in close or touching pairs, some at the border),
    jittered, partial or merged predictions of them, random false alarms, and
    scores whose ``> 0.5`` region is exactly the prediction."""
    h, w = shape
    gt = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    for _ in range(int(rng.integers(0, 5))):
        r, c = int(rng.integers(0, h)), int(rng.integers(0, w))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        gt[r:r + sh, c:c + sw] = True
        if rng.random() < 0.4:  # a neighbour 1-4 px away, maybe touching
            r2, c2 = r + int(rng.integers(-1, 2)), c + sw + int(
                rng.integers(0, 4))
            gt[max(0, r2):r2 + 1, c2:c2 + 1] = True
            if rng.random() < 0.5:  # one blob over both
                pred[r:r + sh, c:c2 + 1] = True
                continue
        if rng.random() < 0.85:  # detected, shifted by up to 3 px
            dr, dc = rng.integers(-3, 4, size=2) // (1 + (rng.random() < .6))
            r2, c2 = max(0, r + dr), max(0, c + dc)
            pred[r2:r2 + sh + int(rng.integers(-1, 2)),
                 c2:c2 + sw + int(rng.integers(-1, 2))] = True
            if rng.random() < 0.3:  # a fragment next to it
                pred[min(h - 1, r2 + sh + 1), c2] = True
    pred |= rng.random(shape) < 0.003  # isolated false alarms
    score = np.where(pred, 0.5 + 0.5 * rng.random(shape),
                     0.5 * rng.random(shape))
    score[pred & (score == 0.5)] = 0.75  # keep "score > 0.5" == pred
    return score.astype(np.float32), gt


def test_agrees_with_brute_force():
    rng = np.random.default_rng(2024)
    shapes = [(40, 48), (32, 32), (48, 40), (24, 56)]
    bins = 4096
    modes_differ = False
    for _ in range(5):  # 5 evaluations x 4 images = 20 random predictions
        images = [random_image(rng, s) for s in shapes]
        # scores at bin centres make the binned AUC exact
        images = [((np.floor(s * bins) + 0.5) / bins, g) for s, g in images]
        samples = [sample(np.zeros_like(g), g, s) for s, g in images]
        results = {}
        for matching in ('distance', 'label_order'):
            res = results[matching] = run(
                samples, matching=matching, auc_bins=bins)
            ref = ref_metrics(images, matching)
            for key in KEYS:
                assert res[key] == pytest.approx(
                    ref[key], rel=1e-9, abs=1e-9), (matching, key, ref)
        modes_differ |= results['distance'] != results['label_order']
    assert modes_differ, 'the random cases never exercised ambiguous matches'


def test_binned_auc_within_bound_of_exact():
    rng = np.random.default_rng(7)
    gt = rng.random((64, 64)) < 0.05
    score = np.clip(rng.normal(0.3 + 0.3 * gt, 0.2), 0, 1)
    exact = 100 * ref_auc(score.astype(np.float32), gt)
    res = run([sample(np.zeros_like(gt), gt, score)], auc_bins=1000)
    assert res['AUC'] == pytest.approx(exact, abs=0.05)
