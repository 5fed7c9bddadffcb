"""tools/data/check_dataset.py names every defect of a config's data."""
import importlib.util
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from infmae_mm.testing import write_irstd_layout

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    REPO, 'configs/irstd/'
    'irstd-head_infmae-base_1xb2-40k_sirst-v2-512x512.py')
MSRS_CONFIG = osp.join(
    REPO, 'configs/seg/'
    'upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'check_dataset', osp.join(REPO, 'tools/data/check_dataset.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def sirst_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('sirst-v2'))
    write_irstd_layout(root, 'sirst-v2', num_images=12, seed=2)
    return root


def run(config: str, root: str, capsys, *extra: str) -> tuple:
    options = [
        f'{loader}.dataset.data_root={root}/'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    rc = load_tool().main([config, *extra, '--cfg-options', *options])
    return rc, capsys.readouterr().out


def stems_of(root: str, split: str) -> list:
    return open(osp.join(root, 'splits', split)).read().split()


def test_clean_data_passes(sirst_root, capsys):
    rc, out = run(CONFIG, sirst_root, capsys)
    assert rc == 0, out
    for split, n in (('train_full', 6), ('val_full', 3), ('test_full', 3)):
        assert f'splits/{split}.txt: {n} samples: ok' in out
    assert 'free of defects' in out


def test_every_defect_named_with_file_and_fix(sirst_root, tmp_path, capsys):
    root = shutil.copytree(sirst_root, str(tmp_path / 'v2'))
    masks = osp.join(root, 'annotations/masks')
    train, val = stems_of(root,
                          'train_full.txt'), stems_of(root, 'val_full.txt')
    test = stems_of(root, 'test_full.txt')
    # train: a mask of another size (as a public release has) and a mask
    # with anti-aliased values; val: a missing mask; test: an RGB mask.
    resized = osp.join(masks, train[0] + '_pixels0.png')
    mask = cv2.imread(resized, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(resized, np.pad(mask, ((0, 3), (0, 0))))
    gray = osp.join(masks, train[1] + '_pixels0.png')
    mask = cv2.imread(gray, cv2.IMREAD_UNCHANGED)
    mask[0, :2] = (100, 200)
    cv2.imwrite(gray, mask)
    missing = osp.join(masks, val[0] + '_pixels0.png')
    os.remove(missing)
    rgb = osp.join(masks, test[0] + '_pixels0.png')
    mask = cv2.imread(rgb, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(rgb, np.dstack([mask] * 3))

    rc, out = run(CONFIG, root, capsys)
    assert rc == 1
    lines = out.splitlines()

    def line_of(path):
        found = [ln for ln in lines if ln.strip().startswith(path + ':')]
        assert len(found) == 1, (path, out)
        return found[0]

    h, w = mask.shape[:2]
    assert 'mask is' in line_of(resized) and 'Fix: resize the mask' in \
        line_of(resized)
    assert '2 pixel(s) of value(s) 100, 200' in line_of(gray)
    assert 'Fix: binarise' in line_of(gray)
    assert 'mask missing' in line_of(missing)
    assert 'seg_map_suffix' in line_of(missing)
    assert '3 channels' in line_of(rgb)
    assert 'FAILED: 4 defect(s) in 4 file(s)' in out

    # Headers only: the value defect is not looked for.
    rc, out = run(CONFIG, root, capsys, '--no-mask-values')
    assert rc == 1 and gray not in out and resized in out


def test_unbuildable_dataset_is_reported(sirst_root, tmp_path, capsys):
    root = shutil.copytree(sirst_root, str(tmp_path / 'v2'))
    os.remove(osp.join(root, 'splits/val_full.txt'))
    rc, out = run(CONFIG, root, capsys, '--splits', 'val', 'test')
    assert rc == 1
    assert 'val_dataloader.dataset: ERROR' in out and 'val_full.txt' in out
    assert 'test_full.txt: 3 samples: ok' in out
    assert 'train_dataloader' not in out


def test_other_segmentation_sets_get_the_header_check(tmp_path, capsys):
    from infmae_mm.testing import write_msrs_like
    root = str(tmp_path / 'msrs')
    write_msrs_like(root, num_train=3, num_test=2, size=(24, 32))
    label = osp.join(root, 'test/Segmentation_labels')
    path = osp.join(label, sorted(os.listdir(label))[0])
    cv2.imwrite(path, np.zeros((20, 32), np.uint8))
    rc, out = run(MSRS_CONFIG, root, capsys)
    assert rc == 1
    assert f'{path}: mask is 32x20 (WxH)' in out
    assert 'same dataset as val_dataloader.dataset' in out  # test == val
