"""Errors name the key the user edits, in the config the user runs; a UNIP
student builds without its teacher's file; gray inputs under any unequal per-
channel statistics are flagged once."""
import logging
import os.path as osp
import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from infmae_mm.models import InfMAEViT
from infmae_mm.models.selfsup.attention_teacher import FrozenAttentionTeacher
from infmae_mm.testing import tiny_arch_options
from tests.test_unip import NANO_TEACHER, nano_unip

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN = osp.join(REPO, 'configs', 'pretrain')


def resolve(cfg, dotted):
    """The value at a dotted config path (KeyError if the path is absent)."""
    node = cfg
    for part in dotted.split('.'):
        node = node[part]
    return node


# ------------------------------------------------ DuGI bridge keys
@pytest.mark.parametrize('config,key', [
    ('dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-400e_inf590k.py',
     'model.neck.guidance.afdm_input'),
    ('dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-400e_inf590k.py',
     'model.neck.guidance.afdm.response'),
    ('dugi-mae_vit-base-p16-paper_4xb24-amp-coslr-400e_inf590k.py',
     'model.neck.guidance.downsample'),
])
def test_dugi_errors_name_the_key_of_the_config_that_ran(config, key):
    cfg = Config.fromfile(osp.join(PRETRAIN, config))
    resolve(cfg, key)  # the named path exists in this config
    cfg.merge_from_dict(tiny_arch_options(cfg))
    cfg.merge_from_dict({key: 'bogus'})
    init_default_scope('mmpretrain')
    with pytest.raises(ValueError) as err:
        MODELS.build(cfg.model)
    assert key in str(err.value)


def test_ddg_on_mae_names_its_own_guidance_key():
    from infmae_mm.models.necks import DualDomainGuidance
    cfg = Config.fromfile(
        osp.join(PRETRAIN, 'dugi_on_mae',
                 'dugi-ddg_mae_vit-base-p16_4xb64-amp-coslr-400e_inf590k.py'))
    resolve(cfg, 'model.guidance.afdm_input')
    guidance = {k: v for k, v in cfg.model.guidance.items() if k != 'type'}
    with pytest.raises(ValueError, match=r'model\.guidance\.afdm_input'):
        DualDomainGuidance(**dict(guidance, afdm_input='bogus'))


# ------------------------------------------------ UNIP teacher
def test_unip_student_builds_and_extracts_without_the_teacher_file(tmp_path):
    missing = str(tmp_path / 'no_teacher.pth')
    with pytest.warns(UserWarning, match='student builds without it'):
        model = nano_unip(checkpoint=missing)
    feats = model.extract_feat(torch.rand(1, 3, 32, 32))
    assert feats[-1].shape[0] == 1
    with pytest.raises(FileNotFoundError) as err:
        model.loss(torch.rand(1, 3, 32, 32), [])
    assert missing in str(err.value)
    assert 'model.teacher.checkpoint' in str(err.value)


def test_teacher_of_another_width_names_the_key_and_the_files_width(tmp_path):
    init_default_scope('mmpretrain')
    wide = dict(NANO_TEACHER, arch=dict(NANO_TEACHER['arch'], embed_dims=96))
    path = tmp_path / 'wide.pth'
    torch.save(dict(state_dict=MODELS.build(wide).state_dict()), path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError) as err:
            FrozenAttentionTeacher(NANO_TEACHER, 2, checkpoint=str(path))
    msg = str(err.value)
    assert str(path) in msg and 'model.teacher.vit' in msg
    assert 'width 96' in msg and 'width 64' in msg


# ------------------------------------------------ host statistics
@pytest.fixture
def log_messages():

    class Records(logging.Handler):

        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_caffe_style_statistics_warn_once(log_messages):
    torch.manual_seed(0)
    gray = torch.randint(0, 256, (2, 1, 64, 64)).float()
    caffe = torch.tensor([103.53, 116.28, 123.675]).view(1, 3, 1, 1)

    def warned():
        return [m for m in log_messages if 'per-channel mean/std' in m]

    backbone = InfMAEViT(arch='nano')
    backbone(gray.expand(-1, 3, -1, -1) - caffe)
    backbone(gray.expand(-1, 3, -1, -1) - caffe)
    assert len(warned()) == 1 and 'std=[0.200 * 255] * 3' in warned()[0]
    # Colour images under the same statistics, and gray images under equal
    # statistics, are fine.
    colour = torch.randint(0, 256, (2, 3, 64, 64)).float()
    InfMAEViT(arch='nano')(colour - caffe)
    InfMAEViT(arch='nano')((gray.expand(-1, 3, -1, -1) - 108.375) / 51.)
    assert len(warned()) == 1
