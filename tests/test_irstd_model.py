"""Small-target model: SmallTargetHead, SoftIoULoss, the IRSTD configs, and
`mim train mmseg` / `mim test mmseg` on a generated IRSTD-1k-like set."""
import math
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, MODELS
from mmseg.structures import SegDataSample

from infmae_mm.evaluation.irstd_metric import IRSTDMetric
from infmae_mm.models import SmallTargetHead, SoftIoULoss
from infmae_mm.testing import (make_irstd_sample, tiny_arch_cli,
                               tiny_arch_options, write_irstd_like)
from tests.host_tools import REPO, loader_options, run

CONFIG = osp.join(
    REPO, 'configs/irstd/irstd-head_infmae-base_1xb2-40k_irstd1k-512x512.py')
NUDT = CONFIG.replace('irstd1k-512x512', 'nudt-sirst-256x256')
METRICS = ('IoU', 'nIoU', 'Pd', 'Fa', 'F1', 'AUC')


def nano_model(**head) -> torch.nn.Module:
    """The leaf config's segmentor with a nano encoder, BN instead of SyncBN
    (as the runner converts it off distributed runs), initialised."""
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmseg')
    cfg.merge_from_dict(tiny_arch_options(cfg))
    cfg.model.decode_head.update(head)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return model


def irstd_batch(sizes, seed: int = 0) -> dict:
    """A data batch as the IRSTD pipeline packs it: uint8 (3, H, W) images
    (replicated gray) and 0/1 (1, H, W) labels of generated small targets."""
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for h, w in sizes:
        img, mask = make_irstd_sample(rng, h, w, num_targets=3)
        inputs.append(torch.from_numpy(img)[None].repeat(3, 1, 1))
        sample = SegDataSample(
            metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
        sample.gt_sem_seg = PixelData(
            data=torch.from_numpy((mask > 0).astype(np.int64))[None])
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------- head
@pytest.mark.parametrize(
    'size', [(512, 512), (96, 160)], ids=['512x512', '96x160'])
@pytest.mark.parametrize('out_channels', [1, 2])
def test_head_predicts_at_input_resolution(size, out_channels):
    model = nano_model(out_channels=out_channels).eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, *size))
        assert [f.shape[-1]
                for f in feats] == [size[1] // s for s in (4, 8, 16, 32)]
        logits = model.decode_head(feats)
    assert logits.shape == (1, out_channels, *size)


def test_head_defaults_fit_infmae_base():
    head = SmallTargetHead()
    head.init_weights()
    feats = [
        torch.randn(1, c, 64 // s, 96 // s)
        for c, s in zip((256, 384, 768, 768), (4, 8, 16, 32))
    ]
    seen = []
    head.conv_seg.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    assert head(feats).shape == (1, 1, 64, 96)
    # conv_seg reads signed features (no ReLU after the last conv)
    assert seen[0].min() < 0 < seen[0].max()
    assert sum(p.numel() for p in head.parameters()) < 300_000
    # every pixel starts at the target prior, not at 0.5
    assert head.conv_seg.bias.item() == pytest.approx(math.log(0.01 / 0.99))
    assert head.threshold == 0.5
    # acc_seg: thresholded sigmoid over non-padded pixels (mmseg's arg-max
    # over one channel would give the background share, 75 here)
    label = torch.zeros(1, 4, 6, dtype=torch.long)
    label[0, :, :1] = 1
    label[0, :, 4:] = 255
    sample = SegDataSample(gt_sem_seg=PixelData(data=label))
    logits = torch.where(label == 1, 3., -3.)[None]
    losses = head.loss_by_feat(logits, [sample])
    assert losses['acc_seg'].item() == pytest.approx(100)
    with pytest.raises(ValueError, match='binary'):
        SmallTargetHead(num_classes=3, out_channels=3)


# ---------------------------------------------------------------- loss
def test_soft_iou_loss_values():
    loss = SoftIoULoss()
    label = torch.zeros(2, 4, 4, dtype=torch.long)
    label[0, 1, 1:3] = 1
    big = 30.
    perfect = torch.where(label[:, None] == 1, big, -big)
    assert loss(perfect, label).item() == pytest.approx(0, abs=1e-6)
    # p = 0.5 everywhere: image 0 inter 1, union 8 + 2 - 1 = 9; image 1
    # inter 0, union 8: 1 - (1 + 1) / (9 + 1) and 1 - 1 / (8 + 1)
    half = torch.zeros(2, 1, 4, 4)
    expected = ((1 - 2 / 10) + (1 - 1 / 9)) / 2
    assert loss(half, label).item() == pytest.approx(expected)
    pooled = SoftIoULoss(per_image=False)(half, label).item()
    assert pooled == pytest.approx(1 - (1 + 1) / (17 + 1))
    # a 2-channel softmax head with the same target probability
    two = torch.cat([torch.zeros_like(half), half], 1)
    assert loss(two, label).item() == pytest.approx(expected)
    # ignored (padded) pixels count in neither the prediction nor the label
    padded = torch.full((2, 4, 6), 255, dtype=torch.long)
    padded[:, :, :4] = label
    logits = torch.cat([half, torch.full((2, 1, 4, 2), big)], -1)
    assert loss(logits, padded).item() == pytest.approx(expected)
    assert loss.loss_name == 'loss_softiou'


@pytest.mark.slow
def test_loss_is_finite_and_decreases():
    torch.manual_seed(0)
    model = nano_model().train()
    data = model.data_preprocessor(irstd_batch([(64, 64)] * 2), True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(6):
        losses = model.loss(data['inputs'], data['data_samples'])
        assert set(losses) == {
            'decode.loss_bce', 'decode.loss_softiou', 'decode.acc_seg'
        }
        total = losses['decode.loss_bce'] + losses['decode.loss_softiou']
        assert torch.isfinite(total)
        history.append(total.item())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    # Slow at first: every pixel starts at the 0.01 prior, where the soft
    # IoU is flat.
    assert history[-1] < history[0] - 0.003, history
    assert min(history[-2:]) < min(history[:2]), history


# ------------------------------------------------------------- test-time
@pytest.mark.parametrize(
    'size', [(500, 500), (90, 150)], ids=['500x500', '90x150'])
def test_padded_prediction_is_cropped_back_to_the_image(size):
    h, w = size
    model = nano_model().eval()
    data = irstd_batch([size], seed=1)
    with torch.no_grad():
        packed = model.data_preprocessor(data, False)
        padded_h, padded_w = (-(-h // 32) * 32, -(-w // 32) * 32)
        assert packed['inputs'].shape[-2:] == (padded_h, padded_w)
        assert packed['data_samples'][0].img_padding_size == (0, padded_w - w,
                                                              0, padded_h - h)
        full = model.encode_decode(packed['inputs'], [{
            'img_shape': (padded_h, padded_w),
            'pad_shape': (padded_h, padded_w)
        }])
        result = model.test_step(irstd_batch([size], seed=1))[0]
    assert result.pred_sem_seg.shape == (h, w)
    assert result.seg_logits.shape == (h, w)
    # the top-left crop of the padded prediction, not a resize of it
    torch.testing.assert_close(result.seg_logits.data,
                               full[0, :, :h, :w].sigmoid())
    assert torch.equal(result.pred_sem_seg.data,
                       (result.seg_logits.data > 0.5).to(
                           result.pred_sem_seg.data))
    metric = IRSTDMetric()
    metric.process({}, [result.to_dict()])
    assert set(metric.compute_metrics(metric.results)) == set(METRICS)


# ---------------------------------------------------------------- configs
def test_config_follows_the_paper_and_the_protocol():
    cfg = Config.fromfile(CONFIG)
    optim = cfg.optim_wrapper
    assert (optim.optimizer.type, optim.optimizer.lr,
            optim.optimizer.weight_decay) == ('AdamW', 1e-3, 0.05)
    assert optim.constructor == 'InfMAELayerDecayOptimWrapperConstructor'
    assert cfg.train_dataloader.batch_size == 2
    (schedule, ) = cfg.param_scheduler  # no end: follows max_iters
    assert (schedule.type, schedule.warmup_fraction * 40000, 'end'
            in schedule) == ('WarmupPolyLR', 1500, False)
    pre = cfg.model.data_preprocessor
    assert pre.mean == [0.425 * 255] * 3 and pre.std == [0.2 * 255] * 3
    assert pre.size_divisor == 32 and pre.test_cfg == dict(size_divisor=32)
    train_types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert 'PhotoMetricDistortion' not in train_types
    assert cfg.train_dataloader.dataset.pipeline[3] == dict(
        type='RandomCrop', crop_size=(512, 512))
    assert [t.type for t in cfg.test_dataloader.dataset.pipeline
            ] == ['LoadThermalImage', 'LoadAnnotations', 'PackSegInputs']
    assert cfg.model.test_cfg.mode == 'whole'
    assert cfg.val_evaluator.type == cfg.test_evaluator.type == 'IRSTDMetric'
    checkpoint = cfg.default_hooks.checkpoint
    assert (checkpoint.save_best, checkpoint.rule) == ('IoU', 'greater')
    assert cfg.custom_imports.imports == ['infmae_mm']

    model = nano_model()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    head_lrs = {
        g['lr']
        for g in wrapper.optimizer.param_groups if any(
            n.startswith('decode_head.') for n in g['param_names'])
    }
    assert head_lrs == {1e-3}


def test_nudt_sirst_variant_changes_paths_and_sizes(tmp_path):
    root = str(tmp_path / 'NUDT-SIRST')
    split = write_irstd_like(root, num_trainval=3, num_test=2, size=(64, 64))
    os.makedirs(osp.join(root, 'img_idx'))
    for name, stems in (('train', split['trainval']), ('test', split['test'])):
        with open(osp.join(root, 'img_idx', f'{name}_NUDT-SIRST.txt'),
                  'w') as f:
            f.write('\n'.join(stems) + '\n')
    cfg, base = Config.fromfile(NUDT), Config.fromfile(CONFIG)
    assert cfg.optim_wrapper == base.optim_wrapper
    assert cfg.model.backbone.img_size == 256
    init_default_scope('mmseg')
    lengths = []
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = root
        dataset = DATASETS.build(loader.dataset)
        lengths.append(len(dataset))
        assert dataset[0]['data_samples'].gt_sem_seg.data.max() <= 1
    assert lengths == [3, 2]


# ---------------------------------------------------------- user entry
@pytest.mark.slow
@pytest.mark.e2e
def test_mim_train_and_test(tmp_path):
    data_root = str(tmp_path / 'irstd')
    # Not multiples of 32: testing pads to 96x160 and must crop back
    # (IRSTDMetric refuses predictions of another size than the mask).
    write_irstd_like(data_root, num_trainval=4, num_test=2, size=(90, 150))
    options = [
        *tiny_arch_cli(CONFIG),
        'train_dataloader.dataset.pipeline.2.scale=(128,128)',
        'train_dataloader.dataset.pipeline.3.crop_size=(128,128)',
        *loader_options(
            'train_dataloader',
            'val_dataloader',
            'test_dataloader',
            data_root=data_root)
    ]
    work = str(tmp_path / 'work')
    out = run([
        'mim', 'train', 'mmseg', CONFIG, '--work-dir', work, '--cfg-options',
        *options, 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
        'default_hooks.logger.interval=1'
    ])
    assert 'decode.loss_softiou' in out and 'decode.loss_bce' in out
    assert osp.exists(osp.join(work, 'best_IoU_iter_3.pth'))
    out = run([
        'mim', 'test', 'mmseg', CONFIG, '--checkpoint',
        osp.join(work, 'iter_3.pth'), '--work-dir', work, '--cfg-options',
        *options
    ])
    line = re.search(r'Iter\(test\) \[2/2\]\s+(.*)', out)
    assert line, out[-2000:]
    values = dict(re.findall(r'(\w+): (-?[\d.]+|nan)', line.group(1)))
    for name in METRICS:
        assert name in values, line.group(1)
    assert 0 <= float(values['AUC']) <= 100
    assert re.search(r'2 images, \d+ targets', out)
