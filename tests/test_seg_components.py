"""Fine-tuning pieces: pyramid neck, windows, rel-pos, freezing, loading,
layer decay, MSRS dataset."""
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from infmae_mm.datasets import MSRSInfDataset
from infmae_mm.models import InfMAEPyramidNeck, InfMAEViT
from infmae_mm.testing import write_msrs_like
from tests.reference.official_infmae import (OfficialInfMAE,
                                             save_official_checkpoint)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
UPERNET = osp.join(
    REPO, 'configs/seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')


def nano(**kwargs):
    model = InfMAEViT(arch='nano', **kwargs)
    if model.init_cfg is None:
        model.init_weights()
    return model


@pytest.mark.parametrize('out_channels', [None, 24])
def test_pyramid_neck_shapes(out_channels):
    neck = InfMAEPyramidNeck((32, 48, 64),
                             out_channels,
                             norm_cfg=dict(type='BN'))
    feats = nano()(torch.randn(2, 3, 480, 640))
    outs = neck(feats)
    widths = [out_channels] * 4 if out_channels else [32, 48, 64, 64]
    sizes = [(120, 160), (60, 80), (30, 40), (15, 20)]
    assert [tuple(o.shape[1:])
            for o in outs] == [(c, *s) for c, s in zip(widths, sizes)]
    with pytest.raises(ValueError, match='out_indices'):
        neck(feats[:2])


def test_window_covering_the_grid_equals_global_attention():
    torch.manual_seed(0)
    plain = nano()
    windowed = nano(window_size=4, global_attn_indexes=())
    windowed.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 64, 64)  # a 4x4 token grid: one window
    torch.testing.assert_close(windowed(x)[2], plain(x)[2])
    odd = windowed(torch.randn(1, 3, 96, 160))  # 6x10 grid, padded windows
    assert odd[2].shape == (1, 64, 6, 10)


def test_relative_position_bias_changes_attention():
    torch.manual_seed(0)
    model = nano(
        use_rel_pos_bias=True, window_size=2, global_attn_indexes=(1, ))
    x = torch.randn(1, 3, 96, 128)
    before = model(x)[2]
    with torch.no_grad():
        for table in model.rel_pos_biases:
            table.relative_position_bias_table.normal_()
    assert not torch.allclose(before, model(x)[2])
    assert model.rel_pos_biases[0].relative_position_bias_table.shape == \
        (9, 2)  # a 2x2 window
    assert model.rel_pos_biases[1].relative_position_bias_table.shape == \
        (27 * 27, 2)  # the 14x14 grid of img_size 224


@pytest.mark.parametrize('frozen,trainable', [(1, {'patch_embed2'}),
                                              (3, set())])
def test_frozen_stages(frozen, trainable):
    model = nano(frozen_stages=frozen)
    model.train()
    names = {
        n.split('.')[0]
        for n, p in model.named_parameters() if p.requires_grad
    }
    assert trainable <= names
    assert not names & {'patch_embed1', 'blocks1'}
    assert not model.blocks1[0].training
    if frozen == 3:
        assert not names and not model.blocks3[0].training


def _pretrain_checkpoint(tmp_path):
    from mmpretrain.registry import MODELS

    from tests.test_infmae import NANO
    init_default_scope('mmpretrain')
    model = MODELS.build(NANO)
    model.init_weights()
    path = str(tmp_path / 'pretrain.pth')
    buffer = HistoryBuffer()
    buffer.update(0.5)
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(epoch=1),
            message_hub=dict(log_scalars={'train/loss': buffer})), path)
    return model, path


def test_pretrained_from_infmae_mm_checkpoint(tmp_path, caplog):
    pretrain, path = _pretrain_checkpoint(tmp_path)
    backbone = nano(
        img_size=64,
        learnable_pos_embed=True,
        use_rel_pos_bias=True,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    logger = MMLogger.get_instance('infmae_test_load')
    logger.propagate = True
    with caplog.at_level(logging.INFO):
        backbone.init_weights()
    # The same weights give the pre-training encoder's unmasked features.
    x = torch.randn(2, 3, 64, 64)
    for mine, ref in zip(backbone.eval()(x), pretrain.eval().extract_feat(x)):
        torch.testing.assert_close(mine, ref)
    assert backbone.pos_embed.requires_grad
    # A larger fine-tuning size resizes the position table.
    bigger = nano(
        img_size=(96, 128),
        learnable_pos_embed=True,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    bigger.init_weights()
    assert bigger.pos_embed.shape == (1, 48, 64)


def test_pretrained_from_official_checkpoints(tmp_path):
    torch.manual_seed(0)
    official = OfficialInfMAE(
        img_size=64,
        embed_dims=(32, 48, 64),
        depths=(1, 1, 2),
        num_heads=2,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=2)
    raw = str(tmp_path / 'InfMAE.pth')
    save_official_checkpoint(official, raw)
    backbone = nano(
        img_size=64, init_cfg=dict(type='Pretrained', checkpoint=raw))
    backbone.init_weights()  # the raw official file is converted on the fly
    torch.testing.assert_close(backbone.blocks3[1].attn.qkv.weight,
                               official.blocks3[1].attn.qkv.weight)
    torch.testing.assert_close(backbone.blocks1[0].dwconv.weight,
                               official.blocks1[0].attn.weight)
    torch.testing.assert_close(backbone.token_proj.bias,
                               official.patch_embed4.bias)


def test_one_channel_stem_from_three_channel_weights(tmp_path):
    _, path = _pretrain_checkpoint(tmp_path)
    rgb = nano(img_size=64, init_cfg=dict(type='Pretrained', checkpoint=path))
    gray = nano(
        img_size=64,
        in_channels=1,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    rgb.init_weights()
    gray.init_weights()
    x = torch.randn(2, 1, 64, 64)
    for a, b in zip(gray.eval()(x), rgb.eval()(x.repeat(1, 3, 1, 1))):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_mismatched_or_missing_checkpoint(tmp_path):
    _, path = _pretrain_checkpoint(tmp_path)
    tiny = InfMAEViT(
        arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(ValueError, match='(?s)does not fit.*patch_embed1'):
        tiny.init_weights()
    bad_prefix = nano(
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='encoder.'))
    with pytest.raises(KeyError, match="prefix 'encoder.'"):
        bad_prefix.init_weights()
    missing = nano(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(tmp_path / 'none.pth')))
    with pytest.raises(FileNotFoundError, match='init_cfg=None'):
        missing.init_weights()


def test_layer_decay_groups_match_the_table():
    cfg = Config.fromfile(UPERNET)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    cfg.model.backbone.update(arch='nano', init_cfg=None)
    cfg.model.neck.in_channels = [32, 48, 64]
    cfg.model.decode_head.update(in_channels=[32, 48, 64, 64], channels=16)
    cfg.model.auxiliary_head.update(in_channels=64, channels=8)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr, wd, decay = 1e-4, 0.05, 0.75
    # nano: 2 stage-3 blocks -> 4 layer ids; scale = 0.75 ** (3 - id)
    expected_id = {
        'backbone.patch_embed1.projection.weight': 0,
        'backbone.blocks1.0.dwconv.weight': 0,
        'backbone.blocks2.0.ffn.fc1.weight': 0,
        'backbone.token_proj.weight': 0,
        'backbone.pos_embed': 0,
        'backbone.blocks3.0.attn.qkv.weight': 1,
        'backbone.blocks3.1.ffn.fc2.weight': 2,
        'backbone.norm.weight': 3,
        'neck.downsample.0.weight': 3,
        'decode_head.conv_seg.weight': 3,
    }
    seen = {}
    for group in wrapper.optimizer.param_groups:
        for name in group['param_names']:
            seen[name] = group
    for name, layer_id in expected_id.items():
        group = seen[name]
        assert group['lr'] == pytest.approx(lr * decay**(3 - layer_id)), name
    for name, group in seen.items():
        no_decay = name.endswith('.bias') or 'norm' in name or \
            'pos_embed' in name or group['params'][0].ndim == 1
        assert group['weight_decay'] == (0. if no_decay else wd), name


def test_msrs_dataset(tmp_path):
    root = str(tmp_path / 'msrs')
    write_msrs_like(root, num_train=3, num_test=2, size=(96, 128))
    ds = MSRSInfDataset(
        data_root=root,
        data_prefix=dict(
            img_path='train/ir', seg_map_path='train/Segmentation_labels'),
        pipeline=[])
    assert len(ds) == 3 and len(ds.metainfo['classes']) == 9
    label = ds[0]['seg_map_path']
    import os
    os.remove(label)
    with pytest.raises(FileNotFoundError, match=osp.basename(label)):
        MSRSInfDataset(
            data_root=root,
            data_prefix=dict(
                img_path='train/ir', seg_map_path='train/Segmentation_labels'),
            pipeline=[])
