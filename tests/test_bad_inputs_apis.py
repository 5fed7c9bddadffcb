"""Bad inputs to the model APIs, converters and width checks (issue 22, items 4
and 6, and a further round of bad inputs).

Each test feeds what a new user might give and asserts the answer: a
conversion by a stated rule, or an error naming the problem and the key,
file or option that fixes it.
"""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from infmae_mm.datasets import ConvertToGray, ThermalNormalize

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_TINY = 'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample'


# ------------------------------------------------ float images (item 6)
def gray_u8(seed=0, size=64):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size)).astype(np.uint8)


def test_convert_to_gray_brings_other_dtypes_to_8_bits(warnings_logged):
    img = gray_u8()
    t = ConvertToGray()
    # 8-bit values in a wider dtype: cast exactly, no warning.
    for other in (img.astype(np.float32), img.astype(np.int64),
                  img.astype(np.uint16)):
        out = t(dict(img=other))['img']
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out[..., 0], img)
    assert not warnings_logged()
    # Floats in [0, 1]: stretched by the stated percentile rule, said once.
    unit = img.astype(np.float32) / 255
    out = t(dict(img=unit))['img']
    expected = ThermalNormalize(mode='percentile').normalize(unit)
    np.testing.assert_array_equal(out[..., 0], expected)
    t(dict(img=unit * 2))
    said = [w for w in warnings_logged() if 'ConvertToGray stretches' in w]
    assert len(said) == 1, said
    assert 'float32' in said[0] and '(img * 255).round()' in said[0]


def test_convert_to_gray_refuses_what_cannot_be_an_image():
    t = ConvertToGray()
    with pytest.raises(ValueError, match='no finite pixel .*4096 NaN'):
        t(dict(img=np.full((64, 64), np.nan, np.float32)))
    with pytest.raises(TypeError, match='complex64.*real-valued'):
        t(dict(img=np.zeros((8, 8), np.complex64)))
    with pytest.raises(TypeError, match='numpy image, got Tensor'):
        t(dict(img=torch.zeros(8, 8)))


def test_feature_extractor_takes_float_images():
    from mmpretrain import FeatureExtractor
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        torch.manual_seed(0)
        extractor = FeatureExtractor(PRETRAIN_TINY, device='cpu')
        img = gray_u8(size=224)
        ref = extractor(img, stage='F3')[0]
        # The same 8-bit image as float32 gives the same features ...
        torch.testing.assert_close(
            extractor(img.astype(np.float32), stage='F3')[0], ref)
        # ... a [0, 1] float image the features of its stated 8-bit form.
        unit = img.astype(np.float64) / 255
        stretched = ThermalNormalize(mode='percentile').normalize(unit)
        torch.testing.assert_close(
            extractor(unit, stage='F3')[0],
            extractor(stretched, stage='F3')[0])
        with pytest.raises(ValueError, match='no finite pixel'):
            extractor(np.full((64, 64, 3), np.nan, np.float32))


# ------------------------------------------ unip_to_mm.py (item 6)
CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'unip_to_mm.py')


def load_converter():
    import importlib.util
    spec = importlib.util.spec_from_file_location('unip_to_mm', CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Result:

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def convert(*args):
    """Run the converter's command line in this process (as a subprocess
    would: exit status, stdout, the exit message as stderr)."""
    import contextlib
    import io
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [CONVERTER, *map(str, args)]
    try:
        with contextlib.redirect_stdout(out):
            load_converter().main()
    except SystemExit as e:
        if e.code in (None, 0):
            return Result(0, out.getvalue(), '')
        return Result(1, out.getvalue(), str(e.code))
    finally:
        sys.argv = argv
    return Result(0, out.getvalue(), '')


def test_converter_names_the_file_and_what_it_holds(tmp_path):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    infmae = tmp_path / 'infmae_nano.pth'
    model = MODELS.build(dict(type='InfMAEViT', arch='nano'))
    torch.save(
        dict(
            state_dict={
                f'backbone.{k}': v
                for k, v in model.state_dict().items()
            },
            meta={}), infmae)
    junk = tmp_path / 'junk.pth'
    torch.save(dict(epoch=3, note='hello'), junk)
    listed = tmp_path / 'list.pth'
    torch.save([torch.zeros(2)], listed)
    two = tmp_path / 'two_vits.pth'
    torch.save(
        dict(
            student_cls_token=torch.zeros(1, 1, 8),
            other_cls_token=torch.zeros(1, 1, 8)), two)
    cases = {
        infmae: ('69 tensors', 'InfMAE encoder weights',
                 'model.backbone.init_cfg.checkpoint'),
        junk: ('no tensors', "'epoch', 'note'"),
        listed: ('a list, not a dict of tensors', ),
        two: ('2 ViTs', 'other_', 'student_', 'not a UNIP checkpoint'),
    }
    for path, parts in cases.items():
        proc = convert(path, tmp_path / 'out.pth')
        assert proc.returncode != 0, proc.stdout
        msg = proc.stderr.strip().splitlines()[-1]
        assert str(path) in msg, msg
        for part in parts:
            assert part in msg, (part, msg)
        assert 'prefix' not in msg  # the CLI has no prefix option
        assert not (tmp_path / 'out.pth').exists()


def test_converter_takes_the_student_of_a_unip_run_here(tmp_path):
    """A UNIP checkpoint of this package (student under backbone., the teacher
    beside it) converts its student and says so."""
    from tests.test_unip_components import released_like_checkpoint
    released = tmp_path / 'released.pth'
    student, _ = released_like_checkpoint(str(released), arch='tiny')
    run_ckpt = tmp_path / 'unip_run.pth'
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state['teacher.vit.cls_token'] = torch.zeros(1, 1, 1024)
    state['teacher.vit.pos_embed'] = torch.zeros(1, 197, 1024)
    torch.save(dict(state_dict=state, meta={}), run_ckpt)
    out_run, out_rel = tmp_path / 'run_mm.pth', tmp_path / 'rel_mm.pth'
    proc = convert(run_ckpt, out_run)
    assert proc.returncode == 0, proc.stderr
    assert 'converting the student, backbone.' in proc.stdout
    assert 'a ViT of width 192, 12 blocks' in proc.stdout
    assert convert(released, out_rel).returncode == 0
    a = torch.load(out_run)['state_dict']
    b = torch.load(out_rel)['state_dict']
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_converter_check_names_a_width_mismatch(tmp_path):
    from tests.test_unip_components import released_like_checkpoint
    released = tmp_path / 'released_tiny.pth'
    released_like_checkpoint(str(released), arch='tiny')
    config = osp.join(
        REPO, 'configs/seg/'
        'unip_vit-small-p16-llfpn_upernet_2xb4-amp-14k_soda-512x512.py')
    proc = convert(released, tmp_path / 'o.pth', '--img-size', 512, '--check',
                   config)
    assert proc.returncode != 0
    msg = proc.stderr
    for part in ('width 192', 'width 384', 'model.backbone.arch',
                 "'deit-tiny'"):
        assert part in msg, (part, msg)
    assert '--img-size' not in msg  # the size is right, the width is not
    assert not (tmp_path / 'o.pth').exists()


# ------------------------------------ width checks of listed necks (item 4)
def tiny_maps(size=64):
    return tuple(
        torch.rand(1, c, size // s, size // s)
        for c, s in zip((64, 96, 192), (4, 8, 16)))


def test_listed_neck_of_the_det_configs_names_its_key():
    from mmdet.registry import MODELS

    import infmae_mm  # noqa: F401
    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs/det/mask-rcnn_infmae-base_fpn_1xb2-25e_'
            'm3fd-inf.py'))
    assert isinstance(cfg.model.neck, list)
    init_default_scope('mmdet')
    necks = [dict(n) for n in cfg.model.neck]
    necks[0]['norm_cfg'] = dict(type='BN')
    neck = MODELS.build(necks)
    with pytest.raises(ValueError) as err:
        neck(tiny_maps())  # InfMAE-T maps into the InfMAE-B neck
    msg = str(err.value)
    assert 'Set model.neck.0.in_channels=(64, 96, 192)' in msg, msg
    # The key is what --cfg-options reaches, and following it works.
    cfg.merge_from_dict({'model.neck.0.in_channels': (64, 96, 192)})
    assert cfg.model.neck[0].in_channels == (64, 96, 192)
    necks[0]['in_channels'] = cfg.model.neck[0].in_channels
    necks[1]['in_channels'] = [64, 96, 192, 192]
    assert len(MODELS.build(necks)(tiny_maps())) == 5
    assert 'docs/en/user_guides/swap_backbone.md' in msg
    assert osp.isfile(osp.join(REPO, 'docs/en/user_guides/swap_backbone.md'))
    assert 'README' not in msg


def test_neck_built_from_an_arch_names_the_arch_key():
    from infmae_mm.models.necks import InfMAEPyramidNeck
    neck = InfMAEPyramidNeck(arch='base', norm_cfg=dict(type='BN'))
    with pytest.raises(ValueError) as err:
        neck(tiny_maps())
    msg = str(err.value)
    # in_channels beside arch is refused, so the fix is the arch.
    assert "Set model.neck.arch='tiny'" in msg, msg
    assert 'model.neck.in_channels=' not in msg
    assert 'model.neck.0.*' in msg  # a user's list of necks
    fixed = InfMAEPyramidNeck(arch='tiny', norm_cfg=dict(type='BN'))
    assert [f.shape[1] for f in fixed(tiny_maps())] == [64, 96, 192, 192]
    # Widths of no arch: the arch goes, in_channels comes.
    odd = (torch.rand(1, 8, 16, 16), torch.rand(1, 16, 8,
                                                8), torch.rand(1, 24, 4, 4))
    with pytest.raises(ValueError) as err:
        neck(odd)
    assert ('Remove model.neck.arch and set model.neck.in_channels='
            '(8, 16, 24)') in str(err.value)


# ------------------ a checkpoint of another model to get_model (new round)
def save_as_backbone(module: torch.nn.Module, path) -> None:
    """An mmengine checkpoint holding ``module`` under ``backbone.``."""
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in module.state_dict().items()
        }), path)


def test_get_model_refuses_a_checkpoint_of_another_model(tmp_path):
    """Mmpretrain loads ``pretrained=`` with ``strict=False``: a foreign file
    used to leave random weights behind a logged note."""
    from mmpretrain import FeatureExtractor, get_model

    from infmae_mm.utils.checkpoint import CheckpointMismatchError
    from tests.test_unip_components import released_like_checkpoint
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        vit = tmp_path / 'unip_vit.pth'
        student, _ = released_like_checkpoint(str(vit), arch='tiny')
        mm_vit = tmp_path / 'vit_mm.pth'
        save_as_backbone(student, mm_vit)
        for path in (vit, mm_vit):
            with pytest.raises(CheckpointMismatchError) as err:
                get_model(PRETRAIN_TINY, pretrained=str(path))
            msg = str(err.value)
            assert 'InfMAE' in msg and 'encoder (backbone.) tensors' in msg
            assert 'model.backbone.arch' in msg
        with pytest.raises(CheckpointMismatchError):
            FeatureExtractor(PRETRAIN_TINY, pretrained=str(mm_vit))
        # An encoder-only checkpoint of the config still loads.
        model = get_model(PRETRAIN_TINY)
        encoder = tmp_path / 'encoder.pth'
        save_as_backbone(model.backbone, encoder)
        loaded = get_model(PRETRAIN_TINY, pretrained=str(encoder))
        for k, v in model.backbone.state_dict().items():
            assert torch.equal(loaded.backbone.state_dict()[k], v), k


def test_get_model_refuses_a_checkpoint_of_another_arch(tmp_path):
    """The same keys at other widths: a base checkpoint given to the tiny
    config used to load nothing (size mismatches are only logged by
    mmengine) and leave random weights."""
    from mmpretrain import get_model

    from infmae_mm.models.backbones import InfMAEViT
    from infmae_mm.utils.checkpoint import CheckpointMismatchError
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        path = tmp_path / 'nano.pth'
        save_as_backbone(InfMAEViT(arch='nano'), path)
        with pytest.raises(CheckpointMismatchError) as err:
            get_model(PRETRAIN_TINY, pretrained=str(path))
    msg = str(err.value)
    assert 'with their shapes' in msg and 'model.backbone.arch' in msg
    tiny = get_model(PRETRAIN_TINY).backbone.embed_dims[2]
    assert f'(backbone.norm.weight) is 64, this model\'s {tiny}' in msg


@pytest.mark.parametrize('arch, error, words', [
    (5, TypeError, 'model.backbone.arch must be a name'),
    (dict(embed_dims=(8, 16), depths=(1, 1, 1),
          num_heads=2), ValueError, '3 values each'),
])
def test_backbone_arch_of_the_wrong_type_is_named(arch, error, words):
    from infmae_mm.models.backbones import InfMAEViT
    with pytest.raises(error, match=words):
        InfMAEViT(arch=arch)


def test_convert_to_gray_takes_gray_plus_alpha():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    alpha = np.full_like(gray, 255)
    out = ConvertToGray()(dict(img=np.stack([gray, alpha], axis=2)))['img']
    assert out.shape == (3, 4, 3)
    assert (out == gray[..., None]).all()
