"""``tiny_arch_options`` gives the nano overrides the tests wrote by hand.

The expected tables are the ones the tests held before the helper (one per test
file), so every test that now calls the helper runs the same models.
"""
import os.path as osp

import pytest
from mmengine.config import Config

from infmae_mm.testing.tiny_arch import (as_cfg_options, tiny_arch_cli,
                                         tiny_arch_options)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
NANO_F = [32, 48, 64]

EXPECTED = {
    'pretrain/infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py': {
        'model.backbone.arch': 'nano',
        'model.neck.embed_dim': 64,
        'model.neck.decoder_embed_dim': 32,
        'model.neck.decoder_num_heads': 2,
    },
    'seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py': {
        'model.backbone.arch': 'nano',
        'model.backbone.init_cfg': None,
        'model.neck.in_channels': NANO_F,
        'model.decode_head.in_channels': NANO_F + [64],
        'model.decode_head.channels': 16,
        'model.auxiliary_head.in_channels': 64,
        'model.auxiliary_head.channels': 8,
    },
    'seg/fcn_infmae-base_1xb2-24k_msrs-inf-480x640.py': {
        'model.backbone.arch': 'nano',
        'model.backbone.init_cfg': None,
        'model.decode_head.in_channels': 64,
        'model.decode_head.channels': 16,
        'model.auxiliary_head.in_channels': 48,
        'model.auxiliary_head.channels': 8,
    },
    'irstd/irstd-head_infmae-base_1xb2-40k_irstd1k-512x512.py': {
        'model.backbone.arch': 'nano',
        'model.backbone.init_cfg': None,
        'model.neck.in_channels': NANO_F,
        'model.decode_head.in_channels': NANO_F + [64],
        'model.decode_head.channels': 16,
        'model.decode_head.up_channels': [8, 8],
    },
}
DET_TRUNK = {
    'model.backbone.arch': 'nano',
    'model.backbone.init_cfg': None,
    'model.backbone.window_size': 4,
    'model.neck.0.in_channels': NANO_F,
    'model.neck.1.in_channels': NANO_F + [64],
    'model.neck.1.out_channels': 32,
    'model.rpn_head.in_channels': 32,
    'model.rpn_head.feat_channels': 32,
    'model.roi_head.bbox_roi_extractor.out_channels': 32,
    'model.roi_head.mask_roi_extractor.out_channels': 32,
    'model.roi_head.mask_head.in_channels': 32,
    'model.roi_head.mask_head.conv_out_channels': 32,
}
EXPECTED['det/mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py'] = {
    **DET_TRUNK,
    'model.roi_head.bbox_head.in_channels': 32,
    'model.roi_head.bbox_head.fc_out_channels': 64,
}
CASCADE_HEADS = {}
for stage in range(3):
    CASCADE_HEADS[f'model.roi_head.bbox_head.{stage}.in_channels'] = 32
    CASCADE_HEADS[f'model.roi_head.bbox_head.{stage}.fc_out_channels'] = 64
EXPECTED['det/cascade-mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py'] = {
    **DET_TRUNK,
    **CASCADE_HEADS
}


@pytest.mark.parametrize('config', sorted(EXPECTED))
def test_options_equal_the_hand_written_tables(config):
    path = osp.join(REPO, 'configs', config)
    assert tiny_arch_options(Config.fromfile(path)) == EXPECTED[config]
    # From the file, as the tests call it, and as --cfg-options strings.
    assert tiny_arch_options(path) == EXPECTED[config]
    assert sorted(tiny_arch_cli(path)) == sorted(
        as_cfg_options(EXPECTED[config]))


def test_cli_strings_parse_back():
    options = EXPECTED[
        'irstd/irstd-head_infmae-base_1xb2-40k_irstd1k-512x512.py']
    cli = as_cfg_options(options)
    assert 'model.decode_head.in_channels=[32,48,64,64]' in cli
    assert 'model.backbone.init_cfg=None' in cli
    assert all(' ' not in item for item in cli)


def test_other_backbones_are_refused():
    with pytest.raises(ValueError, match='model.backbone.type'):
        tiny_arch_options({'model': {'backbone': {'type': 'ResNet'}}})
