"""ONNX export with dynamic batch, height and width.

The nano backbone (fixed sin-cos table; learned table with windowed attention
and relative position bias) and a nano UperNet segmentor are exported at
224x320 and run in ONNX Runtime at 224x320 and at 256x256 (a size never traced,
with another batch size): the outputs equal PyTorch's within 1e-4.
"""
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from infmae_mm import deployment
from infmae_mm.models import InfMAEViT
from infmae_mm.testing import tiny_arch_cli, tiny_arch_options

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools/deployment/export_onnx.py')
UPERNET = osp.join(
    REPO, 'configs/seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
EXPORT_SHAPE, OTHER_SHAPE, ATOL = (224, 320), (256, 256), 1e-4


def dynamic_dims(path):
    """Symbolic names of the input's dims (None where the dim is fixed)."""
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param or None for d in dims]


def check_at_both_sizes(module, path):
    for shape, batch in ((EXPORT_SHAPE, 1), (OTHER_SHAPE, 2)):
        diffs = deployment.compare_with_onnxruntime(module, path, shape, batch)
        assert max(diffs) <= ATOL, (shape, diffs)


def randomize(module, seed=0):
    """Weights far from their initialisation, so that every part (the position
    table included) shows in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.2)
    return module


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['sincos', 'learned-windowed'])
def test_backbone_export_is_dynamic(kind, tmp_path):
    torch.manual_seed(0)
    if kind == 'sincos':
        backbone = InfMAEViT(arch='nano')
    else:
        backbone = randomize(
            InfMAEViT(
                arch='nano',
                img_size=(224, 320),
                learnable_pos_embed=True,
                use_rel_pos_bias=True,
                window_size=4,
                global_attn_indexes=(1, )))
    backbone.eval()
    path = str(tmp_path / f'{kind}.onnx')
    names = deployment.export_onnx(
        backbone, path, EXPORT_SHAPE, output_names=['f1', 'f2', 'f3'])
    assert names == ['f1', 'f2', 'f3']
    assert dynamic_dims(path) == ['batch', None, 'height', 'width']
    check_at_both_sizes(backbone, path)


def randomized_segmentor(seed=0):
    """The nano UperNet with random weights and logits of order 1 (the
    classifier rescaled), so that 1e-4 is a tight tolerance for them."""
    segmentor, names = deployment.build_model(
        UPERNET, cfg_options=tiny_arch_options(UPERNET))
    randomize(segmentor, seed)
    probe = torch.randn(
        1, 3, *EXPORT_SHAPE, generator=torch.Generator().manual_seed(seed))
    conv_seg = segmentor.segmentor.decode_head.conv_seg
    with torch.no_grad():
        scale = 2. / segmentor(probe).std()
        conv_seg.weight.mul_(scale)
        conv_seg.bias.mul_(scale)
    return segmentor, names


@pytest.mark.slow
def test_segmentor_export_is_dynamic(tmp_path):
    segmentor, names = randomized_segmentor()
    assert names == ['seg_logits']
    with torch.no_grad():
        logits = segmentor(torch.randn(1, 3, *EXPORT_SHAPE))
    # mode='tensor': the decode head's logits at stride 4.
    assert logits.shape == (1, 9, 56, 80) and 1 < logits.std() < 4
    path = str(tmp_path / 'upernet.onnx')
    deployment.export_onnx(segmentor, path, EXPORT_SHAPE, output_names=names)
    assert dynamic_dims(path) == ['batch', None, 'height', 'width']
    check_at_both_sizes(segmentor, path)


@pytest.mark.slow
def test_cli_loads_a_checkpoint_exports_and_verifies(tmp_path):
    segmentor, _ = randomized_segmentor(seed=1)
    checkpoint = str(tmp_path / 'upernet_nano.pth')
    torch.save(
        {
            'meta': {
                'iter': 1
            },
            'state_dict': segmentor.segmentor.state_dict()
        }, checkpoint)
    out_file = str(tmp_path / 'out' / 'upernet.onnx')
    options = tiny_arch_cli(UPERNET)
    proc = subprocess.run([
        sys.executable, TOOL, UPERNET, checkpoint, '--out', out_file,
        '--shape', '224', '320', '--verify', '--verify-shape', '256', '256',
        '--cfg-options', *options
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'all keys matched' in out
    assert 'verify 1x3x224x320' in out and 'verify 2x3x256x256' in out
    assert out.count('(ok, atol 0.0001)') == 2
    # The file the tool wrote holds the checkpoint's weights.
    with torch.no_grad():
        expected = segmentor(torch.zeros(1, 3, 64, 96)).numpy()
    session = ort.InferenceSession(
        out_file, providers=['CPUExecutionProvider'])
    got = session.run(None, {'input': torch.zeros(1, 3, 64, 96).numpy()})[0]
    assert abs(got - expected).max() <= ATOL


def test_cli_wants_backbone_only_for_pretraining_configs(tmp_path):
    config = osp.join(
        REPO, 'configs/pretrain/'
        'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')
    with pytest.raises(ValueError, match='--backbone-only'):
        deployment.build_model(config)
    backbone, names = deployment.build_model(config, backbone_only=True)
    assert isinstance(backbone, InfMAEViT) and names == ['f1', 'f2', 'f3']


@pytest.mark.parametrize('length', [1, 5, 7, 10, 13])
@pytest.mark.parametrize('cells', [1, 2, 3, 6])
def test_exportable_adaptive_pool_equals_pytorch(length, cells):
    x = torch.randn(2, 3, length, length + 3)
    pooled = deployment.ExportableAdaptiveAvgPool2d(cells)(x)
    torch.testing.assert_close(pooled, F.adaptive_avg_pool2d(x, cells))


@pytest.mark.parametrize('learned', [False, True])
@pytest.mark.parametrize('grid', [(14, 14), (14, 20), (30, 40)])
def test_traced_position_table_equals_the_eager_one(learned, grid):
    backbone = InfMAEViT(arch='nano', learnable_pos_embed=learned)
    if learned:
        randomize(backbone)
    eager = backbone.position_table(grid)
    traced_path = backbone._traced_position_table(grid)
    torch.testing.assert_close(traced_path, eager, atol=1e-5, rtol=0)
