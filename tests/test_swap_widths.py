"""What a backbone swap meets (issue 14): width errors that name the config
key, ``out_type``, a host's ``pretrained`` argument, ImageNet statistics.

One width test per module of the package that consumes another module's
channels; each feeds the widths of another arch than the module was built
for and expects a ``ValueError`` naming the module, the key and the arch.
"""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from infmae_mm.models import InfMAEViT
from infmae_mm.models.heads import InfMAEReconstructionHead, SmallTargetHead
from infmae_mm.models.necks import (InfMAEPretrainDecoder, InfMAEPyramidNeck,
                                    InfMAEStageFusion)
from infmae_mm.models.width_check import arch_giving

TINY = (64, 96, 192)


def tiny_maps(size=64):
    return tuple(
        torch.rand(1, c, size // s, size // s)
        for c, s in zip(TINY, (4, 8, 16)))


def test_arch_giving_names_every_arch():
    for arch in ('nano', 'tiny', 'small', 'base', 'large'):
        c1, c2, c3 = InfMAEViT.arch_zoo[arch]['embed_dims']
        assert arch_giving((c1, c2, c3)) == arch
        assert arch_giving((c1, c2, c3, c3)) == arch
        assert arch_giving(c3) == arch
    assert arch_giving((1, 2, 3)) is None


def test_pyramid_neck_width_error_and_arch_default():
    neck = InfMAEPyramidNeck(norm_cfg=dict(type='BN'))  # base widths
    with pytest.raises(ValueError) as err:
        neck(tiny_maps())
    msg = str(err.value)
    for part in ('InfMAEPyramidNeck', 'model.neck.in_channels',
                 '(256, 384, 768)', "'base'", '(64, 96, 192)', "'tiny'"):
        assert part in msg, (part, msg)
    neck = InfMAEPyramidNeck(arch='tiny', norm_cfg=dict(type='BN'))
    assert neck.in_channels == TINY
    out = neck(tiny_maps())
    assert [f.shape[1] for f in out] == [64, 96, 192, 192]
    with pytest.raises(ValueError, match='set only one'):
        InfMAEPyramidNeck(in_channels=(256, 384, 768), arch='tiny')


def test_small_target_head_width_error():
    with DefaultScope.overwrite_default_scope('mmseg'):  # mmseg's losses
        head = SmallTargetHead(norm_cfg=dict(type='BN'))  # base F1-F4
    neck = InfMAEPyramidNeck(arch='tiny', norm_cfg=dict(type='BN'))
    with pytest.raises(ValueError) as err:
        head(neck(tiny_maps()))
    msg = str(err.value)
    for part in ('SmallTargetHead', 'model.decode_head.in_channels',
                 '(256, 384, 768, 768)', '(64, 96, 192, 192)', "'tiny'"):
        assert part in msg, (part, msg)


def test_stage_fusion_width_error():
    fusion = InfMAEStageFusion()  # base F1, F2 widths (256, 384)
    blocks = (torch.rand(2, 5, 16, 64), torch.rand(2, 5, 4, 96))
    with pytest.raises(ValueError) as err:
        fusion(blocks)
    msg = str(err.value)
    for part in ('InfMAEStageFusion', 'model.stage_fusion.in_channels',
                 '(256, 384)', '(64, 96)', "'tiny'"):
        assert part in msg, (part, msg)
    assert InfMAEStageFusion((64, 96), 192)(blocks).shape == (2, 5, 192)


def test_pretrain_decoder_width_error():
    decoder = InfMAEPretrainDecoder(
        embed_dim=768, decoder_embed_dim=32, decoder_num_heads=2)
    latent = torch.rand(2, 4, 192)  # tiny's C3
    ids_restore = torch.arange(16).repeat(2, 1)
    with pytest.raises(ValueError) as err:
        decoder(latent, ids_restore, grid_size=(4, 4))
    msg = str(err.value)
    for part in ('InfMAEPretrainDecoder', 'model.neck.embed_dim', '768', '192',
                 "'tiny'"):
        assert part in msg, (part, msg)


def test_reconstruction_head_width_error():
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # its loss
        head = InfMAEReconstructionHead(patch_size=16, in_channels=3)
    pred = torch.rand(2, 16, 16 * 16 * 1)  # a 1-channel decoder
    imgs = torch.rand(2, 3, 64, 64)
    mask = torch.ones(2, 16)
    for call in (lambda: head.loss(pred, imgs, mask),
                 lambda: head.reconstruction(pred, imgs, mask)):
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        for part in ('InfMAEReconstructionHead', '768', '256',
                     'model.neck.in_channels', 'model.head.in_channels=3'):
            assert part in msg, (part, msg)


def test_out_type():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 96)
    maps = InfMAEViT(arch='nano').eval()
    with torch.no_grad():
        f1, f2, f3 = maps(x)
        for out_type, expected in (
            ('avg_featmap', [f.mean((2, 3)) for f in (f1, f2, f3)]),
            ('raw', [f.flatten(2).transpose(1, 2) for f in (f1, f2, f3)]),
        ):
            other = InfMAEViT(arch='nano', out_type=out_type).eval()
            other.load_state_dict(maps.state_dict())
            for got, want in zip(other(x), expected):
                torch.testing.assert_close(got, want)
    assert other(x)[2].shape == (2, 4 * 6, 64)
    with pytest.raises(ValueError, match="no class token.*avg_featmap"):
        InfMAEViT(arch='nano', out_type='cls_token')


class Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def log_messages():
    logger = MMLogger.get_current_instance()
    handler = Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_host_pretrained_argument_is_ignored_with_a_warning(log_messages):
    plain = InfMAEViT(arch='nano')
    torch.manual_seed(0)
    a = InfMAEViT(arch='nano', pretrained='open-mmlab://resnet50_v1c')
    assert any('ignores pretrained=' in m and 'model.pretrained=None' in m
               and 'init_cfg' in m for m in log_messages)
    assert a.state_dict().keys() == plain.state_dict().keys()


def imagenet_normalised(images, order=1):
    """ImageNet normalisation of (B, 1 or 3, H, W) 0-255 images (gray ones
    replicated to 3 channels); ``order=-1`` for BGR statistics."""
    mean = torch.tensor([123.675, 116.28, 103.53][::order]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375][::order]).view(1, 3, 1, 1)
    return (images.expand(-1, 3, -1, -1) - mean) / std


def test_imagenet_statistics_warning_once(log_messages):
    torch.manual_seed(0)
    gray = torch.randint(0, 256, (2, 1, 64, 64)).float()

    def warnings():
        return [m for m in log_messages if 'ImageNet mean/std' in m]

    backbone = InfMAEViT(arch='nano')
    backbone(imagenet_normalised(gray))
    backbone(imagenet_normalised(gray))
    assert len(warnings()) == 1
    assert 'std=[0.200 * 255] * 3' in warnings()[0]
    # ImageNet statistics in BGR order (configs written for BGR input).
    InfMAEViT(arch='nano')(imagenet_normalised(gray, order=-1))
    assert len(warnings()) == 2
    # Infrared statistics, and colour images under ImageNet statistics,
    # give no warning.
    InfMAEViT(arch='nano')((gray.repeat(1, 3, 1, 1) - 108.375) / 51.)
    colour = torch.randint(0, 256, (2, 3, 64, 64)).float()
    InfMAEViT(arch='nano')(imagenet_normalised(colour))
    assert len(warnings()) == 2


def test_last_layer_fpn_width_error():
    from infmae_mm.models.necks import LastLayerFPN
    neck = LastLayerFPN(in_channels=384)  # UNIP ViT-S
    with pytest.raises(ValueError) as err:
        neck((torch.rand(1, 192, 4, 4), ))  # a ViT-T map
    msg = str(err.value)
    for part in ('LastLayerFPN', '384', '192', 'model.neck.in_channels'):
        assert part in msg, (part, msg)
