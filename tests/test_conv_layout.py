"""The conv stages are channels-last, one forward per layer.

Their 1x1 convolutions are ``Pointwise`` linear maps: these tests check the
layers against an NCHW computation written here with ``F.conv2d`` (the
official formulation), that checkpoints holding the 1x1 convolutions in the
old (C_out, C_in, 1, 1) layout still load through every loading path, and
that MAE's initialisation leaves them at PyTorch's default as the official
model does.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import load_checkpoint

from infmae_mm.models.backbones import InfMAEViT
from infmae_mm.models.layers import (ConvPatchEmbed, DenseLayout,
                                     MaskedConvBlock, Pointwise)
from infmae_mm.utils.checkpoint import (CheckpointMismatchError,
                                        load_checkpoint_checked)


def _ln_nchw(x, norm):
    return F.layer_norm(
        x.permute(0, 2, 3, 1), norm.normalized_shape, norm.weight, norm.bias,
        norm.eps).permute(0, 3, 1, 2)


def _conv1x1(x, linear):
    return F.conv2d(x, linear.weight[:, :, None, None], linear.bias)


def _block_nchw(block, x, visible=None):
    """MCMAE's CBlock on an NCHW map, with 1x1 convolutions."""
    y = _conv1x1(_ln_nchw(x, block.norm1), block.conv1)
    if visible is not None:
        y = y * visible
    x = x + _conv1x1(block.dwconv(y), block.conv2)
    h = _ln_nchw(x, block.norm2)
    return x + _conv1x1(F.gelu(_conv1x1(h, block.ffn.fc1)), block.ffn.fc2)


def test_block_equals_the_nchw_formulation():
    torch.manual_seed(0)
    block = MaskedConvBlock(8)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 8, 12, 10)
    visible = (torch.rand(2, 1, 12, 10) > 0.5).float()
    out = block(
        x.permute(0, 2, 3, 1), DenseLayout(visible.permute(0, 2, 3, 1)))
    torch.testing.assert_close(
        out.permute(0, 3, 1, 2), _block_nchw(block, x, visible))
    torch.testing.assert_close(
        block(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2),
        _block_nchw(block, x))


def test_patch_embed_equals_the_nchw_formulation():
    torch.manual_seed(0)
    embed = ConvPatchEmbed(3, 8, 4)
    x = torch.randn(2, 3, 16, 24)
    ref = F.gelu(_ln_nchw(embed.projection(x), embed.norm))
    torch.testing.assert_close(
        embed(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), ref)


def _old_layout(state_dict):
    """The state dict as infmae_mm < 0.2 wrote it: 1x1 convs 4-D."""
    return {
        k: v[:, :, None, None] if v.dim() == 2 and
        ('.conv1.' in k or '.conv2.' in k or '.ffn.fc' in k) and
        ('blocks1' in k or 'blocks2' in k) else v
        for k, v in state_dict.items()
    }


@pytest.fixture
def trained_and_old_checkpoint(tmp_path):
    torch.manual_seed(1)
    model = InfMAEViT(arch='nano')
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    old = _old_layout(model.state_dict())
    assert old['blocks1.0.conv1.weight'].dim() == 4
    path = str(tmp_path / 'old.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in old.items()}}, path)
    return model, path


def _same(a, b):
    for key, value in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[key], value, msg=key)


def test_old_checkpoints_load_through_init_cfg(trained_and_old_checkpoint):
    model, path = trained_and_old_checkpoint
    fresh = InfMAEViT(
        arch='nano', init_cfg=dict(type='Pretrained', checkpoint=path))
    fresh.init_weights()
    _same(model, fresh)


def test_old_checkpoints_load_through_mmengine(trained_and_old_checkpoint):
    model, path = trained_and_old_checkpoint
    fresh = InfMAEViT(arch='nano')
    load_checkpoint(fresh, path, revise_keys=[(r'^backbone\.', '')])
    _same(model, fresh)


def test_old_checkpoints_pass_the_tools_check(trained_and_old_checkpoint):
    model, path = trained_and_old_checkpoint
    fresh = InfMAEViT(arch='nano')
    state = torch.load(path)['state_dict']
    report = load_checkpoint_checked(
        fresh,
        path,
        'the nano encoder',
        state_dict={k[len('backbone.'):]: v
                    for k, v in state.items()})
    assert report.exact
    _same(model, fresh)
    # A 4-D tensor where the model holds a (non-pointwise) linear weight
    # still does not fit.
    state['backbone.token_proj.weight'] = \
        state['backbone.token_proj.weight'][:, :, None, None]
    with pytest.raises(CheckpointMismatchError, match='token_proj.weight'):
        load_checkpoint_checked(
            InfMAEViT(arch='nano'),
            path,
            'the nano encoder',
            state_dict={k[len('backbone.'):]: v
                        for k, v in state.items()})


def test_pointwise_keeps_the_default_init():
    torch.manual_seed(0)
    model = InfMAEViT(arch='nano')
    model.init_weights()
    conv1 = model.blocks1[0].conv1
    assert isinstance(conv1, Pointwise)
    # PyTorch's default: uniform within 1 / sqrt(fan_in); MAE's xavier
    # bound sqrt(6 / (fan_in + fan_out)) = sqrt(3 / C) is wider.
    bound = 1 / math.sqrt(conv1.in_features)
    assert conv1.weight.abs().max() <= bound
    assert conv1.weight.abs().max() > 0.9 * bound
    assert conv1.bias.abs().max() > 0
    qkv = model.blocks3[0].attn.qkv.weight
    assert qkv.abs().max() > 1 / math.sqrt(qkv.shape[1])
