"""The fast masked path (conv stages at visible patches only) equals the
dense reference formulation: outputs, loss and gradients."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from infmae_mm.models import select_tokens
from tests.test_infmae import NANO, make_batch


def twin_models(arch_cfg):
    torch.manual_seed(0)
    cfg = copy.deepcopy(NANO)
    cfg['backbone'].update(arch_cfg)
    init_default_scope('mmpretrain')
    fast = MODELS.build(cfg)
    fast.init_weights()
    # Random non-trivial weights everywhere (LN, biases, decoder too).
    with torch.no_grad():
        for p in fast.parameters():
            p.add_(0.05 * torch.randn_like(p))
    dense = copy.deepcopy(fast)
    dense.backbone.masked_conv = 'dense'
    return fast, dense


@pytest.mark.parametrize('size', [(64, 64), (96, 160)])
@pytest.mark.parametrize('stride', [2, 4])
def test_outputs_loss_and_gradients_equal_dense(size, stride):
    fast, dense = twin_models({})
    data = make_batch(fast, num=3, size=size, stride=stride)
    iam = fast.compute_masks(data['inputs'], data['data_samples'])
    outs = []
    for model in (fast, dense):
        latent, mask, ids_restore = model.backbone(data['inputs'], iam,
                                                   model.stage_fusion)
        loss = model.loss(data['inputs'], data['data_samples'])['loss']
        model.zero_grad()
        loss.backward()
        grads = {
            n: p.grad.clone()
            for n, p in model.named_parameters() if p.grad is not None
        }
        outs.append((latent, loss, grads))
    (l_fast, loss_fast, g_fast), (l_dense, loss_dense, g_dense) = outs
    torch.testing.assert_close(l_fast, l_dense, rtol=0, atol=1e-5)
    torch.testing.assert_close(loss_fast, loss_dense, rtol=0, atol=1e-5)
    assert g_fast.keys() == g_dense.keys()
    for name in g_fast:
        torch.testing.assert_close(
            g_fast[name], g_dense[name], rtol=1e-4, atol=1e-5, msg=name)


def test_prediction_equal_dense_with_drop_path_off_and_eval():
    fast, dense = twin_models({})
    x = torch.randn(2, 3, 64, 96)
    iam = select_tokens(torch.rand(2, 24), 4)
    with torch.no_grad():
        preds = [
            m.neck(
                m.backbone(x, iam, m.stage_fusion)[0], iam.ids_restore, (4, 6))
            for m in (fast.eval(), dense.eval())
        ]
    torch.testing.assert_close(preds[0], preds[1], rtol=0, atol=1e-5)


def test_invalid_mode_raises():
    from infmae_mm.models import InfMAEViT
    with pytest.raises(ValueError, match='masked_conv'):
        InfMAEViT(arch='nano', masked_conv='sparse')


def test_stage_fusion_equals_strided_conv_then_gather():
    """The fusion's one call on visible blocks equals the official order of
    operations: strided convolution over the whole map, then a gather of the
    visible tokens."""
    from infmae_mm.models import InfMAEStageFusion
    from infmae_mm.models.backbones.visible_conv_stages import map_to_blocks
    torch.manual_seed(0)
    fusion = InfMAEStageFusion((8, 12), 16)
    f1, f2 = torch.randn(2, 8, 16, 24), torch.randn(2, 12, 8, 12)
    iam = select_tokens(torch.rand(2, 24), 4)
    fused = fusion((map_to_blocks(f1, iam.ids_keep,
                                  4), map_to_blocks(f2, iam.ids_keep, 2)))
    expected = 0
    for feat, proj in zip((f1, f2), fusion.projections):
        tokens = torch.nn.functional.conv2d(
            feat, proj.weight, proj.bias, stride=proj.stride)
        tokens = tokens.flatten(2).transpose(1, 2)  # (B, 24, 16)
        expected = expected + torch.stack(
            [tokens[b, iam.ids_keep[b]] for b in range(2)])
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match='16 positions per visible token'):
        InfMAEStageFusion((12, 12),
                          16)((map_to_blocks(f2, iam.ids_keep, 2), ) * 2)
