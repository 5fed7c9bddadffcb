"""Pre-training on a mixture of sources: shares per source, visible images
converted to gray, and the mixture in the curation statistics."""
import collections
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import infmae_mm  # noqa: F401  (registers the sampler and transforms)
from infmae_mm import curation
from infmae_mm.datasets import samplers
from infmae_mm.datasets.samplers import SourceWeightedSampler, apportion
from infmae_mm.testing import make_ir_image, write_pretrain_folder
from tests.host_tools import REPO, run

SAMPLE_CFG = osp.join(
    REPO, 'configs', 'pretrain',
    'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-mixture-sample.py')
RECIPE_CFG = osp.join(
    REPO, 'configs', 'pretrain',
    'infmae_vit-base-p16_4xb64-amp-coslr-400e_ir-mixture.py')


def write_visible_folder(root, num, size=(96, 128), seed=0):
    """Colour (BGR) pictures standing in for visible-light images."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num):
        gray = make_ir_image(rng, *size)
        colour = cv2.applyColorMap(gray, cv2.COLORMAP_JET)
        path = osp.join(root, f'vis_{i:03d}.jpg')
        os.makedirs(root, exist_ok=True)
        assert cv2.imwrite(path, colour)
        paths.append(path)
    return paths


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('mixture')
    ir = str(root / 'data' / 'ir_sample')
    vis = str(root / 'data' / 'vis_sample')
    write_pretrain_folder(ir, 12, (96, 128), seed=0)
    write_visible_folder(vis, 4)
    write_pretrain_folder(
        str(root / 'data' / 'ir_sample_heldout'), 4, (96, 128), seed=1)
    return root, ir, vis


def _build(cfg_path, ir, vis):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(cfg_path)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.datasets[0].data_root = ir
    ds_cfg.datasets[1].data_root = vis
    return cfg, DATASETS.build(ds_cfg)


def test_apportion_sums_and_rounds():
    for total, weights in ((10, [3, 1]), (7, [1, 1,
                                              1]), (100, [0.7, 0.2,
                                                          0.1]), (5, [0, 2,
                                                                      0])):
        parts = apportion(total, weights)
        assert sum(parts) == total
        for part, w in zip(parts, weights):
            assert abs(part - total * w / sum(weights)) < 1


def test_sampler_draws_each_source_in_its_share(folders):
    _, ir, vis = folders
    cfg, dataset = _build(SAMPLE_CFG, ir, vis)
    assert cfg.train_dataloader.sampler.weights == [3, 1]
    sampler = SourceWeightedSampler(dataset, [3, 1], num_samples=40, seed=5)
    assert len(sampler) == 40 and sampler.shares == [30, 10]
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        indices = list(sampler)
        epochs.append(indices)
        assert len(indices) == 40
        ir_idx = [i for i in indices if i < 12]
        vis_idx = [i for i in indices if i >= 12]
        assert len(ir_idx) == 30 and len(vis_idx) == 10
        assert all(12 <= i < 16 for i in vis_idx)
        # Cycling before repeating: every image 2 or 3 times.
        assert set(collections.Counter(ir_idx).values()) <= {2, 3}
        assert set(collections.Counter(vis_idx).values()) <= {2, 3}
    assert epochs[0] != epochs[1]
    sampler.set_epoch(0)
    assert list(sampler) == epochs[0]  # deterministic


def test_sampler_splits_ranks(folders, monkeypatch):
    _, ir, vis = folders
    _, dataset = _build(SAMPLE_CFG, ir, vis)
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(samplers, 'get_dist_info', lambda r=rank: (r, 2))
        sampler = SourceWeightedSampler(dataset, [1, 1], num_samples=9, seed=3)
        per_rank.append(list(sampler))
    assert len(per_rank[0]) == len(per_rank[1]) == 5
    monkeypatch.setattr(samplers, 'get_dist_info', lambda: (0, 1))
    whole = list(SourceWeightedSampler(dataset, [1, 1], num_samples=9, seed=3))
    assert sorted(per_rank[0][:4] + per_rank[1][:4] + per_rank[0][4:]) == \
        sorted(whole)


def test_sampler_explains_bad_settings(folders):
    _, ir, vis = folders
    _, dataset = _build(SAMPLE_CFG, ir, vis)
    with pytest.raises(ValueError, match='sampler.weights has 3 values'):
        SourceWeightedSampler(dataset, [1, 1, 1])
    with pytest.raises(ValueError, match='non-negative'):
        SourceWeightedSampler(dataset, [0, 0])
    with pytest.raises(TypeError, match='ConcatDataset'):
        SourceWeightedSampler(dataset.datasets[0], [1])


def test_visible_sources_are_gray_and_infrared_ones_unchanged(folders):
    _, ir, vis = folders
    for cfg_path in (SAMPLE_CFG, RECIPE_CFG):
        cfg = Config.fromfile(cfg_path)
        pipelines = [d.pipeline for d in cfg.train_dataloader.dataset.datasets]
        assert all(p[0].type == 'LoadThermalImage' for p in pipelines)
        assert [t.type
                for t in pipelines[0]] == [t.type for t in cfg.train_pipeline]
        assert pipelines[1][1] == dict(type='ConvertToGray', to_channels=3)
        assert len(cfg.train_dataloader.sampler.weights) == len(pipelines)
    _, dataset = _build(SAMPLE_CFG, ir, vis)
    item = dataset[len(dataset) - 1]  # a visible image
    img = item['inputs'].numpy()
    assert img.shape[0] == 3
    np.testing.assert_array_equal(img[0], img[1])
    np.testing.assert_array_equal(img[0], img[2])


def test_statistics_show_the_mixture(folders, tmp_path):
    _, ir, vis = folders
    stats = curation.dataset_statistics([ir, vis],
                                        str(tmp_path / 'stats'),
                                        verbose=False)
    sources = stats['sources']
    ir_rows = {k: v for k, v in sources.items() if k.startswith('ir_sample')}
    assert sum(r['kept'] for r in ir_rows.values()) == 12
    assert sources['vis_sample']['kept'] == 4
    assert sum(r['share'] for r in sources.values()) == pytest.approx(1.0)
    assert sources['vis_sample']['share'] == pytest.approx(4 / 16)
    # Per-source entropy: the mean of equation 1 over the source's images.
    entropies = []
    for name in sorted(os.listdir(vis)):
        levels = curation.gray_levels(
            cv2.imread(osp.join(vis, name), cv2.IMREAD_UNCHANGED))
        _, counts = np.unique(levels, return_counts=True)
        p = counts / counts.sum()
        entropies.append(float(-(p * np.log2(p)).sum()))
    assert sources['vis_sample']['entropy_mean'] == pytest.approx(
        np.mean(entropies))
    table = curation.format_statistics(stats)
    assert 'share' in table and '25.0%' in table


@pytest.mark.slow
def test_mim_train_on_the_mixture(folders):
    if not osp.isfile(osp.join(osp.dirname(sys.executable), 'mim')):
        pytest.skip('openmim is not installed')
    root, _, _ = folders
    work = str(root / 'work')
    # The config's data roots are relative: run from the folder holding
    # data/ir_sample, data/vis_sample and data/ir_sample_heldout.
    out = run([
        'bash', '-c',
        f'cd {root} && mim train mmpretrain {SAMPLE_CFG} --work-dir {work} '
        '--cfg-options model.backbone.arch=nano model.neck.embed_dim=64 '
        'model.neck.decoder_embed_dim=32 model.neck.decoder_num_heads=2 '
        'train_cfg.max_epochs=1 train_dataloader.num_workers=0 '
        'train_dataloader.persistent_workers=False '
        'train_dataloader.batch_size=4'
    ])
    assert osp.isfile(osp.join(work, 'epoch_1.pth')), out[-3000:]
    assert 'SourceWeightedSampler' in out
