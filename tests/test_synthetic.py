"""Tests for infmae_mm.testing (generated data) and the sample-data CLI."""
import hashlib
import importlib.util
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from infmae_mm import testing as syn
from infmae_mm.datasets.metainfo import M3FD_CLASSES, MSRS_CLASSES

REPO = Path(__file__).resolve().parents[1]


def _rng(seed):
    return np.random.default_rng(seed)


def _digest(root):
    """{relative path: sha1} of every file under root."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha1(
                Path(p).read_bytes()).hexdigest()
    return out


def _read(p):
    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    assert img is not None, p
    return img


# ----------------------------------------------------------------- images
@pytest.mark.parametrize('kind', list(syn.IR_IMAGE_KINDS) + [None])
def test_make_ir_image_deterministic(kind):
    a = syn.make_ir_image(_rng(3), 96, 128, kind=kind)
    b = syn.make_ir_image(_rng(3), 96, 128, kind=kind)
    c = syn.make_ir_image(_rng(4), 96, 128, kind=kind)
    assert a.shape == (96, 128) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert a.std() > 5  # not a flat picture


def test_make_ir_image_16bit():
    img = syn.make_ir_image(_rng(0), 64, 80, bit_depth=16)
    assert img.dtype == np.uint16 and img.shape == (64, 80)
    assert img.min() > 255 and img.max() <= 16383
    assert img.std() > 50
    with pytest.raises(ValueError):
        syn.make_ir_image(_rng(0), 64, 80, bit_depth=12)
    with pytest.raises(ValueError):
        syn.make_ir_image(_rng(0), 64, 80, kind='volcano')


def test_make_ir_scene_deterministic_and_valid():
    a = syn.make_ir_scene(_rng(1), 120, 160)
    b = syn.make_ir_scene(_rng(1), 120, 160)
    c = syn.make_ir_scene(_rng(2), 120, 160)
    assert a[0].tobytes() == b[0].tobytes()
    assert a[1].tobytes() == b[1].tobytes()
    assert a[2] == b[2]
    assert a[0].tobytes() != c[0].tobytes()
    img, lab, boxes = a
    assert img.shape == lab.shape == (120, 160)
    assert img.dtype == np.uint8 and lab.dtype == np.uint8
    assert lab.max() < len(MSRS_CLASSES)


def test_scene_labels_match_drawn_objects():
    """Warm objects are where the labels say, and boxes agree with labels."""
    person, car, background = [], [], []
    seen = set()
    h, w = 240, 320
    for seed in range(12):
        img, lab, boxes = syn.make_ir_scene(
            _rng(seed), h, w, night=seed % 3 != 0)
        assert set(np.unique(lab)) <= set(range(9))
        seen |= set(np.unique(lab).tolist())
        f = img.astype(np.float64)
        background.append(f[lab == 0].mean())
        if (lab == 2).sum() > 30:
            person.append(f[lab == 2].mean() - f[lab == 0].mean())
        if (lab == 1).sum() > 30:
            car.append(f[lab == 1].mean() - f[lab == 0].mean())
        for x1, y1, x2, y2, name in boxes:
            assert name in syn.SCENE_BOX_CLASSES
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            cls = {
                'person': 2,
                'car': 1,
                'bus': 1,
                'truck': 1,
                'bike': 3,
                'color_cone': 7
            }.get(name)
            if cls is not None:  # visible objects have labelled pixels
                assert (lab[y1:y2, x1:x2] == cls).any(), (seed, name)
            else:  # lamps are small hot spots
                assert f[y1:y2, x1:x2].max() > np.median(f)
    assert len(person) >= 6 and len(car) >= 6
    assert np.mean(person) > 40 and min(person) > 0
    assert np.mean(car) > 20 and min(car) > 0
    # most classes show up across a dozen scenes
    assert {0, 1, 2, 4}.issubset(seen) and len(seen) >= 6


def test_irstd_sample_targets():
    n_targets = 0
    for seed in range(10):
        img, mask = syn.make_irstd_sample(_rng(seed), 128, 128)
        assert img.dtype == mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        n, _, stats, _ = cv2.connectedComponentsWithStats(
            (mask > 0).astype(np.uint8), connectivity=8)
        for k in range(1, n):
            # single targets have 1..60 px; touching pairs up to 100
            assert 1 <= stats[k, cv2.CC_STAT_AREA] <= 100
        n_targets += n - 1
        if n > 1:  # targets are brighter than the image on average
            assert img[mask > 0].mean() > img.mean()
    assert n_targets >= 8
    img, mask = syn.make_irstd_sample(_rng(0), 64, 64, num_targets=0)
    assert mask.max() == 0


# ----------------------------------------------------------------- writers
def test_write_pretrain_folder(tmp_path):
    paths = syn.write_pretrain_folder(
        str(tmp_path / 'a'), num_images=6, size=(48, 64), seed=5)
    assert len(paths) == 6 and all(os.path.isfile(p) for p in paths)
    dirs = {os.path.relpath(os.path.dirname(p), tmp_path / 'a') for p in paths}
    assert 'source_a' in dirs
    assert any(d.startswith('source_b' + os.sep) for d in dirs)
    for p in paths:
        img = _read(p)
        assert img.shape == (48, 64) and img.dtype == np.uint8
    syn.write_pretrain_folder(
        str(tmp_path / 'b'), num_images=6, size=(48, 64), seed=5)
    syn.write_pretrain_folder(
        str(tmp_path / 'c'), num_images=6, size=(48, 64), seed=6)
    da, db, dc = (_digest(tmp_path / k) for k in 'abc')
    assert da == db
    assert da.keys() == dc.keys() and da != dc
    assert not any(k.endswith('.tmp') for k in da)


def test_write_pretrain_folder_size_range_and_16bit(tmp_path):
    paths = syn.write_pretrain_folder(
        str(tmp_path),
        num_images=6,
        size=((40, 60), (50, 90)),
        seed=0,
        bit_depth=16)
    shapes = set()
    for p in paths:
        img = _read(p)
        assert img.dtype == np.uint16 and img.max() > 255
        assert 40 <= img.shape[0] <= 60 and 50 <= img.shape[1] <= 90
        shapes.add(img.shape)
    assert len(shapes) > 1
    with pytest.raises(ValueError):
        syn.write_pretrain_folder(
            str(tmp_path / 'j'), num_images=1, bit_depth=16, suffix='.jpg')


def test_write_msrs_like(tmp_path):
    root = tmp_path / 'MSRS'
    split = syn.write_msrs_like(
        str(root), num_train=3, num_test=2, size=(96, 128), seed=1)
    assert len(split['train']) == 3 and len(split['test']) == 2
    for s in ('train', 'test'):
        ir = sorted(os.listdir(root / s / 'ir'))
        lb = sorted(os.listdir(root / s / 'Segmentation_labels'))
        assert ir == lb == sorted(st + '.png' for st in split[s])
        for name in ir:
            img = _read(root / s / 'ir' / name)
            lab = _read(root / s / 'Segmentation_labels' / name)
            assert img.shape == lab.shape == (96, 128)
            assert lab.dtype == np.uint8 and lab.max() <= 8
    syn.write_msrs_like(
        str(tmp_path / 'again'),
        num_train=3,
        num_test=2,
        size=(96, 128),
        seed=1)
    assert _digest(root) == _digest(tmp_path / 'again')


def test_write_m3fd_like(tmp_path):
    root = tmp_path / 'M3FD'
    h, w = 192, 256
    stems = syn.write_m3fd_like(str(root), num_images=6, size=(h, w), seed=2)
    assert sorted(os.listdir(root / 'Ir')) == [s + '.png' for s in stems]
    assert sorted(os.listdir(root / 'Annotation')) == \
        [s + '.xml' for s in stems]
    n_obj = 0
    for s in stems:
        img = _read(root / 'Ir' / (s + '.png'))
        assert img.shape == (h, w)
        ann = ET.parse(root / 'Annotation' / (s + '.xml')).getroot()
        assert ann.tag == 'annotation'
        assert ann.findtext('filename') == s + '.png'
        assert int(ann.findtext('size/width')) == w
        assert int(ann.findtext('size/height')) == h
        assert int(ann.findtext('size/depth')) in (1, 3)
        for obj in ann.iter('object'):
            assert obj.findtext('name') in M3FD_CLASSES
            bb = obj.find('bndbox')
            x1, y1, x2, y2 = (
                int(bb.findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            n_obj += 1
    assert n_obj >= 6
    syn.write_m3fd_like(
        str(tmp_path / 'again'), num_images=6, size=(h, w), seed=2)
    assert _digest(root) == _digest(tmp_path / 'again')


def test_write_irstd_like(tmp_path):
    root = tmp_path / 'IRSTD-1k'
    split = syn.write_irstd_like(
        str(root), num_trainval=5, num_test=3, size=(96, 96), seed=0)
    tv = (root / 'trainval.txt').read_text().split()
    te = (root / 'test.txt').read_text().split()
    assert tv == split['trainval'] and te == split['test']
    assert len(tv) == 5 and len(te) == 3 and not set(tv) & set(te)
    for stem in tv + te:
        img = _read(root / 'images' / (stem + '.png'))
        mask = _read(root / 'masks' / (stem + '.png'))
        assert img.shape == mask.shape == (96, 96)
        assert mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
    syn.write_irstd_like(
        str(tmp_path / 'again'),
        num_trainval=5,
        num_test=3,
        size=(96, 96),
        seed=0)
    assert _digest(root) == _digest(tmp_path / 'again')
    syn.write_irstd_like(
        str(tmp_path / 'other'),
        num_trainval=5,
        num_test=3,
        size=(96, 96),
        seed=1)
    assert _digest(root) != _digest(tmp_path / 'other')


# ----------------------------------------------------------------- CLI
def _load_cli():
    path = REPO / 'tools' / 'data' / 'generate_sample_data.py'
    spec = importlib.util.spec_from_file_location('generate_sample_data', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize('kind,extra,check', [
    ('pretrain', ['--num', '3', '--bit-depth', '16'], 'source_a'),
    ('msrs', ['--num', '2'], 'train/Segmentation_labels'),
    ('m3fd', ['--num', '2'], 'Annotation'),
    ('irstd', ['--num', '2', '--num-test', '1'], 'masks'),
])
def test_cli(tmp_path, capsys, kind, extra, check):
    cli = _load_cli()
    out = tmp_path / kind
    assert cli.main([kind, str(out), '--size', '64', '80', '--seed', '3'] +
                    extra) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and 'done' in printed
    assert (out / check).is_dir()
    files = [f for _, _, fs in os.walk(out) for f in fs]
    assert files and not any(f.endswith('.tmp') for f in files)


def test_cli_rejects_16bit_for_labelled_sets(tmp_path):
    cli = _load_cli()
    with pytest.raises(SystemExit):
        cli.main(['msrs', str(tmp_path), '--bit-depth', '16'])
