"""UNIP's downstream pieces: NMI, LL-FPN, layer decay, converter, datasets."""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from infmae_mm.evaluation import attention_nmi, nmi_band
from infmae_mm.models.backbones.vit_weights import (adapt_vit_state_dict,
                                                    select_vit_state_dict)
from infmae_mm.models.layers.attention_logits import AttentionLogitsRecorder
from infmae_mm.models.necks import LastLayerFPN
from infmae_mm.testing import make_ir_scene
from tests.host_tools import REPO
from tests.test_unip import to_timm_names

SEG = osp.join(REPO, 'configs/seg')
SODA = osp.join(
    SEG, 'unip_vit-small-p16-llfpn_upernet_2xb4-amp-14k_soda-512x512.py')
LINEAR = osp.join(
    SEG, 'unip_vit-small-p16-linear_fcn_2xb4-amp-14k_soda-512x512.py')


def reference_nmi(attn: np.ndarray) -> float:
    """The cl-vs-mim notebook's steps, written with numpy (no cls token)."""
    a = attn + 1e-8
    a = a / a.sum(-1, keepdims=True)
    n = a.shape[0]
    p_q = np.full(n, 1. / n)
    joint = p_q[:, None] * a
    p_k = joint.sum(0)
    mi = (joint * np.log(joint / (p_q[:, None] * p_k[None]))).sum()
    h_q = -(p_q * np.log(p_q)).sum()
    h_k = -(p_k * np.log(p_k)).sum()
    return mi / np.sqrt(h_q * h_k)


def test_nmi_identity_identical_rows_permutation_and_reference():
    n = 16
    assert attention_nmi(torch.eye(n)).item() == pytest.approx(1., abs=1e-5)
    row = torch.rand(n).softmax(-1)
    assert attention_nmi(row.expand(n, n)).item() == pytest.approx(
        0., abs=1e-9)
    torch.manual_seed(0)
    attn = (torch.randn(2, 3, n, n) * 2).softmax(-1)
    perm = torch.randperm(n)
    permuted = attn[..., perm, :][..., perm]
    torch.testing.assert_close(attention_nmi(permuted), attention_nmi(attn))
    values = attention_nmi(attn)
    assert values.shape == (2, 3)
    for b in range(2):
        for h in range(3):
            assert values[b, h].item() == pytest.approx(
                reference_nmi(attn[b, h].double().numpy()), abs=1e-9)
    # A cls token is dropped before the measure.
    with_cls = torch.zeros(n + 1, n + 1)
    with_cls[0] = 1. / (n + 1)
    with_cls[1:, 1:] = torch.eye(n)
    assert attention_nmi(with_cls, num_extra_tokens=1).item() == \
        pytest.approx(1., abs=1e-5)
    assert [nmi_band(v)
            for v in (0.05, 0.2, 0.6)] == ['global', 'hybrid', 'local']


def test_recorder_sees_every_attention_of_vit_and_infmae():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    vit = MODELS.build(
        dict(type='UNIPViT', arch='tiny', last_layer_heads=16, img_size=64))
    vit.init_weights()
    vit.eval()
    x = torch.randn(2, 3, 64, 64)
    with AttentionLogitsRecorder(vit) as rec:
        vit(x)
    shapes = [v[0].shape for v in rec.logits.values()]
    assert shapes == [(2, 3, 17, 17)] * 11 + [(2, 16, 17, 17)]
    torch.testing.assert_close(
        list(rec.logits.values())[-1][0], vit.attention_logits(x))
    infmae = MODELS.build(dict(type='InfMAEViT', arch='nano', img_size=64))
    infmae.eval()
    with AttentionLogitsRecorder(infmae) as rec:
        infmae(x)
    assert len(rec.logits) == len(infmae.blocks3)
    first = next(iter(rec.logits.values()))[0]
    assert first.shape[-1] == 16 and first.shape[0] == 2


def test_ll_fpn_shapes_and_information_flow():
    torch.manual_seed(0)
    neck = LastLayerFPN(in_channels=32, norm_cfg=dict(type='BN'))
    neck.eval()
    x = torch.randn(2, 32, 32, 32)
    outs = neck((torch.randn(2, 32, 32, 32), x))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 128, 128),
                                              (2, 32, 64, 64), (2, 32, 32, 32),
                                              (2, 32, 16, 16)]
    # Only the last map is read.
    again = neck((torch.zeros(2, 32, 32, 32), x))
    for a, b in zip(outs, again):
        assert torch.equal(a, b)
    # A local change of the input reaches every level.
    y = x.clone()
    y[:, :, 5, 7] += 1.
    for a, b in zip(outs, neck((y, ))):
        assert (a - b).abs().max() > 0
    torch.testing.assert_close(outs[2], x)
    torch.testing.assert_close(outs[3], torch.nn.functional.max_pool2d(x, 2))
    with pytest.raises(TypeError, match='model.neck.in_channels'):
        LastLayerFPN(in_channels=[32, 32])
    # Registered for both fine-tuning hosts.
    from mmdet.registry import MODELS as DET
    from mmseg.registry import MODELS as SEG
    for registry in (DET, SEG):
        assert registry.get('LastLayerFPN') is LastLayerFPN


def _build_seg(config, **backbone):
    cfg = Config.fromfile(config)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.update(backbone)
    return cfg, MODELS.build(cfg.model)


def test_backbone_to_pyramid_only_through_the_last_block():
    cfg, model = _build_seg(SODA, img_size=64)
    model.eval()
    backbone, neck = model.backbone, model.neck
    last = backbone.layers[-1]
    x = torch.randn(1, 3, 64, 64)
    fixed = {}

    def freeze_last(module, args, output):
        if 'out' not in fixed:
            fixed['out'] = output.detach().clone()
        return fixed['out']

    handle = last.register_forward_hook(freeze_last)
    first = neck(backbone(x))
    # Another image: blocks 0-10 change, the last block's output does not.
    second = neck(backbone(torch.randn(1, 3, 64, 64)))
    handle.remove()
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    # A perturbation of block 11's output changes all four levels.
    handle = last.register_forward_hook(
        lambda m, a, out: out + torch.randn_like(out) * 0.1)
    third = neck(backbone(x))
    handle.remove()
    for a, b in zip(first, third):
        assert (a - b).abs().max() > 1e-4


def test_layer_decay_scales_for_the_plain_vit():
    cfg, model = _build_seg(SODA, img_size=64)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    scales, decay = {}, {}
    for group in optim.optimizer.param_groups:
        for name in group['param_names']:
            scales[name] = group['lr_scale']
            decay[name] = group['weight_decay']

    def layer_id(name):
        if name.startswith('backbone.'):
            short = name[len('backbone.'):]
            if short in ('cls_token', 'pos_embed') or \
                    short.startswith('patch_embed'):
                return 0
            if short.startswith('layers.'):
                return int(short.split('.')[1]) + 1
        return 13

    for name, param in model.named_parameters():
        assert scales[name] == pytest.approx(0.85**(13 - layer_id(name)))
        no_decay = param.ndim == 1 or name.endswith('.bias')
        assert decay[name] == (0. if no_decay else 0.05), name
    assert scales['backbone.patch_embed.projection.weight'] == \
        pytest.approx(0.1209, abs=1e-4)
    assert scales['backbone.layers.5.attn.qkv.weight'] == pytest.approx(
        0.3206, abs=1e-4)
    assert scales['neck.fpn2.weight'] == 1.0
    assert decay['backbone.cls_token'] == 0.05  # the released quirk
    # mmseg's own VisionTransformer (no get_layer_depth) gets the same rule.
    from mmseg.registry import MODELS
    plain = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=dict(
                type='VisionTransformer',
                img_size=(64, 64),
                embed_dims=48,
                num_layers=4,
                num_heads=3,
                out_indices=(3, )),
            decode_head=dict(
                type='FCNHead',
                in_channels=48,
                channels=48,
                num_convs=0,
                concat_input=False,
                num_classes=3,
                in_index=0,
                norm_cfg=None)))
    optim = build_optim_wrapper(plain, cfg.optim_wrapper)
    got = {
        n: g['lr_scale']
        for g in optim.optimizer.param_groups for n in g['param_names']
    }
    assert got['backbone.cls_token'] == pytest.approx(0.85**5)
    assert got['backbone.layers.2.ln1.weight'] == pytest.approx(0.85**2)
    assert got['decode_head.conv_seg.weight'] == 1.0


def test_linear_probing_trains_only_a_1x1_classifier():
    cfg, model = _build_seg(LINEAR, img_size=64)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        'decode_head.conv_seg.weight', 'decode_head.conv_seg.bias'
    }
    assert model.decode_head.conv_seg.in_channels == 4 * 384
    assert model.decode_head.conv_seg.kernel_size == (1, 1)
    feats = model.backbone(torch.randn(1, 3, 64, 64))
    assert [f.shape for f in feats] == [(1, 384, 4, 4)] * 4


def released_like_checkpoint(path, heads_last=16, arch='small'):
    """A file shaped like `unip_vit_small_by_mae_large.pth`: the student in
    timm names under `model`, optimiser state, scaler, epoch, Namespace."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    student = MODELS.build(
        dict(type='UNIPViT', arch=arch, last_layer_heads=heads_last))
    student.init_weights()
    state = to_timm_names(student.state_dict())
    optimizer = dict(
        state={
            i: dict(step=torch.tensor(10.), exp_avg=torch.zeros(3))
            for i in range(3)
        },
        param_groups=[dict(lr=0., weight_decay=0.05, params=[0, 1, 2])])
    torch.save(
        dict(
            model=state,
            optimizer=optimizer,
            epoch=99,
            scaler=dict(scale=65536.),
            args=argparse.Namespace(
                model='unip_vit_small_patch16', last_heads=heads_last)), path)
    return student, state


def test_converter_adapts_position_table_and_keeps_qkv(tmp_path):
    student, official = released_like_checkpoint(str(tmp_path / 'r.pth'))
    from infmae_mm.utils.checkpoint import safe_load_checkpoint
    loaded = safe_load_checkpoint(str(tmp_path / 'r.pth'))
    assert loaded['args'].last_heads == 16
    vit = select_vit_state_dict(loaded)
    assert len(vit) == 150
    for k, v in student.state_dict().items():
        assert torch.equal(vit[k], v), k
    out = adapt_vit_state_dict(
        vit, grid=(32, 32), layer_scale_init=1., drop_final_norm=True)
    assert not any(k.startswith('ln1.') for k in out) and 'ln1.weight' in vit
    pos = out['pos_embed']
    assert pos.shape == (1, 1025, 384)
    assert torch.equal(pos[:, 0], vit['pos_embed'][:, 0])
    grid = vit['pos_embed'][0, 1:].reshape(1, 14, 14, 384).permute(0, 3, 1, 2)
    ref = torch.nn.functional.interpolate(
        grid, size=(32, 32), mode='bicubic', align_corners=False)
    torch.testing.assert_close(pos[0, 1:],
                               ref.permute(0, 2, 3, 1).reshape(1024, 384))
    assert torch.equal(out['layers.11.attn.qkv.weight'],
                       official['blocks.11.attn.qkv.weight'])
    assert torch.equal(out['layers.4.ffn.gamma2.weight'], torch.ones(384))
    # The 16-head last block loads into a 6-head fine-tuning ViT unchanged.
    _, model = _build_seg(SODA)
    model.backbone.load_state_dict(out, strict=True)
    assert model.backbone.layers[11].attn.num_heads == 6
    assert torch.equal(model.backbone.layers[11].attn.qkv.weight,
                       official['blocks.11.attn.qkv.weight'])


def write_split_dataset(root,
                        img_dir,
                        label_dir,
                        splits,
                        img_suffix,
                        size=(96, 128),
                        num_classes=9):
    """Generated infrared scenes in a VOC-style split-list layout."""
    rng = np.random.default_rng(0)
    for split, n in splits.items():
        names = []
        for i in range(n):
            img, label, _ = make_ir_scene(rng, *size)
            name = f'{split}_{i:03d}'
            os.makedirs(osp.join(root, img_dir), exist_ok=True)
            os.makedirs(osp.join(root, label_dir), exist_ok=True)
            cv2.imwrite(osp.join(root, img_dir, name + img_suffix), img)
            cv2.imwrite(
                osp.join(root, label_dir, name + '.png'),
                (label % num_classes).astype(np.uint8))
            names.append(name)
        with open(osp.join(root, split), 'w') as f:
            f.write('\n'.join(names) + '\n')


@pytest.mark.parametrize('dataset,img_dir,label_dir,splits,suffix,classes', [
    ('SODADataset', 'JPEGImages', 'SegmentationClassPNG',
     ('train_infrared.txt', 'test_infrared.txt'), '.jpg', 21),
    ('MFNetThermalDataset', 'thermal_imgs', 'labels',
     ('train.txt', 'val_test.txt'), '.png', 9),
    ('SCUTSegDataset', 'images', 'labels',
     ('train.txt', 'val.txt'), '.jpg', 10),
])
def test_split_list_datasets(tmp_path, dataset, img_dir, label_dir, splits,
                             suffix, classes):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    root = str(tmp_path)
    write_split_dataset(root, img_dir, label_dir, {
        splits[0]: 3,
        splits[1]: 2
    }, suffix)
    cfg = dict(
        type=dataset,
        data_root=root,
        data_prefix=dict(img_path=img_dir, seg_map_path=label_dir))
    ds = DATASETS.build(dict(cfg, ann_file=splits[0]))
    assert len(ds) == 3 and len(ds.metainfo['classes']) == classes
    assert len(ds.metainfo['palette']) == classes
    assert ds[0]['img_path'].endswith(f'{splits[0]}_000{suffix}')
    assert len(DATASETS.build(dict(cfg, ann_file=splits[1]))) == 2
    with pytest.raises(ValueError, match='ann_file'):
        DATASETS.build(cfg)
    os.remove(osp.join(root, label_dir, f'{splits[1]}_001.png'))
    with pytest.raises(FileNotFoundError, match=f'{splits[1]}_001.png'):
        DATASETS.build(dict(cfg, ann_file=splits[1]))
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        DATASETS.build(dict(cfg, ann_file='missing.txt'))


def test_fine_tuning_schedule_is_poly_times_warmup():
    """As mmcv 1.x ran it (the official runs): lr(t) = lr (1 - t/T) w(t),
    the warm-up factor w rising linearly from 1e-6 to 1 over W iterations
    (mmengine's schedulers reach their end values one step earlier: T - 1
    and W - 1)."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(
        osp.join(
            SEG, 'unip_vit-small-p16-llfpn_upernet_2xb4-amp-10k_'
            'mfnet-t-512x512.py'))
    T, W, lr = cfg.train_cfg.max_iters, 1000, 1e-4
    assert T == 9800 and round(
        cfg.param_scheduler[0]['warmup_fraction'] * T) == W
    wrapper = OptimWrapper(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr))
    schedulers = [
        PARAM_SCHEDULERS.build(
            dict(s, end=s.get('end', T), _scope_='mmseg'),
            default_args=dict(optimizer=wrapper)) for s in cfg.param_scheduler
    ]
    for t in range(T):
        if t in (0, 1, 500, 999, 1000, 1001, 5000, 9799):
            w = 1e-6 + (1 - 1e-6) * min(t, W - 1) / (W - 1)
            expected = lr * (1 - t / (T - 1)) * w
            got = wrapper.param_groups[0]['lr']
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-14), t
        for s in schedulers:
            s.step()
