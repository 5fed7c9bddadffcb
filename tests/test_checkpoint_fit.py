"""Tools refuse checkpoints that do not fit their config.

A checkpoint of another model or another config must never be scored,
drawn or exported as if it were the config's: the shared loader
``load_checkpoint_checked`` lists the mismatched keys (tolerating only the
known optional ones) and loads partially only when asked.
"""
import importlib.util
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from infmae_mm.utils.checkpoint import (OPTIONAL_KEYS, CheckpointMismatchError,
                                        load_checkpoint_checked)
from tests.test_infmae import build as build_nano_infmae

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(
    REPO, 'configs/pretrain/infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')
NANO = {
    'model.backbone.arch': 'nano',
    'model.neck.embed_dim': 64,
    'model.neck.decoder_embed_dim': 32,
    'model.neck.decoder_num_heads': 2
}


class Net(nn.Module):

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.body = nn.Linear(3, width)
        self.norm = nn.BatchNorm1d(width)
        self.head = nn.Linear(width, 2)


def save(state, path, wrap='state_dict'):
    torch.save({wrap: state} if wrap else state, str(path))
    return str(path)


# ------------------------------------------------ the shared loader
def test_exact_checkpoint_loads_every_tensor(tmp_path):
    source = Net()
    path = save(source.state_dict(), tmp_path / 'a.pth')
    target = Net()
    report = load_checkpoint_checked(target, path, 'the model of x.py')
    assert report.exact and report.loaded == report.total == 9
    assert 'all keys matched' in report.describe()
    assert torch.equal(target.head.weight, source.head.weight)


def test_missing_and_unexpected_keys_are_refused_by_name(tmp_path):
    state = Net().state_dict()
    del state['head.bias']
    state['decoder.weight'] = torch.zeros(1)
    path = save(state, tmp_path / 'b.pth')
    target = Net()
    before = target.body.weight.clone()
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint_checked(target, path, 'the model of cfg_a.py')
    msg = str(err.value)
    assert path in msg and 'the model of cfg_a.py' in msg
    assert 'missing from the checkpoint (1): head.bias' in msg
    assert 'unexpected (not in the model) (1): decoder.weight' in msg
    assert '--allow-partial' in msg
    # Nothing was loaded into the model.
    assert torch.equal(target.body.weight, before)


def test_allow_partial_loads_what_fits_and_reports_the_rest(tmp_path):
    source = Net()
    state = source.state_dict()
    del state['head.bias']
    path = save(state, tmp_path / 'c.pth')
    target = Net()
    report = load_checkpoint_checked(
        target, path, 'the model of x.py', allow_partial=True)
    assert not report.exact and report.missing == ['head.bias']
    assert report.loaded == 8
    assert torch.equal(target.head.weight, source.head.weight)
    assert json.dumps(report.as_dict())  # JSON-ready for result files


def test_shape_mismatch_is_listed_with_both_shapes(tmp_path):
    path = save(Net(width=8).state_dict(), tmp_path / 'd.pth')
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint_checked(Net(width=4), path, 'the model of x.py')
    assert 'body.weight: checkpoint (8, 3) vs model (4, 3)' in str(err.value)


def test_a_checkpoint_of_another_model_is_refused_even_when_partial(tmp_path):
    path = save(nn.Conv2d(1, 2, 3).state_dict(), tmp_path / 'e.pth')
    with pytest.raises(CheckpointMismatchError, match='No tensor of'):
        load_checkpoint_checked(
            Net(), path, 'the model of x.py', allow_partial=True)


def test_a_whole_model_given_for_its_part_gets_the_prefix_named(tmp_path):
    wrapped = nn.Module()
    wrapped.backbone = Net()
    path = save(wrapped.state_dict(), tmp_path / 'f.pth')
    with pytest.raises(CheckpointMismatchError, match="prefix 'backbone.'"):
        load_checkpoint_checked(Net(), path, 'the backbone of x.py')


def test_only_the_stated_optional_keys_are_tolerated(tmp_path):
    assert len(OPTIONAL_KEYS) == 3  # stated in the docs of the loader
    state = Net().state_dict()
    del state['norm.num_batches_tracked']
    state['mask_generator.weight'] = torch.zeros(2, 3, 16, 16)
    path = save(state, tmp_path / 'g.pth', wrap=None)
    report = load_checkpoint_checked(Net(), path, 'the model of x.py')
    assert report.exact
    assert sorted(report.tolerated) == [
        'mask_generator.weight', 'norm.num_batches_tracked'
    ]


# ------------------------------------------------ the tools
def _demo_cfg():
    cfg = Config.fromfile(DEMO_CFG)
    cfg.merge_from_dict(NANO)
    return cfg


def test_heldout_tools_refuse_a_checkpoint_of_another_config(tmp_path):
    from infmae_mm.evaluation.heldout import build_model
    cfg = _demo_cfg()
    fitting = save(build_model(cfg, 'none').state_dict(), tmp_path / 'fit.pth')
    assert build_model(cfg, fitting) is not None
    # A nano InfMAE with another decoder (depth 1 instead of the config's).
    other = save(build_nano_infmae().state_dict(), tmp_path / 'other.pth')
    with pytest.raises(CheckpointMismatchError) as err:
        build_model(cfg, other)
    msg = str(err.value)
    assert other in msg and DEMO_CFG in msg
    assert 'neck.decoder_blocks' in msg


def _load_tool(relpath):
    spec = importlib.util.spec_from_file_location(
        osp.basename(relpath)[:-3], osp.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_reconstruction_exits_without_writing_results(tmp_path):
    from infmae_mm.testing import write_pretrain_folder
    images = tmp_path / 'frames'
    write_pretrain_folder(str(images), num_images=1, size=(64, 64))
    other = save(nn.Conv2d(1, 2, 3).state_dict(), tmp_path / 'conv.pth')
    out = tmp_path / 'eval.json'
    tool = _load_tool('tools/analysis_tools/eval_reconstruction.py')
    with pytest.raises(SystemExit) as exit_info:
        tool.main([
            DEMO_CFG, other, '--images',
            str(images), '--out',
            str(out), '--cfg-options', *[f'{k}={v}' for k, v in NANO.items()]
        ])
    assert 'No tensor of' in str(exit_info.value.code)
    assert not out.exists()


def test_export_refuses_unless_partial_and_exports_a_backbone(tmp_path):
    from infmae_mm import deployment
    from infmae_mm.testing import tiny_arch_options
    config = osp.join(
        REPO, 'configs/seg/upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
    options = tiny_arch_options(config)
    segmentor, _ = deployment.build_model(config, cfg_options=options)
    # The encoder of a pre-training run: only backbone.* keys.
    backbone_state = {
        f'backbone.{k}': v
        for k, v in segmentor.segmentor.backbone.state_dict().items()
    }
    path = save(backbone_state, tmp_path / 'pretrain.pth')
    with pytest.raises(CheckpointMismatchError, match='--allow-partial'):
        deployment.build_model(config, path, cfg_options=options)
    module, _ = deployment.build_model(
        config, path, cfg_options=options, allow_partial=True)
    backbone, names = deployment.build_model(
        config, path, cfg_options=options, backbone_only=True)
    assert names == ['f1', 'f2', 'f3']
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, backbone_state[f'backbone.{key}'])
