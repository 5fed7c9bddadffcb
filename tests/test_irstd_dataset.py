"""IRSTD1kDataset on a synthetic IRSTD-1k-like folder."""
import os
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmseg.registry import DATASETS, TRANSFORMS

from infmae_mm.datasets.irstd import IRSTD1kDataset
from infmae_mm.datasets.pair_checks import DatasetDefectError
from infmae_mm.evaluation.irstd_metric import IRSTDMetric
from infmae_mm.testing import write_irstd_like

PIPELINE = [
    dict(type='LoadThermalImage'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]


@pytest.fixture(scope='module')
def irstd_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('irstd1k'))
    write_irstd_like(root, num_trainval=8, num_test=4, size=(64, 64), seed=0)
    return root


@pytest.fixture
def root_copy(irstd_root, tmp_path) -> str:
    """A private copy for tests that change files."""
    return shutil.copytree(irstd_root, str(tmp_path / 'data'))


def mmseg_pipeline() -> list:
    # Built by the host registry, as a config would be. ``_scope_`` pins
    # mmseg even when another test left a different default scope (mmcv's
    # LoadAnnotations would read the mask without the label map).
    return [TRANSFORMS.build(dict(t, _scope_='mmseg')) for t in PIPELINE]


def build(root: str, ann_file: str = 'test.txt', **kwargs) -> IRSTD1kDataset:
    kwargs.setdefault('pipeline', mmseg_pipeline())
    return DATASETS.build(
        dict(
            type='IRSTD1kDataset',
            data_root=root,
            ann_file=ann_file,
            _scope_='mmseg',
            **kwargs))


def read_mask(path: str) -> np.ndarray:
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def test_registered_and_splits(irstd_root):
    assert DATASETS.get('IRSTD1kDataset') is IRSTD1kDataset
    train = build(irstd_root, 'trainval.txt')
    test = build(irstd_root, 'test.txt', test_mode=True)
    assert (len(train), len(test)) == (8, 4)
    assert train.metainfo['classes'] == ('background', 'target')
    assert len(train.metainfo['palette']) == 2
    info = test.get_data_info(0)
    assert info['img_path'] == osp.join(irstd_root, 'images', 'XDU8.png')
    assert info['seg_map_path'] == osp.join(irstd_root, 'masks', 'XDU8.png')
    assert info['label_map'] == {255: 1}


def test_pipeline_gives_labels_0_1(irstd_root):
    pipeline = Compose(mmseg_pipeline())
    dataset = build(irstd_root, 'trainval.txt', pipeline=[])
    seen_target = False
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        packed = pipeline(info)
        gt = packed['data_samples'].gt_sem_seg.data
        assert gt.shape == (1, 64, 64) and packed['inputs'].shape[1:] == (64,
                                                                          64)
        assert set(torch.unique(gt).tolist()) <= {0, 1}
        expected = read_mask(info['seg_map_path']) == 255
        assert torch.equal(gt[0].bool(), torch.from_numpy(expected))
        seen_target |= bool(expected.any())
    assert seen_target


def test_items_feed_the_metric(irstd_root):
    dataset = build(irstd_root, 'test.txt', test_mode=True)
    metric = IRSTDMetric()
    metric.dataset_meta = dataset.metainfo
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        sample.pred_sem_seg = sample.gt_sem_seg.clone()  # a perfect model
        metric.process({}, [sample.to_dict()])
    res = metric.evaluate(len(dataset))
    assert (res['IoU'], res['Pd'], res['Fa'], res['F1']) == (100, 100, 0, 100)


def test_missing_mask_fails_at_build(root_copy):
    missing = osp.join(root_copy, 'masks', 'XDU9.png')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        build(root_copy, 'test.txt')
    assert len(build(root_copy, 'trainval.txt')) == 8  # other split is fine


def test_other_layouts_by_suffix(root_copy):
    # NUAA-SIRST style: Misc_1.bmp + Misc_1_pixels0.png in other folders
    os.rename(osp.join(root_copy, 'masks'), osp.join(root_copy, 'gt'))
    os.makedirs(osp.join(root_copy, 'img'))
    for stem in ('XDU8', 'XDU9', 'XDU10', 'XDU11'):
        img = cv2.imread(osp.join(root_copy, 'images', stem + '.png'))
        cv2.imwrite(osp.join(root_copy, 'img', stem + '.bmp'), img)
        os.rename(
            osp.join(root_copy, 'gt', stem + '.png'),
            osp.join(root_copy, 'gt', stem + '_pixels0.png'))
    with open(osp.join(root_copy, 'test.txt'), 'a') as f:
        f.write('\n  \n')  # blank lines are skipped
    dataset = build(
        root_copy,
        'test.txt',
        img_suffix='.bmp',
        seg_map_suffix='_pixels0.png',
        data_prefix=dict(img_path='img', seg_map_path='gt'))
    assert len(dataset) == 4
    gt = dataset[1]['data_samples'].gt_sem_seg.data
    expected = read_mask(osp.join(root_copy, 'gt', 'XDU9_pixels0.png')) > 0
    assert torch.equal(gt[0].bool(), torch.from_numpy(expected))


def test_masks_stored_as_0_1(root_copy):
    path = osp.join(root_copy, 'masks', 'XDU9.png')
    cv2.imwrite(path, (read_mask(path) > 0).astype(np.uint8))
    dataset = build(root_copy, 'test.txt', check_mask_values=True)
    gt = dataset[1]['data_samples'].gt_sem_seg.data
    assert torch.equal(gt[0].bool(), torch.from_numpy(read_mask(path) == 1))


def test_non_binary_mask_is_reported(root_copy):
    path = osp.join(root_copy, 'masks', 'XDU10.png')
    mask = read_mask(path)
    mask[0, 0] = 128  # an anti-aliased edge value
    cv2.imwrite(path, mask)
    build(root_copy, 'test.txt')  # values are not decoded unless asked
    with pytest.raises(ValueError, match='XDU10.png') as info:
        build(root_copy, 'test.txt', check_mask_values=True)
    defect, = info.value.defects
    assert defect.path == path and '1 pixel(s) of value(s) 128' in \
        defect.problem
    assert 'binarise' in defect.fix and 'mask_foreground_value' in defect.fix


def test_every_defect_is_listed_with_its_fix(root_copy):
    """Missing files, a mask of another size and a multi-channel mask are all
    found by the default (header) check and named in one error, each with the
    config key or the file change that fixes it."""
    masks = osp.join(root_copy, 'masks')
    os.remove(osp.join(root_copy, 'images', 'XDU8.png'))
    os.remove(osp.join(masks, 'XDU9.png'))
    small = cv2.resize(
        read_mask(osp.join(masks, 'XDU10.png')), (32, 48),
        interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(osp.join(masks, 'XDU10.png'), small)
    rgb = read_mask(osp.join(masks, 'XDU11.png'))
    cv2.imwrite(osp.join(masks, 'XDU11.png'), np.dstack([rgb] * 3))
    with pytest.raises(DatasetDefectError) as info:
        build(root_copy, 'test.txt')
    err = info.value
    assert isinstance(err, FileNotFoundError) and isinstance(err, ValueError)
    by_file = {osp.basename(d.path): d for d in err.defects}
    assert set(by_file) == {'XDU8.png', 'XDU9.png', 'XDU10.png', 'XDU11.png'}
    assert by_file['XDU8.png'].problem == 'image missing'
    assert by_file['XDU8.png'].path == osp.join(root_copy, 'images',
                                                'XDU8.png')
    assert "remove 'XDU8' from" in by_file['XDU8.png'].fix
    assert 'img_suffix' in by_file['XDU8.png'].fix
    assert by_file['XDU9.png'].problem == 'mask missing'
    assert 'seg_map_suffix' in by_file['XDU9.png'].fix
    assert 'mask is 32x48 (WxH)' in by_file['XDU10.png'].problem
    assert 'is 64x64' in by_file['XDU10.png'].problem
    assert 'nearest-neighbour' in by_file['XDU10.png'].fix
    assert '3 channels' in by_file['XDU11.png'].problem
    assert 'single-channel' in by_file['XDU11.png'].fix
    message = str(err)
    assert '4 defect(s) in 4 file(s)' in message
    for defect in err.defects:
        assert defect.path in message and defect.fix in message
    # The other split is untouched by these files.
    assert len(build(root_copy, 'trainval.txt')) == 8


def test_header_check_reads_no_pixels(irstd_root, monkeypatch):
    """The default check opens headers only: no full decode of any file."""
    import mmcv
    from PIL import Image

    def refuse(*args, **kwargs):
        raise AssertionError('a full decode at build time')

    monkeypatch.setattr(Image.Image, 'load', refuse)
    monkeypatch.setattr(cv2, 'imdecode', refuse)
    monkeypatch.setattr(mmcv, 'imfrombytes', refuse)
    assert len(build(irstd_root, 'trainval.txt')) == 8


def test_wrong_mask_suffix_gets_one_hint(irstd_root):
    with pytest.raises(FileNotFoundError) as info:
        build(irstd_root, 'test.txt', seg_map_suffix='_pixels0.png')
    assert len(info.value.defects) == 4
    assert 'Every mask is missing' in str(info.value)


def test_checks_can_be_turned_off(root_copy):
    os.remove(osp.join(root_copy, 'masks', 'XDU9.png'))
    assert len(build(root_copy, 'test.txt', check_files=False)) == 4


def test_bad_arguments(irstd_root):
    with pytest.raises(ValueError, match='reduce_zero_label'):
        build(irstd_root, reduce_zero_label=True)
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        build(irstd_root, 'nope.txt')
