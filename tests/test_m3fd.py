"""Tests for the M3FD -> COCO converter and M3FDInfDataset.

The data is the synthetic M3FD-like writer's output (192x256, fast) plus
hand-made trouble: near-duplicate frames forming scenes, malformed XML, an
XML without objects, odd class names and boxes, a missing image and an
image without XML.
"""
import importlib.util
import json
import os
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pytest

from infmae_mm import testing as synthetic
from infmae_mm.converters.m3fd import (DEFAULT_SCENE_THRESHOLD, M3FD_CLASSES,
                                       ImageRecord, build_coco, convert_m3fd,
                                       group_scenes, parse_voc_xml,
                                       resolve_class_name, split_random,
                                       split_scenes, voc_box_to_coco)
from infmae_mm.curation.near_duplicates import similarity, thumbnail

H, W = 192, 256
# Frames 1-2 are moved copies of frame 0 and 5-7 of frame 4 (one scene
# each); 12 has malformed XML, 13 no object, 14 odd objects, 15 no image
# and 16 no XML.
SCENES = [['00000', '00001', '00002'], ['00003'],
          ['00004', '00005', '00006', '00007'], ['00008'], ['00009'],
          ['00010'], ['00011'], ['00013'], ['00014']]
KEPT = [s for sc in SCENES for s in sc]

# Objects of 00014.xml: (name, (xmin, ymin, xmax, ymax) or None).
ODD_OBJECTS = [('People', (10, 20, 30, 60)), ('people', (40, 20, 52, 50)),
               ('car ', (60, 100, 120, 140)), ('Car', (200, 150, 300, 190)),
               ('Person', (1, 1, 9, 9)), ('Person', (2, 2, 9, 9)),
               ('Bicycle', (3, 3, 9, 9)), ('Bus', (70, 70, 70, 90)),
               ('Truck', ('abc', 70, 80, 90)), ('Lamp', None)]


def _voc_text(objects, width=1024, height=768) -> str:
    """A VOC file; the default size is not the images' (a size note)."""
    parts = [
        f'<annotation><size><width>{width}</width><height>{height}'
        '</height><depth>1</depth></size>'
    ]
    for name, box in objects:
        coords = '' if box is None else ''.join(
            f'<{k}>{v}</{k}>'
            for k, v in zip(('xmin', 'ymin', 'xmax', 'ymax'), box))
        bndbox = '' if box is None else f'<bndbox>{coords}</bndbox>'
        parts.append(f'<object><name>{name}</name>{bndbox}</object>')
    return ''.join(parts) + '</annotation>\n'


ODD_XML = _voc_text(ODD_OBJECTS)


def _moved_copy(img: np.ndarray, shift: float, seed: int) -> np.ndarray:
    """The same frame after camera motion, a gain change and new noise."""
    m = np.float32([[1, 0, shift * W], [0, 1, 0.5 * shift * H]])
    out = cv2.warpAffine(img, m, (W, H), borderMode=cv2.BORDER_REFLECT)
    noise = np.random.default_rng(seed).normal(0, 3, img.shape)
    return np.clip(out * 0.85 + 15 + noise, 0, 255).astype(np.uint8)


def _n_objects(root: str, stem: str) -> int:
    with open(osp.join(root, 'Annotation', stem + '.xml'), 'rb') as f:
        return len(parse_voc_xml(f.read()).objects)


@pytest.fixture(scope='module')
def m3fd_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('M3FD'))
    synthetic.write_m3fd_like(root, num_images=17, size=(H, W), seed=0)
    ir, ann = osp.join(root, 'Ir'), osp.join(root, 'Annotation')
    for src, dsts in (('00000', ('00001', '00002')),
                      ('00004', ('00005', '00006', '00007'))):
        img = cv2.imread(osp.join(ir, src + '.png'), cv2.IMREAD_GRAYSCALE)
        for k, dst in enumerate(dsts, start=1):
            cv2.imwrite(
                osp.join(ir, dst + '.png'), _moved_copy(img, 0.03 * k, k))
            shutil.copy(
                osp.join(ann, src + '.xml'), osp.join(ann, dst + '.xml'))
    with open(osp.join(ann, '00012.xml'), 'w') as f:
        f.write('<annotation><object><name>Car</name>')
    with open(osp.join(ann, '00013.xml'), 'w') as f:
        f.write(_voc_text([], W, H))
    with open(osp.join(ann, '00014.xml'), 'w') as f:
        f.write(ODD_XML)
    os.remove(osp.join(ir, '00015.png'))
    os.remove(osp.join(ann, '00016.xml'))
    return root


@pytest.fixture(scope='module')
def converted(m3fd_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('out'))
    messages = []
    report = convert_m3fd(
        m3fd_root, out, val_ratio=0.3, seed=0, log=messages.append)
    return out, report, messages


def _load(out: str, name: str) -> dict:
    with open(osp.join(out, 'annotations', f'm3fd_inf_{name}.json')) as f:
        return json.load(f)


def _read_split(out: str, name: str) -> list:
    with open(osp.join(out, 'splits', f'{name}.txt')) as f:
        return f.read().split()


# --------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------
def test_class_order():
    assert M3FD_CLASSES == ('People', 'Car', 'Bus', 'Motorcycle', 'Lamp',
                            'Truck')
    # The synthetic writer only writes names the converter knows, and the
    # runtime dataset reads the converter's order (one owner: metainfo).
    assert set(synthetic.SCENE_TO_M3FD.values()) <= set(M3FD_CLASSES)
    from infmae_mm.datasets.metainfo import M3FD_CLASSES as runtime_classes
    assert runtime_classes is M3FD_CLASSES
    cats = build_coco([])['categories']
    assert [(c['id'], c['name'])
            for c in cats] == list(enumerate(M3FD_CLASSES, start=1))


def test_parse_voc_xml():
    ann = parse_voc_xml(ODD_XML.encode())
    assert (ann.width, ann.height) == (1024, 768)
    assert [o.name for o in ann.objects][:3] == ['People', 'people', 'car ']
    assert ann.objects[0].bbox == (10.0, 20.0, 30.0, 60.0)
    assert ann.objects[8].bbox is None and ann.objects[9].bbox is None
    nan = parse_voc_xml(b'<annotation><object><name>Car</name><bndbox>'
                        b'<xmin>nan</xmin><ymin>1</ymin><xmax>5</xmax>'
                        b'<ymax>5</ymax></bndbox></object></annotation>')
    assert nan.objects[0].bbox is None and nan.width is None
    for bad in (b'<annotation><object>', b'', b'<voc></voc>'):
        with pytest.raises(ValueError):
            parse_voc_xml(bad)


@pytest.mark.parametrize('name,expected', [('People', ('People', False)),
                                           ('people', ('People', True)),
                                           ('People ', ('People', True)),
                                           ('car ', ('Car', True)),
                                           (' MOTORCYCLE',
                                            ('Motorcycle', True)),
                                           ('Person', (None, False)),
                                           ('Bicycle', (None, False)),
                                           ('', (None, False))])
def test_resolve_class_name(name, expected):
    assert resolve_class_name(name) == expected


def test_box_convention():
    # w = xmax - xmin, no +1.
    assert voc_box_to_coco((10, 20, 30, 50), 100, 80) == ([10, 20, 20,
                                                           30], False)
    assert voc_box_to_coco((0, 0, 100, 80), 100, 80) == ([0, 0, 100,
                                                          80], False)
    # Clipped to the image.
    assert voc_box_to_coco((-5, 70, 120, 90), 100, 80) == ([0, 70, 100,
                                                            10], True)
    # Degenerate: empty, inverted, outside, or below min_size.
    assert voc_box_to_coco((10, 10, 10, 20), 100, 80)[0] is None
    assert voc_box_to_coco((30, 10, 20, 20), 100, 80)[0] is None
    assert voc_box_to_coco((110, 10, 120, 20), 100, 80) == (None, True)
    assert voc_box_to_coco((10, 10, 12, 20), 100, 80, min_size=3)[0] is None
    assert voc_box_to_coco((10, 10, 10.5, 20), 100, 80, min_size=0.25)[0] \
        == [10, 10, 0.5, 10]


def test_group_scenes_numbering_and_similarity():
    stems = ['a1', 'a2', 'a3', 'a7', 'a8', 'b9', 'b10', 'x', 'y']
    assert group_scenes(stems) == [['a1', 'a2', 'a3'], ['a7', 'a8'],
                                   ['b9', 'b10'], ['x'], ['y']]
    stems = ['00001', '00002', '00003', '00004']
    assert group_scenes(
        stems, [0.9, 0.2, 0.7], threshold=0.6) == [['00001', '00002'],
                                                   ['00003', '00004']]
    with pytest.raises(ValueError):
        group_scenes(stems, [0.9])


def test_frame_similarity(m3fd_root):
    # The scene split uses curation's near-duplicate measure.
    ir = osp.join(m3fd_root, 'Ir')

    def desc(stem):
        return thumbnail(
            cv2.imread(osp.join(ir, stem + '.png'), cv2.IMREAD_GRAYSCALE))

    assert similarity(desc('00000'), desc('00000')) == pytest.approx(1)
    assert similarity(desc('00002'), desc('00000')) > DEFAULT_SCENE_THRESHOLD
    assert similarity(desc('00003'), desc('00002')) < DEFAULT_SCENE_THRESHOLD


def test_split_random_deterministic_and_disjoint():
    stems = [f'{i:05d}' for i in range(100)]
    train, val = split_random(stems, 0.2, seed=0)
    assert len(val) == 20 and len(train) == 80
    assert not set(train) & set(val) and set(train) | set(val) == set(stems)
    assert split_random(stems[::-1], 0.2, seed=0) == (train, val)
    assert split_random(stems, 0.2, seed=1)[1] != val
    with pytest.raises(ValueError):
        split_random(stems, 1.0, seed=0)


def test_split_scenes_keeps_scenes_whole():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 12, size=40)
    stems = iter(f'{i:05d}' for i in range(int(sizes.sum())))
    scenes = [[next(stems) for _ in range(n)] for n in sizes]
    train, val = split_scenes(scenes, 0.2, seed=3)
    assert split_scenes(scenes, 0.2, seed=3) == (train, val)
    assert not set(train) & set(val)
    for scene in scenes:
        assert set(scene) <= set(train) or set(scene) <= set(val)
    assert abs(len(val) / sizes.sum() - 0.2) < 0.05
    # A scene that overshoots the target stays in train.
    assert split_scenes([['a'] * 9, ['b']], 0.2, seed=0) == (['a'] * 9, ['b'])
    with pytest.raises(ValueError, match='at least 2 scenes'):
        split_scenes([['a', 'b']], 0.2, seed=0)


def test_build_coco_ids_shared_between_subsets():
    recs = [
        ImageRecord('00000', 'Ir/00000.png', 8, 6, [(1, [0, 0, 2, 3])]),
        ImageRecord('00001', 'Ir/00001.png', 8, 6, [(2, [1, 1, 2.5, 2]),
                                                    (6, [0, 0, 8, 6])])
    ]
    full, sub = build_coco(recs), build_coco(recs, keep={'00001'})
    assert [a['id'] for a in full['annotations']] == [1, 2, 3]
    assert [(a['id'], a['image_id']) for a in sub['annotations']] == [(2, 2),
                                                                      (3, 2)]
    ann = sub['annotations'][0]
    assert ann['bbox'] == [1, 1, 2.5, 2] and ann['area'] == 5
    assert ann['iscrowd'] == 0
    assert ann['segmentation'] == [[1, 1, 3.5, 1, 3.5, 3, 1, 3]]


# --------------------------------------------------------------------------
# Whole conversion
# --------------------------------------------------------------------------
def test_convert_counts_and_messages(m3fd_root, converted):
    out, report, messages = converted
    c = report.counts
    assert (c['malformed_xml'], c['missing_image'], c['missing_xml'],
            c['unreadable_image']) == (1, 1, 1, 0)
    assert (c['unknown_class'], c['degenerate_box'],
            c['malformed_box']) == (3, 1, 2)
    assert (c['no_objects'], c['aliased_class'], c['clipped_box'],
            c['size_mismatch']) == (1, 2, 1, 1)
    # Every skip is reported with the file (and class) it concerns.
    text = '\n'.join(messages)
    for needle in ('Annotation/00012.xml: malformed XML',
                   'Annotation/00015.xml: no image', '00016.png',
                   "unknown class 'Person'", "unknown class 'Bicycle'",
                   "'car ' read as 'Car'", 'degenerate box',
                   'non-numeric bndbox'):
        assert needle in text
    assert "2 object(s) in Annotation/00014.xml: unknown class 'Person'" \
        in text
    n_regular = sum(_n_objects(m3fd_root, s) for s in KEPT[:-2])
    all_ = _load(out, 'all')
    assert [im['file_name']
            for im in all_['images']] == [f'Ir/{s}.png' for s in KEPT]
    assert len(all_['annotations']) == n_regular + 4
    assert report.images == dict(
        all=14, train=report.images['train'], val=report.images['val'])
    assert report.images['train'] + report.images['val'] == 14
    assert sum(report.class_counts['all'].values()) == n_regular + 4
    odd = [a for a in all_['annotations'] if a['image_id'] == 14]
    assert [(a['category_id'], a['bbox'])
            for a in odd] == [(1, [10, 20, 20, 40]), (1, [40, 20, 12, 30]),
                              (2, [60, 100, 60, 40]), (2, [200, 150, 56, 40])]
    assert all(im['width'] == W and im['height'] == H for im in all_['images'])


def test_convert_split_files(converted):
    out, report, _ = converted
    train, val = _read_split(out, 'train'), _read_split(out, 'val')
    assert sorted(train + val) == KEPT and not set(train) & set(val)
    assert report.scene_sizes == [len(s) for s in SCENES]
    for scene in SCENES:
        assert set(scene) <= set(train) or set(scene) <= set(val)
    for name, stems in (('train', train), ('val', val)):
        coco = _load(out, name)
        assert [im['file_name']
                for im in coco['images']] == [f'Ir/{s}.png' for s in stems]
        ids = {im['id'] for im in coco['images']}
        assert {a['image_id'] for a in coco['annotations']} <= ids
        assert coco['categories'] == _load(out, 'all')['categories']
    n = {k: len(_load(out, k)['annotations']) for k in ('all', 'train', 'val')}
    assert n['train'] + n['val'] == n['all']


def test_convert_is_deterministic(m3fd_root, converted, tmp_path):
    out, _, _ = converted
    convert_m3fd(
        m3fd_root, str(tmp_path), val_ratio=0.3, seed=0, log=lambda msg: None)
    for rel in ('annotations/m3fd_inf_all.json',
                'annotations/m3fd_inf_train.json',
                'annotations/m3fd_inf_val.json', 'splits/train.txt',
                'splits/val.txt'):
        with open(osp.join(out, rel), 'rb') as a, \
                open(osp.join(tmp_path, rel), 'rb') as b:
            assert a.read() == b.read(), rel


def test_cli_prints_messages_and_summary(m3fd_root, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'm3fd_to_coco',
        osp.join(
            osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
            'dataset_converters', 'm3fd_to_coco.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main(
        [m3fd_root,
         str(tmp_path), '--split', 'random', '--seed', '1']) == 0
    printed = capsys.readouterr().out
    assert 'skipped Annotation/00012.xml: malformed XML' in printed
    assert "unknown class 'Bicycle'" in printed
    summary = printed[printed.index('M3FD -> COCO'):]
    assert 'split=random seed=1' in summary
    assert re.search(r'^images +14 +\d+ +\d+$', summary, re.M)
    assert [
        ln.split()[-1] for ln in summary.splitlines()
        if 'malformed XML' in ln or 'unknown class' in ln
    ] == ['1', '3']
    assert osp.isfile(osp.join(tmp_path, 'splits', 'val.txt'))
    assert cli.main([str(tmp_path / 'nowhere'), str(tmp_path)]) == 1
    assert 'Ir' in capsys.readouterr().err


# --------------------------------------------------------------------------
# Consumers: pycocotools and mmdet
# --------------------------------------------------------------------------
@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_ground_truth_scores_ap_one(converted, iou_type):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out, _, _ = converted
    gt = COCO(osp.join(out, 'annotations', 'm3fd_inf_all.json'))
    dets = []
    for a in gt.dataset['annotations']:
        det = dict(
            image_id=a['image_id'], category_id=a['category_id'], score=1.0)
        if iou_type == 'bbox':
            det['bbox'] = a['bbox']
        else:  # loadRes takes RLE for masks
            det['segmentation'] = gt.annToRLE(a)
        dets.append(det)
    ev = COCOeval(gt, gt.loadRes(dets), iou_type)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]
    assert ev.stats[1] == pytest.approx(1.0)  # AP@.5


def test_dataset_loads_boxes_and_box_masks(m3fd_root, converted):
    from mmdet.registry import DATASETS
    from mmengine.registry import DefaultScope

    from infmae_mm.datasets.m3fd import M3FDInfDataset

    out, _, _ = converted
    assert DATASETS.get('M3FDInfDataset') is M3FDInfDataset
    pipeline = [
        dict(type='LoadThermalImage'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='PackDetInputs')
    ]
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = DATASETS.build(
            dict(
                type='M3FDInfDataset',
                data_root=m3fd_root,
                ann_file=osp.join(out, 'annotations', 'm3fd_inf_val.json'),
                pipeline=pipeline))
        assert ds.metainfo['classes'] == M3FD_CLASSES
        assert len(ds.metainfo['palette']) == len(M3FD_CLASSES)
        # DetVisualizationHook (--show-dir) accepts tuples only.
        assert all(isinstance(c, tuple) for c in ds.metainfo['palette'])
        assert len(ds) == len(_read_split(out, 'val'))
        coco = _load(out, 'val')
        idx = next(i for i, im in enumerate(coco['images']) if any(
            a['image_id'] == im['id'] for a in coco['annotations']))
        sample = ds[idx]
    img_id = coco['images'][idx]['id']
    anns = [a for a in coco['annotations'] if a['image_id'] == img_id]
    inst = sample['data_samples'].gt_instances
    assert tuple(sample['inputs'].shape) == (3, H, W)
    boxes = inst.bboxes.tensor.numpy()
    expected = np.array([[x, y, x + w, y + h]
                         for x, y, w, h in (a['bbox'] for a in anns)])
    np.testing.assert_allclose(boxes, expected)
    assert inst.labels.tolist() == [a['category_id'] - 1 for a in anns]
    masks = inst.masks.masks
    assert masks.shape == (len(anns), H, W)
    for m, (x1, y1, x2, y2) in zip(masks, expected):
        ys, xs = np.nonzero(m)
        # A box-shaped mask fills its box (rasterisation: +-1 px edges).
        assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1
        assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1
        assert m.sum() == (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
