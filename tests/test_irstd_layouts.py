"""The four public IRSTD layouts load by config alone (generated data)."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from PIL import Image

from infmae_mm.datasets.pair_checks import DatasetDefectError
from infmae_mm.testing import write_irstd_layout

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASES = osp.join(REPO, 'configs/irstd/_base_/datasets')
# layout -> (dataset base config, leaf config, split of each dataloader)
LAYOUTS = {
    'irstd1k': ('irstd1k.py', 'irstd-head_infmae-base_1xb2-40k_irstd1k-'
                '512x512.py', ('trainval.txt', 'test.txt', 'test.txt')),
    'sirst-v2':
    ('sirst-v2.py', 'irstd-head_infmae-base_1xb2-40k_sirst-v2-512x512.py',
     ('splits/train_full.txt', 'splits/val_full.txt', 'splits/test_full.txt')),
    'nuaa-sirst':
    ('nuaa-sirst.py', 'irstd-head_infmae-base_1xb2-40k_nuaa-sirst-'
     '256x256.py', ('idx_427/trainval.txt', 'idx_427/test.txt',
                    'idx_427/test.txt')),
    'nudt-sirst':
    ('nudt-sirst.py', 'irstd-head_infmae-base_1xb2-40k_nudt-sirst-'
     '256x256.py',
     ('img_idx/train_NUDT-SIRST.txt', 'img_idx/test_NUDT-SIRST.txt',
      'img_idx/test_NUDT-SIRST.txt')),
}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@pytest.fixture(scope='module')
def roots(tmp_path_factory) -> dict:
    out = {}
    for layout in LAYOUTS:
        root = str(tmp_path_factory.mktemp(layout))
        out[layout] = (root, write_irstd_layout(root, layout, seed=1))
    return out


def dataset_cfg(cfg: Config, loader: str, root: str) -> dict:
    ds = cfg[loader].dataset.to_dict()
    return dict(ds, data_root=root + '/', _scope_='mmseg')


@pytest.mark.parametrize('layout', list(LAYOUTS))
def test_layout_loads_by_config(layout, roots):
    """Base and leaf configs name the layout's split files; every sample's
    image and mask come through the config's own pipeline as labels 0/1 of the
    image's size."""
    root, splits = roots[layout]
    base, leaf, split_files = LAYOUTS[layout]
    init_default_scope('mmseg')
    for path in (osp.join(BASES, base), osp.join(REPO, 'configs/irstd', leaf)):
        cfg = Config.fromfile(path)
        for loader, split in zip(LOADERS, split_files):
            ds_cfg = dataset_cfg(cfg, loader, root)
            assert ds_cfg['ann_file'] == split
            dataset = DATASETS.build(ds_cfg)
            assert len(dataset) == len(splits[split]) > 0
    # The leaf's pipelines on every sample of every split.
    for loader in LOADERS:
        ds_cfg = dataset_cfg(cfg, loader, root)
        pipeline = Compose(ds_cfg['pipeline'])
        dataset = DATASETS.build(dict(ds_cfg, pipeline=[]))
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            stem = osp.basename(info['img_path'])[:-4]
            mask = np.asarray(Image.open(info['seg_map_path']))
            packed = pipeline(info)
            gt = packed['data_samples'].gt_sem_seg.data
            assert set(gt.unique().tolist()) <= {0, 1}, stem
            img = packed['inputs']
            assert img.shape[0] == 3 and gt.shape[1:] == img.shape[1:]
            if loader != 'train_dataloader':  # no augmentation: exact
                assert gt.shape[1:] == mask.shape
                assert np.array_equal(gt[0].numpy(), mask == 255), stem


def test_sirst_v2_finds_stems_in_both_folders(roots):
    """SIRST-v2's split files name bare stems; images sit in targets/ or
    backgrounds/ (some RGB or palette PNGs), and target-free frames keep their
    all-background masks."""
    root, splits = roots['sirst-v2']
    cfg = Config.fromfile(osp.join(BASES, 'sirst-v2.py'))
    init_default_scope('mmseg')
    dataset = DATASETS.build(
        dict(
            dataset_cfg(cfg, 'train_dataloader', root),
            ann_file='splits/trainval_full.txt',
            pipeline=[],
            check_mask_values=True))
    folders = {
        osp.basename(osp.dirname(dataset.get_data_info(i)['img_path']))
        for i in range(len(dataset))
    }
    assert folders == {'targets', 'backgrounds'}
    modes = set()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        modes.add(Image.open(info['img_path']).mode)
        empty = not np.asarray(Image.open(info['seg_map_path'])).any()
        assert empty == ('backgrounds' in info['img_path'])
    assert {'L', 'RGB', 'P'} <= modes
    assert len(dataset) == len(splits['splits/trainval_full.txt'])


def test_sirst_v2_stem_in_no_folder_or_two(roots, tmp_path):
    root = shutil.copytree(roots['sirst-v2'][0], str(tmp_path / 'v2'))
    cfg = Config.fromfile(osp.join(BASES, 'sirst-v2.py'))
    ds_cfg = dataset_cfg(cfg, 'test_dataloader', root)
    stems = open(osp.join(root, 'splits/test_full.txt')).read().split()
    gone, twice = stems[0], stems[1]
    for folder in ('targets', 'backgrounds'):
        path = osp.join(root, 'images', folder, gone + '.png')
        if osp.exists(path):
            os.remove(path)
    src = [
        osp.join(root, 'images', f, twice + '.png')
        for f in ('targets', 'backgrounds')
        if osp.exists(osp.join(root, 'images', f, twice + '.png'))
    ][0]
    other = 'backgrounds' if '/targets/' in src else 'targets'
    shutil.copy(src, osp.join(root, 'images', other, twice + '.png'))
    init_default_scope('mmseg')
    with pytest.raises(DatasetDefectError) as info:
        DATASETS.build(ds_cfg)
    problems = {d.problem for d in info.value.defects}
    assert any('in none of the other image folders' in p for p in problems)
    assert any(f'stem {twice!r} has an image in several folders' in p
               for p in problems)
    assert f"remove '{gone}' from" in str(info.value)
