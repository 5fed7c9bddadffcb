"""Reliable infrared data: bad files, 8/16-bit input, clear errors."""
import contextlib
import logging
import os
import os.path as osp
import re
import sys
from fractions import Fraction
from typing import Dict, Iterator, List

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

# Importing the modules registers their components (needed until the
# package's __init__ imports them).
import infmae_mm  # noqa: F401
import infmae_mm.datasets.image_folder  # noqa: F401
from infmae_mm.datasets.image_decoding import ImageDecodeError
from infmae_mm.datasets.transforms.loading import (LoadThermalImage,
                                                   ThermalNormalize)
from infmae_mm.testing import (tiny_arch_cli, write_msrs_like,
                               write_pretrain_folder)
from tests.host_tools import REPO, run

PRETRAIN = osp.join(REPO, 'configs/pretrain')
RECIPE = osp.join(PRETRAIN,
                  'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py')
IR16 = osp.join(PRETRAIN,
                'infmae_vit-base-p16_4xb64-amp-coslr-400e_ir16bit.py')
DEMO = osp.join(PRETRAIN, 'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')
SEG = osp.join(REPO, 'configs/seg')
MSRS = osp.join(SEG, 'upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
MSRS16 = osp.join(SEG, 'upernet_infmae-base_1xb2-24k_msrs-inf16bit-480x640.py')
SKIPPED = 'Skipped unreadable image'


class _Records(logging.Handler):

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def logged_warnings() -> Iterator[List[str]]:
    """Warnings sent to the current MMLogger (where print_log goes)."""
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def add_bad_files(root: str) -> Dict[str, str]:
    """A truncated PNG, a zero-byte .png and a text file named .png."""
    good = write_pretrain_folder(
        osp.join(root, '_donor'), 1, (64, 64), bit_depth=16)[0]
    with open(good, 'rb') as f:
        data = f.read()
    bad = {
        osp.join(root, 'bad_text.png'): b'not an image, only text\n',
        osp.join(root, 'source_a', 'bad_truncated.png'): data[:len(data) // 2],
        osp.join(root, 'source_b', 'seq_000', 'bad_empty.png'): b'',
    }
    for path, content in bad.items():
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(content)
    os.remove(good)
    os.rmdir(osp.dirname(good))
    return {
        path: reason
        for path, reason in zip(bad, ('cannot decode as an image',
                                      'cannot decode as an image',
                                      'empty file'))
    }


def pretrain_dataset(config: str, data_root: str, **overrides):
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.dataset.update(overrides)
    return DATASETS.build(cfg.train_dataloader.dataset)


def fixed_oracle(raw: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Exact rational arithmetic, rounding half to even as documented."""
    out = [
        min(
            255,
            max(
                0,
                round((Fraction(int(v)) - Fraction(lo)) * 255 /
                      (Fraction(hi) - Fraction(lo))))) for v in raw.ravel()
    ]
    return np.array(out, np.uint8).reshape(raw.shape)


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------
def test_fixed_range_against_exact_arithmetic():
    # 6200 and 6600 land exactly on 8.5 and 25.5 (ties go to even).
    raw = np.array([[0, 5999, 6000, 6001, 6200, 6600],
                    [7000, 9000, 11999, 12000, 12001, 65535]], np.uint16)
    out = ThermalNormalize(mode='fixed', value_range=(6000, 12000)) \
        .normalize(raw)
    assert out.dtype == np.uint8 and out.shape == raw.shape
    np.testing.assert_array_equal(out, fixed_oracle(raw, 6000, 12000))
    assert out[0, 4] == 8 and out[0, 5] == 26


def test_percentile_against_numpy():
    # 1001 values 7000..8000: the 0.5 and 99.5 percentiles are 7005 and 7995
    # exactly; a dead and a hot pixel are far outside and must not matter.
    raw = np.arange(7000, 8001, dtype=np.uint16)
    raw[0], raw[-1] = 0, 65535
    out = ThermalNormalize(mode='percentile').normalize(raw.reshape(7, 143))
    lo, hi = np.percentile(raw.astype(np.float64), (0.5, 99.5))
    assert (lo, hi) == (7005.0, 7995.0)
    np.testing.assert_array_equal(out.ravel(), fixed_oracle(raw, 7005, 7995))

    rng = np.random.default_rng(0)
    img = rng.normal(9000, 700, (64, 80)).clip(0, 65535).astype(np.uint16)
    out = ThermalNormalize(mode='percentile', percentiles=(2, 98)) \
        .normalize(img)
    p_lo, p_hi = np.percentile(img, (2, 98))
    expected = np.clip(
        np.round((img.astype(np.float64) - p_lo) / (p_hi - p_lo) * 255), 0,
        255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    # The same rule as data curation's 256-level gray images.
    from infmae_mm.curation import gray_levels
    np.testing.assert_array_equal(
        ThermalNormalize(mode='percentile').normalize(img), gray_levels(img))
    # A flat image does not divide by zero.
    flat = np.full((4, 4), 7000, np.uint16)
    assert not ThermalNormalize(mode='percentile').normalize(flat).any()


def test_8bit_passes_through_and_auto_warns_once_for_16bit(tmp_path):
    gray = (np.arange(48 * 64) % 251).astype(np.uint8).reshape(48, 64)
    path8 = str(tmp_path / 'a8.png')
    cv2.imwrite(path8, gray)
    from mmcv.transforms import LoadImageFromFile
    ours = LoadThermalImage()(dict(img_path=path8))['img']
    mmcv_img = LoadImageFromFile()(dict(img_path=path8))['img']
    assert ours.shape == (48, 64, 3) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, mmcv_img)
    np.testing.assert_array_equal(ours[..., 2], gray)
    # 8-bit stays unchanged in the explicit modes too, unless asked.
    for mode, extra in (('percentile', {}), ('fixed',
                                             dict(value_range=(0, 16383)))):
        img = LoadThermalImage(mode=mode, **extra)(dict(img_path=path8))
        np.testing.assert_array_equal(img['img'][..., 0], gray)
    stretched = LoadThermalImage(
        mode='percentile', normalize_8bit=True)(dict(img_path=path8))['img']
    assert stretched.max() == 255 and not np.array_equal(stretched, ours)

    raw = (gray.astype(np.uint16) * 16 + 6000)
    paths16 = [str(tmp_path / f'b{i}.png') for i in range(2)]
    for p in paths16:
        cv2.imwrite(p, raw)
    loader = LoadThermalImage()  # the 8-bit default
    with logged_warnings() as warnings:
        outs = [loader(dict(img_path=p))['img'] for p in paths16]
    assert len(warnings) == 1, warnings
    assert paths16[0] in warnings[0] and 'uint16' in warnings[0]
    assert "mode='fixed'" in warnings[0]
    expected = ThermalNormalize(mode='percentile').normalize(raw)
    for out in outs:
        np.testing.assert_array_equal(out[..., 0], expected)


def test_16bit_tiff_and_one_channel(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.integers(5000, 14000, (40, 56), dtype=np.uint16)
    path = str(tmp_path / 'radiometric.tiff')
    assert cv2.imwrite(path, raw)
    assert cv2.imread(path, cv2.IMREAD_UNCHANGED).dtype == np.uint16
    expected = fixed_oracle(raw, 6000, 12000)

    three = LoadThermalImage(
        mode='fixed', value_range=(6000, 12000))(
            dict(img_path=path))
    assert three['img'].shape == (40, 56, 3) and three['img_shape'] == (40, 56)
    for c in range(3):
        np.testing.assert_array_equal(three['img'][..., c], expected)
    one = LoadThermalImage(
        mode='fixed', value_range=(6000, 12000),
        to_channels=1)(dict(img_path=path))['img']
    assert one.shape == (40, 56) and one.dtype == np.uint8
    np.testing.assert_array_equal(one, expected)

    # Colour input: BGR kept for 3 channels, BT.601 gray for 1.
    bgr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    cpath = str(tmp_path / 'colour.png')
    cv2.imwrite(cpath, bgr)
    np.testing.assert_array_equal(
        LoadThermalImage()(dict(img_path=cpath))['img'], bgr)
    np.testing.assert_array_equal(
        LoadThermalImage(to_channels=1)(dict(img_path=cpath))['img'],
        cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match='value_range'):
        ThermalNormalize(mode='fixed')
    with pytest.raises(ValueError, match='hi > lo'):
        ThermalNormalize(mode='fixed', value_range=(9000, 6000))
    with pytest.raises(ValueError, match='choose from'):
        ThermalNormalize(mode='minmax')
    with pytest.raises(ValueError, match='percentiles'):
        ThermalNormalize(mode='percentile', percentiles=(99, 1))
    with pytest.raises(ValueError, match='to_channels'):
        LoadThermalImage(to_channels=2)


# --------------------------------------------------------------------------
# Pre-training: bad files are skipped, with a warning and a count
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    'bit_depth,config,auto_warning', [
        (8, RECIPE, False),
        (16, IR16, False),
        (16, RECIPE, True),
    ],
    ids=['8bit', '16bit-percentile', '16bit-in-8bit-config'])
def test_pretrain_dataset_skips_bad_files(tmp_path, bit_depth, config,
                                          auto_warning):
    root = str(tmp_path / 'ir')
    good = write_pretrain_folder(root, 6, (96, 128), bit_depth=bit_depth)
    bad = add_bad_files(root)
    ds = pretrain_dataset(config, root)
    assert type(ds).__name__ == 'InfraredImageFolder'
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert sorted(paths) == sorted(good + list(bad))

    with logged_warnings() as warnings:
        items = [ds[i] for i in range(len(ds))]
    skips = [w for w in warnings if w.startswith(SKIPPED)]
    assert len(skips) == len(bad), warnings
    for count, (message, path) in enumerate(
            zip(skips, [p for p in paths if p in bad]), 1):
        assert path in message and bad[path] in message
        assert f'{count} unreadable file(s) skipped so far' in message
    assert ds.skipped_files == bad
    auto = [w for w in warnings if "mode='auto'" in w]
    assert len(auto) == (1 if auto_warning else 0), warnings

    for i, item in enumerate(items):
        inputs = item['inputs']
        assert inputs.shape == (3, 224, 224) and inputs.dtype == torch.uint8
        # The IAM mask of the 14x14 token grid, 49 of 196 tokens visible.
        iam = item['data_samples'].iam_mask
        assert iam.mask.shape == (196, ) and int(iam.mask.sum()) == 147
        assert iam.ids_keep.shape == (49, )
        # A bad file is replaced by the next readable image.
        j = i
        while paths[j] in bad:
            j = (j + 1) % len(paths)
        assert item['data_samples'].img_path == paths[j]
    # Each bad file is reported once per process.
    with logged_warnings() as warnings:
        ds[paths.index(next(iter(bad)))]
    assert not [w for w in warnings if w.startswith(SKIPPED)]


def test_pretrain_one_channel_and_strict_mode(tmp_path):
    root = str(tmp_path / 'ir')
    write_pretrain_folder(root, 3, (96, 128), bit_depth=16)
    cfg = Config.fromfile(IR16)
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[0] = dict(pipeline[0], to_channels=1)
    ds = pretrain_dataset(IR16, root, pipeline=pipeline)
    item = ds[0]
    assert item['inputs'].shape == (1, 224, 224)
    assert item['inputs'].dtype == torch.uint8

    bad = add_bad_files(root)
    strict = pretrain_dataset(IR16, root, skip_unreadable=False)
    first_bad = [
        i for i in range(len(strict))
        if strict.get_data_info(i)['img_path'] in bad
    ][0]
    path = strict.get_data_info(first_bad)['img_path']
    with pytest.raises(ImageDecodeError, match=re.escape(path)):
        strict[first_bad]


def test_empty_or_missing_folder_fails_at_start(tmp_path):
    empty = tmp_path / 'empty'
    (empty / 'sub').mkdir(parents=True)
    (empty / 'sub' / 'notes.txt').write_text('no images here')
    with pytest.raises(FileNotFoundError) as info:
        pretrain_dataset(RECIPE, str(empty))
    message = str(info.value)
    assert str(empty) in message and 'data_root' in message
    for suffix in ('.png', '.tif', '.tiff', '.jpg', '.pgm'):
        assert suffix in message

    with pytest.raises(FileNotFoundError, match='does not exist'):
        pretrain_dataset(RECIPE, str(tmp_path / 'nowhere'))

    (empty / 'manifest.txt').write_text('')
    with pytest.raises(ValueError, match='manifest.txt is empty'):
        pretrain_dataset(RECIPE, str(empty), ann_file='manifest.txt')


def test_labelled_list_without_label_fails_at_start(tmp_path):
    root = str(tmp_path / 'ir')
    write_pretrain_folder(root, 2, (32, 32))
    (tmp_path / 'ir' / 'list.txt'
     ).write_text('source_a/ir_00000.png 0\nsource_b/seq_000/ir_00001.png\n')
    with pytest.raises(
            ValueError,
            match=r'list\.txt, line 2: '
            r"'source_b/seq_000/ir_00001.png' has no integer"):
        pretrain_dataset(RECIPE, root, ann_file='list.txt', with_label=True)


# --------------------------------------------------------------------------
# Fine-tuning: a bad image or a missing label fails loudly
# --------------------------------------------------------------------------
def seg_dataset(config: str, data_root: str, split: str = 'val'):
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(config)
    init_default_scope('mmseg')
    loader = cfg[f'{split}_dataloader']
    loader.dataset.data_root = data_root
    return DATASETS.build(loader.dataset)


def test_finetuning_bad_image_or_missing_label_fails(tmp_path):
    root = str(tmp_path / 'msrs')
    write_msrs_like(root, num_train=2, num_test=2, size=(96, 128))
    ds = seg_dataset(MSRS, root)
    assert isinstance(ds.pipeline.transforms[0], LoadThermalImage)
    assert ds[0]['inputs'].shape == (3, 480, 640)

    image = ds.get_data_info(1)['img_path']
    with open(image, 'r+b') as f:
        f.truncate(100)
    with pytest.raises(ImageDecodeError) as info:
        ds[1]
    assert image in str(info.value) and 'Remove or replace' in str(info.value)

    label = ds.get_data_info(0)['seg_map_path']
    os.remove(label)
    with pytest.raises(FileNotFoundError, match=re.escape(label)):
        seg_dataset(MSRS, root)


def test_16bit_segmentation_config(tmp_path):
    root = str(tmp_path / 'msrs16')
    write_msrs_like(root, num_train=2, num_test=2, size=(96, 128))
    raws = {}
    for split in ('train', 'test'):
        folder = osp.join(root, split, 'ir')
        for name in os.listdir(folder):
            path = osp.join(folder, name)
            gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
            raws[path] = gray.astype(np.uint16) * 24 + 6500
            cv2.imwrite(path, raws[path])
    for split in ('train', 'val'):
        ds = seg_dataset(MSRS16, root, split)
        info = ds.get_data_info(0)
        loaded = ds.pipeline.transforms[0](dict(img_path=info['img_path']))
        expected = ThermalNormalize(mode='percentile').normalize(
            raws[info['img_path']])
        np.testing.assert_array_equal(loaded['img'][..., 1], expected)
        inputs = ds[0]['inputs']
        assert inputs.dtype == torch.uint8 and inputs.shape[0] == 3
        if split == 'val':  # training crops vary with the random resize
            assert inputs.shape == (3, 480, 640)


TASK_DATASET_BASES = {
    'pretrain': 'configs/pretrain/_base_/datasets/inf30_bs64_infmae.py',
    'seg': 'configs/seg/_base_/datasets/msrs_inf.py',
    'det': 'configs/det/_base_/datasets/m3fd_inf.py',
    'irstd': 'configs/irstd/_base_/datasets/irstd1k.py',
}


def _loaders(cfg: Config) -> Iterator[dict]:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if key in cfg:
            yield cfg[key].dataset.pipeline[0]


@pytest.mark.parametrize('task', sorted(TASK_DATASET_BASES))
def test_every_task_reads_16bit_input_the_same_way(tmp_path, task):
    # One loader for every task, so a 16-bit image gives the same uint8
    # image in pre-training, segmentation, detection and IRSTD.
    cfg = Config.fromfile(osp.join(REPO, TASK_DATASET_BASES[task]))
    rng = np.random.default_rng(7)
    raw = (rng.integers(0, 300, (40, 56)) * 20 + 6000).astype(np.uint16)
    path = str(tmp_path / 'sixteen.png')
    assert cv2.imwrite(path, raw)
    expected = ThermalNormalize(mode='percentile').normalize(raw)
    loaders = list(_loaders(cfg))
    assert loaders, task
    for step in loaders:
        assert step.type == 'LoadThermalImage', (task, step)
        options = {k: v for k, v in step.items() if k != 'type'}
        img = LoadThermalImage(**options)(dict(img_path=path))['img']
        assert img.shape == (40, 56, 3) and img.dtype == np.uint8
        for channel in range(3):
            np.testing.assert_array_equal(img[..., channel], expected)


# --------------------------------------------------------------------------
# A real pre-training run on a folder with bad files
# --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.e2e
def test_mim_train_survives_bad_files(tmp_path):
    if not osp.isfile(osp.join(osp.dirname(sys.executable), 'mim')):
        pytest.skip('openmim is not installed')
    data, work = str(tmp_path / 'ir'), str(tmp_path / 'work')
    write_pretrain_folder(data, 9, (96, 128))
    bad = add_bad_files(data)
    out = run([
        'mim', 'train', 'mmpretrain', DEMO, '--work-dir', work,
        '--cfg-options', *tiny_arch_cli(DEMO), 'train_cfg.max_epochs=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.batch_size=4',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}'
    ])
    assert osp.isfile(osp.join(work, 'epoch_1.pth')), out[-3000:]
    for path in bad:
        assert f'{SKIPPED} {path}' in out, out[-3000:]
    assert f'{len(bad)} unreadable file(s) skipped so far' in out
