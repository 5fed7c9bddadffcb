"""Held-out reconstruction quality: measures, fills, predict, metric, tools."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from infmae_mm.evaluation import FILLS, masked_mse, psnr, summarize
from infmae_mm.evaluation.reconstruction import (inpaint_fill, row_mean_fill,
                                                 visible_mean_fill)
from infmae_mm.models.masking import IAM_MASK_KEY
from infmae_mm.testing import make_ir_image, write_pretrain_folder
from tests.host_tools import run, write_config
from tests.test_infmae import build

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')
NANO = [
    'model.backbone.arch=nano', 'model.neck.embed_dim=64',
    'model.neck.decoder_embed_dim=32', 'model.neck.decoder_num_heads=2'
]


def test_masked_mse_and_psnr_by_hand():
    target = np.array([[10., 20.], [30., 40.]])
    pred = np.array([[13., 20.], [30., 36.]])
    mask = np.array([[1, 0], [0, 1]], bool)
    assert masked_mse(pred, target, mask) == pytest.approx((9 + 16) / 2)
    assert psnr(12.5) == pytest.approx(10 * np.log10(255**2 / 12.5))
    assert psnr(0.) == float('inf')
    with pytest.raises(ValueError, match='masked pixel'):
        masked_mse(pred, target, np.zeros((2, 2), bool))


def test_fills_by_hand():
    gray = np.array([[0., 10., 20., 30.], [40., 50., 60., 70.],
                     [80., 90., 100., 110.]])
    mask = np.array([[0, 1, 0, 1], [1, 1, 1, 1], [0, 0, 1, 1]], bool)
    visible = gray[~mask].mean()  # (0 + 20 + 80 + 90) / 4
    vm = visible_mean_fill(gray, mask)
    assert (vm[mask] == visible).all() and (vm[~mask] == gray[~mask]).all()
    rm = row_mean_fill(gray, mask)
    assert rm[0, 1] == rm[0, 3] == 10.  # mean of 0 and 20
    assert (rm[1] == visible).all()  # no visible pixel in row 1
    assert rm[2, 2] == rm[2, 3] == 85.
    # Inpainting only touches masked pixels and keeps a flat image flat.
    flat = np.full((32, 32), 77.)
    m = np.zeros((32, 32), bool)
    m[8:24, 8:24] = True
    assert np.abs(inpaint_fill(flat, m) - 77.).max() <= 3.  # Telea rounding
    img = make_ir_image(np.random.default_rng(0), 64, 64).astype(float)
    out = inpaint_fill(img, m.repeat(2, 0).repeat(2, 1))
    keep = ~m.repeat(2, 0).repeat(2, 1)
    assert (out[keep] == img[keep]).all()
    assert set(FILLS) == {'visible_mean', 'row_mean', 'inpaint'}


def test_summary_says_whether_the_model_beats_the_fills():
    results = [{
        'iam/model': 10.,
        'iam/visible_mean': 50.,
        'iam/row_mean': 40.,
        'iam/inpaint': 20.
    }, {
        'iam/model': 30.,
        'iam/visible_mean': 50.,
        'iam/row_mean': 40.,
        'iam/inpaint': 10.
    }]
    metrics = summarize(results)
    assert metrics['iam/model_mse'] == 20.
    assert metrics['iam/model_psnr'] == pytest.approx(
        (psnr(10.) + psnr(30.)) / 2)
    assert metrics['iam/model_beats_fills'] == 0.  # inpaint 15 < 20
    results[1]['iam/model'] = 12.
    assert summarize(results)['iam/model_beats_fills'] == 1.


def _batch(model, paths_and_images, with_masks=True):
    from infmae_mm.datasets import IAMMaskGenerator
    gen = IAMMaskGenerator()
    inputs, samples = [], []
    for path, img in paths_and_images:
        sample = DataSample(metainfo=dict(img_path=path))
        if with_masks:
            sample.set_field(gen(dict(img=img))[IAM_MASK_KEY], IAM_MASK_KEY)
        inputs.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
        samples.append(sample)
    return model.data_preprocessor(
        dict(inputs=torch.stack(inputs), data_samples=samples))


def test_predict_fixed_masks_in_gray_levels():
    model = build().eval()
    rng = np.random.default_rng(0)
    imgs = [
        np.repeat(make_ir_image(rng, 64, 96)[..., None], 3, 2)
        for _ in range(3)
    ]
    names = ['a.png', 'b.png', 'c.png']
    data = _batch(model, list(zip(names, imgs)))
    out = model(**data, mode='predict')
    assert len(out) == 3
    for img, sample in zip(imgs, out):
        rec = sample.reconstruction
        # The target is the input image in gray levels.
        np.testing.assert_allclose(
            rec['target'].numpy(), img[..., 0], atol=1e-3)
        for name in ('iam', 'random'):
            assert rec[name]['pred'].shape == (64, 96)
            assert 0 <= rec[name]['pred'].min() and \
                rec[name]['pred'].max() <= 255
            assert rec[name]['mask'].float().mean() == pytest.approx(
                1 - 6 / 24)  # ceil(24 / 4) = 6 visible tokens
        assert not torch.equal(rec['iam']['mask'], rec['random']['mask'])
    # Random masks depend only on the file name: same in another batch.
    again = model(
        **_batch(model, [('c.png', imgs[2]), ('a.png', imgs[0])]),
        mode='predict')
    assert torch.equal(again[0].reconstruction['random']['mask'],
                       out[2].reconstruction['random']['mask'])
    assert torch.equal(again[1].reconstruction['random']['mask'],
                       out[0].reconstruction['random']['mask'])


def test_validation_loop_of_the_demo_config(tmp_path):
    train, heldout = tmp_path / 'train', tmp_path / 'heldout'
    write_pretrain_folder(str(train), num_images=4, size=(64, 64))
    write_pretrain_folder(str(heldout), num_images=3, size=(80, 96), seed=5)
    cfg = Config.fromfile(DEMO_CFG)
    cfg.merge_from_dict({
        **dict(o.split('=') for o in NANO),
        'model.neck.embed_dim':
        64,
        'model.neck.decoder_embed_dim':
        32,
        'model.neck.decoder_num_heads':
        2,
        'train_dataloader.dataset.data_root':
        str(train),
        'train_dataloader.num_workers':
        0,
        'train_dataloader.persistent_workers':
        False,
        'val_dataloader.dataset.data_root':
        str(heldout),
        'val_dataloader.num_workers':
        0,
        'val_dataloader.dataset.pipeline.1.scale':
        64,
        'val_dataloader.dataset.pipeline.2.crop_size':
        64,
    })
    cfg.work_dir = str(tmp_path / 'work')
    init_default_scope('mmpretrain')
    metrics = Runner.from_cfg(cfg).val()
    for s in ('iam', 'random'):
        for m in ('model', *FILLS):
            assert f'recon/{s}/{m}_mse' in metrics
            assert f'recon/{s}/{m}_psnr' in metrics
        assert metrics[f'recon/{s}/model_beats_fills'] in (0., 1.)
    # An untrained model does not beat inpainting of smooth images.
    assert metrics['recon/iam/model_mse'] > metrics['recon/iam/inpaint_mse']


@pytest.mark.slow
def test_eval_tool_table_and_json_and_picture(tmp_path):
    images = tmp_path / 'frames'
    write_pretrain_folder(str(images), num_images=3, size=(90, 140), seed=2)
    out = tmp_path / 'eval.json'
    text = run([
        'python', 'tools/analysis_tools/eval_reconstruction.py', DEMO_CFG,
        'none', '--images',
        str(images), '--size', 'full', '--out',
        str(out), '--cfg-options', *NANO
    ])
    assert 'iam = IAM intensity, stride S=4, descending (pipeline)' in text
    assert 'inpaint' in text and 'best fill' in text
    result = json.loads(out.read_text())
    assert result['num_images'] == 3 and len(result['images']) == 3
    # Full frames: 90x140 -> 80x128 (5 x 8 tokens); numbers recomputable.
    first = result['images'][0]
    assert first['iam/model'] > 0
    assert result['metrics']['iam/inpaint_mse'] == pytest.approx(
        np.mean([r['iam/inpaint'] for r in result['images']]))

    png = tmp_path / 'recon.png'
    text = run([
        'python', 'tools/visualization/show_reconstruction.py', DEMO_CFG,
        'none', '--images',
        str(images), '--size', 'full', '--num', '2', '--random', '--seed', '1',
        '--out',
        str(png), '--cfg-options', *NANO
    ])
    assert 'masks: IAM intensity, stride S=4, descending (pipeline)' in text
    rows = [line for line in text.splitlines() if line.startswith('ir_')]
    assert len(rows) == 2 and all(line.count(' / ') == 4 for line in rows)
    grid = cv2.imread(str(png))
    assert grid is not None and grid.shape[1] > 5 * 128


def test_heldout_image_helpers(tmp_path):
    from infmae_mm.evaluation.heldout import (centre_square, find_images,
                                              fit_to_multiple, size_groups)
    img = np.arange(330 * 500).reshape(330, 500)
    full = fit_to_multiple(img)
    assert full.shape == (320, 496)
    assert full[0, 0] == img[5, 2]  # centred: (330-320)/2, (500-496)/2
    with pytest.raises(ValueError, match='smaller than one 16x16'):
        fit_to_multiple(np.zeros((10, 40)))
    square = centre_square(np.zeros((330, 500), np.uint8), 224)
    assert square.shape == (224, 224)
    with pytest.raises(ValueError, match='multiple of 16'):
        centre_square(img.astype(np.uint8), 100)
    paths = write_pretrain_folder(str(tmp_path), num_images=6, size=(32, 32))
    found = find_images([str(tmp_path)])
    assert sorted(found) == sorted(paths) and found == find_images(
        [str(tmp_path)])
    picked = find_images([str(tmp_path)], 3, random=True, seed=4)
    assert picked == find_images([str(tmp_path)], 3, random=True, seed=4)
    assert len(set(picked)) == 3 and set(picked) <= set(paths)
    with pytest.raises(FileNotFoundError, match='No such image'):
        find_images([str(tmp_path / 'missing')])
    shapes = [np.zeros(s) for s in [(32, 48, 3), (16, 16, 3), (32, 48, 3)]]
    assert size_groups(shapes, 8) == [[0, 2], [1]]
    assert size_groups(shapes, 1) == [[0], [2], [1]]


@pytest.mark.slow
def test_eval_tool_skips_a_model_that_does_not_reconstruct(tmp_path):
    """Models without ReconstructionPredictMixin (UNIP distils attention; here
    mmpretrain's own MAE) are skipped with a message, exit status 0."""
    images = tmp_path / 'frames'
    write_pretrain_folder(str(images), num_images=1, size=(64, 64))
    cfg = write_config(
        str(tmp_path / 'mae.py'),
        'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
        "custom_imports = dict(imports=['infmae_mm'])\n"
        "model = dict(backbone=dict(arch='b'))")
    out = tmp_path / 'skip.json'
    text = run([
        'python', 'tools/analysis_tools/eval_reconstruction.py', cfg, 'none',
        '--images',
        str(images), '--out',
        str(out)
    ])
    assert 'does not reconstruct pixels' in text and 'skipped' in text
    assert 'skipped' in json.loads(out.read_text())


def test_masks_and_loader_found_in_wrapped_training_datasets():
    from infmae_mm.evaluation.heldout import (mask_transform_from_config,
                                              train_pipeline)
    steps = [
        dict(type='LoadThermalImage'),
        dict(type='IAMMaskGenerator', stride=2)
    ]
    plain = Config(dict(train_dataloader=dict(dataset=dict(pipeline=steps))))
    concat = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[dict(
                        pipeline=steps), dict()]))))
    repeat = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset', dataset=dict(pipeline=steps)))))
    init_default_scope('mmpretrain')
    for cfg in (plain, concat, repeat):
        assert [s['type'] for s in train_pipeline(cfg)
                ] == ['LoadThermalImage', 'IAMMaskGenerator']
        assert mask_transform_from_config(cfg).masking.stride == 2
    assert train_pipeline(Config(dict())) == []
