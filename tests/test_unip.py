"""UNIP pre-training: teacher, student, loss, gradients, frozen teacher."""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from infmae_mm.models.backbones import UNIPViT
from infmae_mm.models.heads import AttentionDistillHead
from infmae_mm.models.selfsup.attention_teacher import FrozenAttentionTeacher

# A nano teacher/student pair: 32x32 images, patch 8 -> 16 tokens + cls.
NANO_TEACHER = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
    img_size=32,
    patch_size=8)
NANO_STUDENT = dict(
    type='UNIPViT',
    arch=dict(
        embed_dims=48, num_layers=3, num_heads=3, feedforward_channels=96),
    img_size=32,
    patch_size=8,
    last_layer_heads=4)


def nano_unip(teacher_layer=3, checkpoint=None, **student):
    init_default_scope('mmpretrain')
    model = MODELS.build(
        dict(
            type='UNIP',
            data_preprocessor=dict(
                type='SelfSupDataPreprocessor',
                mean=[0.3801 * 255] * 3,
                std=[0.1871 * 255] * 3,
                to_rgb=False),
            backbone={
                **NANO_STUDENT,
                **student
            },
            teacher=dict(
                vit=NANO_TEACHER, layer=teacher_layer, checkpoint=checkpoint)))
    model.init_weights()
    return model


def reference_kl(student, teacher):
    """Independent float64 KL(teacher || student) per row, then the mean."""
    s = student.double()
    t = teacher.double()
    p_t = torch.exp(t - torch.logsumexp(t, -1, keepdim=True))
    log_p_s = s - torch.logsumexp(s, -1, keepdim=True)
    log_p_t = t - torch.logsumexp(t, -1, keepdim=True)
    return (p_t * (log_p_t - log_p_s)).sum(-1).mean()


def manual_logits(attn, x):
    """Q k^T / sqrt(d) from the module's weights, written out."""
    B, N, C = x.shape
    heads = attn.num_heads
    w, b = attn.qkv.weight, attn.qkv.bias
    q = (x @ w[:C].T + b[:C]).view(B, N, heads, -1).transpose(1, 2)
    k = (x @ w[C:2 * C].T + b[C:2 * C]).view(B, N, heads, -1).transpose(1, 2)
    v = (x @ w[2 * C:].T + b[2 * C:]).view(B, N, heads, -1).transpose(1, 2)
    return q @ k.transpose(-1, -2) / (C // heads)**0.5, v


def test_shapes_vit_large_teacher_and_small_student():
    torch.manual_seed(0)
    init_default_scope('mmpretrain')
    with pytest.warns(UserWarning, match='random'):
        teacher = FrozenAttentionTeacher(
            dict(type='VisionTransformer', arch='large'), layer=18)
    assert len(teacher.vit.layers) == 18 and not hasattr(teacher.vit, 'ln1')
    x = torch.randn(1, 3, 224, 224)
    assert teacher(x).shape == (1, 16, 197, 197)
    student = UNIPViT(arch='small', last_layer_heads=16)
    student.init_weights()
    assert student.attention_logits(x).shape == (1, 16, 197, 197)
    # The scale follows the last block's head dim: 384 / 16 = 24.
    assert student.layers[-1].attn.head_dims == 24
    assert student.layers[0].attn.num_heads == 6


@pytest.mark.parametrize('arch,total,trainable', [
    ('tiny', 5_524_416, 5_486_592),
    ('small', 21_665_664, 21_590_016),
    ('base', 85_798_656, 85_647_360),
])
def test_student_parameter_counts(arch, total, trainable):
    for heads in (None, 16):
        model = UNIPViT(arch=arch, last_layer_heads=heads)
        assert sum(p.numel() for p in model.parameters()) == total
        assert sum(p.numel() for p in model.parameters()
                   if p.requires_grad) == trainable
        assert len(model.state_dict()) == 150


def test_student_structure_and_init():
    model = UNIPViT(arch='tiny', last_layer_heads=16)
    model.init_weights()
    rates = {
        m.drop_prob
        for m in model.modules() if type(m).__name__ == 'DropPath'
    }
    assert rates == {0.1}  # every block, no ramp
    assert [layer.attn.num_heads for layer in model.layers] == [3] * 11 + [16]
    pos = model.pos_embed
    assert not pos.requires_grad and torch.all(pos[0, 0] == 0)
    # Row 1 + 15 (second row of the grid, first column): x=0, y=1.
    c = 192 // 4
    omega = 1. / 10000**(torch.arange(c, dtype=torch.float64) / c)
    expect_y = torch.cat([torch.sin(omega), torch.cos(omega)]).float()
    torch.testing.assert_close(pos[0, 1 + 14, 96:], expect_y)
    torch.testing.assert_close(pos[0, 1 + 14, :96],
                               torch.cat([torch.zeros(c),
                                          torch.ones(c)]))
    assert torch.all(model.layers[3].attn.qkv.bias == 0)
    with pytest.raises(ValueError, match='last_layer_heads'):
        UNIPViT(arch='tiny', last_layer_heads=7)


def test_loss_matches_float64_reference_and_is_shift_invariant():
    torch.manual_seed(0)
    head = AttentionDistillHead()
    s = torch.randn(2, 4, 17, 17) * 3
    t = torch.randn(2, 4, 17, 17) * 3
    loss = head.loss(s, t)
    assert loss.dtype == torch.float32 and loss >= 0
    assert abs(loss.item() - reference_kl(s, t).item()) < 1e-6
    # The per-row mean over (b, h, q) includes the cls row and column.
    assert abs(head.loss(s, s).item()) < 1e-7
    shifted = t + torch.randn(2, 4, 17, 1) * 50
    assert head.loss(shifted, t).item() < 1e-6
    # A temperature that applies: T=2 equals the reference on halved logits.
    hot = AttentionDistillHead(temperature=2.)
    assert abs(hot.loss(s, t).item() -
               reference_kl(s / 2, t / 2).item()) < 1e-6
    assert abs(hot.loss(s, t).item() - loss.item()) > 1e-3
    # half-precision inputs are computed in float32
    assert head.loss(s.half(), t.half()).dtype == torch.float32
    with pytest.raises(ValueError, match='last_layer_heads=4'):
        head.loss(torch.randn(2, 3, 17, 17), t)


def test_head_count_mismatch_fails_at_build():
    with pytest.raises(ValueError, match='last_layer_heads=4'):
        nano_unip(last_layer_heads=3)


def test_teacher_truncation_equals_hook_on_full_forward():
    torch.manual_seed(0)
    init_default_scope('mmpretrain')
    full = MODELS.build(dict(NANO_TEACHER))
    full.init_weights()
    layer = 3
    teacher = FrozenAttentionTeacher(NANO_TEACHER, layer=layer)
    own = teacher.vit.state_dict()
    teacher.vit.load_state_dict({k: full.state_dict()[k] for k in own})
    captured = {}

    def hook(module, args, output):
        captured['x'], captured['out'] = args[0], output

    handle = full.layers[layer - 1].attn.register_forward_hook(hook)
    x = torch.randn(2, 3, 32, 32)
    full.eval()
    full(x)
    handle.remove()
    attn = full.layers[layer - 1].attn
    logits, v = manual_logits(attn, captured['x'])
    # The captured logits are what the module's softmax used.
    out = (logits.softmax(-1) @ v).transpose(1, 2).flatten(2)
    torch.testing.assert_close(attn.proj(out), captured['out'])
    torch.testing.assert_close(teacher(x), logits)


def to_timm_names(vit_state):
    """A state dict in the official (timm) names, from mmpretrain names;
    written out by hand, independently of the package's mapping."""
    rename = [('patch_embed.projection.', 'patch_embed.proj.'),
              ('.ln1.', '.norm1.'), ('.ln2.', '.norm2.'),
              ('.ffn.layers.0.0.', '.mlp.fc1.'),
              ('.ffn.layers.1.', '.mlp.fc2.')]
    out = {}
    for k, v in vit_state.items():
        for a, b in rename:
            k = k.replace(a, b)
        k = 'norm.' + k[len('ln1.'):] if k.startswith('ln1.') else k
        out[k.replace('layers.', 'blocks.')] = v.clone()
    return out


def test_teacher_loads_official_layout_and_rejects_wrong_files(tmp_path):
    torch.manual_seed(0)
    init_default_scope('mmpretrain')
    source = MODELS.build(dict(NANO_TEACHER))
    source.init_weights()
    state = to_timm_names(source.state_dict())
    state['head.weight'] = torch.zeros(10, 64)  # classifier, ignored
    mae = tmp_path / 'mae.pth'
    torch.save(dict(model=state, epoch=3), mae)
    teacher = FrozenAttentionTeacher(NANO_TEACHER, 2, checkpoint=str(mae))
    for k, v in teacher.vit.state_dict().items():
        torch.testing.assert_close(v, source.state_dict()[k])
    # DINO/iBOT training files: prefixed weights under 'teacher'.
    dino = tmp_path / 'dino.pth'
    torch.save(
        dict(
            teacher={f'backbone.{k}': v
                     for k, v in state.items()},
            student={f'module.backbone.x.{k}': v
                     for k, v in state.items()}), dino)
    FrozenAttentionTeacher(NANO_TEACHER, 2, checkpoint=str(dino))
    # Layers 0-1 missing: a hard error listing them, not a random teacher.
    broken = tmp_path / 'broken.pth'
    torch.save(
        {
            k: v
            for k, v in state.items()
            if not k.startswith(('blocks.0.', 'blocks.1.attn'))
        }, broken)
    with pytest.raises(KeyError, match=r'lacks 16 required.*layers\.0\.ln1'):
        FrozenAttentionTeacher(NANO_TEACHER, 2, checkpoint=str(broken))
    # Only the layers up to L are required.
    short = tmp_path / 'short.pth'
    torch.save(
        {
            k: v
            for k, v in state.items()
            if not k.startswith(('blocks.3.', 'norm.'))
        }, short)
    FrozenAttentionTeacher(NANO_TEACHER, 3, checkpoint=str(short))
    with pytest.raises(KeyError, match='blocks.3|layers.3'):
        FrozenAttentionTeacher(NANO_TEACHER, 4, checkpoint=str(short))
    with pytest.raises(ValueError, match='model.teacher.layer'):
        FrozenAttentionTeacher(NANO_TEACHER, 5)


def test_gradient_coverage_of_the_student():
    torch.manual_seed(0)
    model = nano_unip()
    x = torch.randn(2, 3, 32, 32)
    model.train()
    model.loss(x, None)['loss'].backward()
    no_grad = {n for n, p in model.named_parameters() if p.grad is None}
    last = 'backbone.layers.2.'
    assert no_grad == {
        f'{last}attn.proj.weight', f'{last}attn.proj.bias',
        f'{last}ln2.weight', f'{last}ln2.bias', f'{last}ffn.layers.0.0.weight',
        f'{last}ffn.layers.0.0.bias', f'{last}ffn.layers.1.weight',
        f'{last}ffn.layers.1.bias', 'backbone.ln1.weight', 'backbone.ln1.bias',
        'backbone.pos_embed'
    }
    qkv = model.backbone.layers[-1].attn.qkv
    assert torch.all(qkv.weight.grad[96:] == 0)
    assert torch.all(qkv.bias.grad[96:] == 0)
    assert qkv.weight.grad[:96].abs().sum() > 0


def test_teacher_is_frozen_outside_optimiser_and_checkpoint():
    model = nano_unip()
    teacher = model.teacher
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert teacher_ids and not teacher_ids & {
        id(p)
        for p in model.parameters()
    }
    assert not any(k.startswith('teacher') for k in model.state_dict())
    assert all(not p.requires_grad for p in teacher.parameters())
    model.train()
    assert model.backbone.training and not teacher.training
    teacher.train()
    assert not teacher.training
    optim = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)))
    in_optim = {
        id(p)
        for g in optim.optimizer.param_groups for p in g['params']
    }
    assert not in_optim & teacher_ids
    before = copy.deepcopy(teacher.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for _ in range(2):
        optim.update_params(model.loss(x, None)['loss'])
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k])
    # dtype / device moves reach the teacher.
    model.double()
    assert next(teacher.parameters()).dtype == torch.float64
    model.float()


def test_autocast_loss_is_float32_and_finite():
    torch.manual_seed(0)
    model = nano_unip()
    x = torch.randn(2, 3, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model.loss(x, None)['loss']
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    # bfloat16 logits carry about 3 significant digits.
    full = model.loss(x, None)['loss'].item()
    assert abs(loss.item() - full) < 0.1 * full


def test_distillation_drives_the_kl_down():
    torch.manual_seed(0)
    model = nano_unip()
    images = torch.rand(16, 1, 32, 32).expand(-1, 3, -1, -1) * 255
    dp = model.data_preprocessor
    batch = (images - dp.mean) / dp.std  # normalised as the recipe does
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    losses = []
    # Matrices this small run faster on one thread (and a loaded 2-core
    # machine makes two threads wait on each other).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for step in range(200):
            idx = torch.arange(8) + (step % 2) * 8
            loss = model.loss(batch[idx], None)['loss']
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.3 * first, (first, last)
