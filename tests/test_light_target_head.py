"""LightTargetFusion / LightTargetHead (issue 21 item 4): the transfer
benchmark's light head as a module and an mmseg decode head, its config and its
cost next to the nano encoder's."""
import math
import os.path as osp
from typing import List, Sequence, Tuple

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from infmae_mm.models import LightTargetFusion, LightTargetHead
from infmae_mm.testing import tiny_arch_options
from tests.host_tools import REPO, load_tool
from tests.test_irstd_model import irstd_batch

CONFIG = osp.join(
    REPO,
    'configs/irstd/irstd-lighthead_infmae-base_1xb2-40k_sirst-v2-512x512.py')
BASE = CONFIG.replace('irstd-lighthead_', 'irstd-head_')
NANO = (32, 48, 64, 64)  # F1-F4 of the nano encoder + pyramid neck
STRIDES = (4, 8, 16, 32)


def nano_feats(batch: int,
               h: int,
               w: int,
               seed: int = 0) -> List[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, c, h // s, w // s, generator=gen)
        for c, s in zip(NANO, STRIDES)
    ]


class SpecHead(nn.Module):
    """The structure as specified (the benchmark's ProbeHead), for the
    construction order: same seed, same parameters."""

    def __init__(self, in_channels: Sequence[int], channels: int,
                 prior_prob: float) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, channels, 1, bias=False), nn.BatchNorm2d(
                    channels)) for c in in_channels)
        self.classifier = nn.Conv2d(channels, 1, 1)
        nn.init.constant_(self.classifier.bias, -math.log(
            (1 - prior_prob) / prior_prob))


def recompute(fusion: LightTargetFusion, feats: Sequence[torch.Tensor],
              size: Tuple[int, int], training: bool) -> torch.Tensor:
    """The forward written out from the parameters: 1x1 convs as einsums,
    the norm from its statistics, the sum at the finest grid."""
    top = feats[0].shape[-2:]
    total = torch.zeros(feats[0].shape[0], fusion.classifier.in_channels, *top)
    for (conv, bn), feat in zip(fusion.lateral, feats):
        y = torch.einsum('oc,bchw->bohw', conv.weight[:, :, 0, 0], feat)
        if training:
            mean = y.mean((0, 2, 3))
            var = y.var((0, 2, 3), unbiased=False)
        else:
            mean, var = bn.running_mean, bn.running_var
        y = (y - mean[:, None, None]) / torch.sqrt(var[:, None, None] + bn.eps)
        y = y * bn.weight[:, None, None] + bn.bias[:, None, None]
        if y.shape[-2:] != top:
            y = F.interpolate(
                y, size=top, mode='bilinear', align_corners=False)
        total = total + y
    gelu = 0.5 * total * (1 + torch.erf(total / math.sqrt(2)))
    logits = torch.einsum('oc,bchw->bohw', fusion.classifier.weight[:, :, 0,
                                                                    0], gelu)
    logits = logits + fusion.classifier.bias[:, None, None]
    return F.interpolate(
        logits, size=size, mode='bilinear', align_corners=False)


# ---------------------------------------------------------------- fusion
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_fusion_shape_and_prior_at_zero_features(training):
    fusion = LightTargetFusion(NANO).train(training)
    feats = [torch.zeros_like(f) for f in nano_feats(2, 64, 96)]
    logits = fusion(feats, (64, 96))
    assert logits.shape == (2, 1, 64, 96)
    torch.testing.assert_close(logits.sigmoid(), torch.full_like(logits, 0.01))
    # any output size: the finest-grid logits are resized bilinearly
    assert fusion(feats, (50, 70)).shape == (2, 1, 50, 70)
    with pytest.raises(ValueError, match='prior_prob'):
        LightTargetFusion(NANO, prior_prob=1.)


def test_fusion_matches_the_specified_construction():
    torch.manual_seed(3)
    spec = SpecHead(NANO, 24, 0.05)
    torch.manual_seed(3)
    fusion = LightTargetFusion(NANO, channels=24, prior_prob=0.05)
    ours, theirs = fusion.state_dict(), spec.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    assert sum(p.numel()
               for p in fusion.parameters()) == (24 * (sum(NANO) + 1) +
                                                 2 * 24 * len(NANO) + 1)


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_fusion_equals_an_independent_recomputation(training):
    torch.manual_seed(0)
    fusion = LightTargetFusion(NANO, channels=16)
    with torch.no_grad():  # non-trivial norms and statistics
        for _, bn in fusion.lateral:
            bn.weight.uniform_(0.5, 2)
            bn.bias.normal_()
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
        fusion.classifier.weight.normal_()
    fusion.train(training)
    feats = nano_feats(2, 96, 160, seed=1)
    # F1 at 100x smaller scale, as a random-init encoder's conv features
    feats[0] = feats[0] * 0.01
    expected = recompute(fusion, feats, (96, 160), training)
    with torch.no_grad():
        got = fusion(feats, (96, 160))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- mmseg head
def nano_segmentor(config: str = CONFIG) -> nn.Module:
    cfg = Config.fromfile(config)
    init_default_scope('mmseg')
    cfg.merge_from_dict(tiny_arch_options(cfg))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return model


def test_config_swaps_only_the_head():
    cfg, base = Config.fromfile(CONFIG), Config.fromfile(BASE)
    head = cfg.model.decode_head
    assert head.type == 'LightTargetHead' and head.channels == 32
    assert head.loss_decode == base.model.decode_head.loss_decode
    for key in ('in_channels', 'in_index', 'out_channels', 'threshold',
                'prior_prob', 'align_corners'):
        assert head[key] == base.model.decode_head[key], key
    for key in ('backbone', 'neck', 'data_preprocessor', 'test_cfg'):
        assert cfg.model[key] == base.model[key], key
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper',
                'param_scheduler', 'train_cfg', 'test_evaluator'):
        assert cfg[key] == base[key], key


def test_head_defaults_and_errors():
    head = LightTargetHead()  # InfMAE-B's F1-F4
    head.init_weights()
    assert not hasattr(head, 'conv_seg')
    assert head.threshold == 0.5
    assert head.fusion.classifier.bias.item() == pytest.approx(
        math.log(0.01 / 0.99))
    feats = [
        torch.randn(1, c, 64 // s, 96 // s)
        for c, s in zip((256, 384, 768, 768), STRIDES)
    ]
    assert head(feats).shape == (1, 1, 64, 96)
    with pytest.raises(ValueError, match='model.decode_head.in_channels'):
        head(nano_feats(1, 64, 96))
    with pytest.raises(ValueError, match='one sigmoid score'):
        LightTargetHead(out_channels=2)


def test_builds_from_config_and_trains_one_step():
    torch.manual_seed(0)
    model = nano_segmentor().train()
    head = model.decode_head
    assert isinstance(head, LightTargetHead)
    assert [c.in_channels for c, _ in head.fusion.lateral] == list(NANO)
    cfg = Config.fromfile(CONFIG)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    head_lrs = {
        g['lr']
        for g in wrapper.optimizer.param_groups if any(
            n.startswith('decode_head.') for n in g['param_names'])
    }
    assert head_lrs == {1e-3}
    before = {k: v.clone() for k, v in head.named_parameters()}
    log = model.train_step(irstd_batch([(64, 64)] * 2), wrapper)
    assert {'decode.loss_bce', 'decode.loss_softiou', 'decode.acc_seg'
            } <= set(log)
    assert all(math.isfinite(float(v)) for v in log.values())
    changed = [
        k for k, v in head.named_parameters() if not torch.equal(v, before[k])
    ]
    assert 'fusion.classifier.weight' in changed
    assert 'fusion.lateral.0.0.weight' in changed
    # test time: the prediction has the image's size, through the padding
    model.eval()
    result = model.test_step(irstd_batch([(90, 150)], seed=1))[0]
    assert result.seg_logits.shape == (90, 150)
    assert result.pred_sem_seg.shape == (90, 150)


def test_head_costs_less_than_the_nano_encoder():
    """Counted by tools/analysis_tools/irstd_head_flops.py (nano encoder +
    pyramid neck against the head, 256 x 256): the tests' shrunk head and the
    config's own width (32) both under a tenth of the encoder."""
    tool = load_tool('tools/analysis_tools/irstd_head_flops.py')
    shrunk = tool.count(CONFIG, 'nano', 256, 1, test_widths=True)
    full = tool.count(CONFIG, 'nano', 256, 1, test_widths=False)
    light, light32, encoder = shrunk['head'], full['head'], full['encoder']
    assert light < light32 < encoder / 10, (light, light32, encoder)
