"""Converted official weights reproduce the official computation."""
import argparse
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from infmae_mm.utils.checkpoint import safe_load_checkpoint
from infmae_mm.utils.official import convert_official_state_dict
from tests.reference.official_infmae import (OfficialInfMAE,
                                             save_official_checkpoint)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
OFFICIAL_CFG = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-base-p16-officialiam_4xb64-amp-coslr-400e_inf30.py')
CONVERTER = osp.join(REPO, 'tools/model_converters/infmae_official_to_mm.py')


@pytest.fixture(scope='module')
def official_and_converted(tmp_path_factory):
    torch.manual_seed(0)
    official = OfficialInfMAE().eval()
    # Perturb every tensor so that no rule can pass by symmetry of the init.
    with torch.no_grad():
        for name, t in official.state_dict().items():
            if t.is_floating_point() and 'pos_embed' not in name:
                t.add_(0.02 * torch.randn_like(t))
    root = tmp_path_factory.mktemp('official')
    src, dst = str(root / 'InfMAE.pth'), str(root / 'infmae_mm.pth')
    save_official_checkpoint(official, src, with_extras=True)
    subprocess.run(
        [sys.executable, CONVERTER, src, dst, '--check', OFFICIAL_CFG],
        check=True,
        cwd=REPO)
    cfg = Config.fromfile(OFFICIAL_CFG)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model).eval()
    state = safe_load_checkpoint(dst)['state_dict']
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return official, model


@pytest.mark.slow
def test_encoder_decoder_and_loss_equal_official(official_and_converted):
    official, model = official_and_converted
    imgs = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ref_latent, ref_mask, ref_restore = official.forward_encoder(imgs)
        ref_pred = official.forward_decoder(ref_latent, ref_restore)
        ref_loss = official.forward_loss(imgs, ref_pred, ref_mask)

        iam = model.compute_masks(imgs)
        latent, mask, ids_restore = model.backbone(imgs, iam,
                                                   model.stage_fusion)
        pred = model.neck(latent, ids_restore, (14, 14))
        loss = model.head.loss(pred, imgs, mask)
    torch.testing.assert_close(mask, ref_mask, rtol=0, atol=0)
    torch.testing.assert_close(latent, ref_latent, rtol=0, atol=1e-5)
    torch.testing.assert_close(pred, ref_pred, rtol=0, atol=1e-5)
    torch.testing.assert_close(loss, ref_loss, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_parameter_counts(official_and_converted):
    official, model = official_and_converted
    assert sum(p.numel() for p in model.backbone.parameters()) == 84_605_824
    total = sum(v.numel() for v in model.state_dict().values())
    assert total == sum(v.numel() for v in official.state_dict().values())


def test_unknown_keys_are_listed():
    with pytest.raises(KeyError, match='head.fc.weight'):
        convert_official_state_dict({'head.fc.weight': torch.zeros(1)})


class _Exploit:

    def __reduce__(self):
        return (print, ('pwned', ))


def test_loader_refuses_arbitrary_objects(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'model': {}, 'payload': _Exploit()}, path)
    with pytest.raises(pickle.UnpicklingError, match='builtins.print'):
        safe_load_checkpoint(path)
    ok = str(tmp_path / 'ok.pth')
    torch.save(
        {
            'model': {
                'w': torch.ones(2)
            },
            'args': argparse.Namespace(blr=1e-3)
        }, ok)
    loaded = safe_load_checkpoint(ok)
    assert loaded['args'].blr == 1e-3 and loaded['model']['w'].sum() == 2
