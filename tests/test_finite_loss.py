"""No silent NaN: settings that cannot produce a loss are refused when built,
and a run whose loss becomes non-finite stops with an error naming the
iteration and the likely causes, in every shipped config."""
import glob
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement

from infmae_mm.datasets import IAMMaskGenerator
from infmae_mm.engine.hooks import CheckFiniteLossHook, NonFiniteLossError
from infmae_mm.models.masking import IAM_MASK_KEY, IAMMask, IAMMasking

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


# ------------------------------------------------ refused when built
def test_stride_one_is_refused_by_the_pipeline_transform():
    with pytest.raises(ValueError) as err:
        IAMMaskGenerator(stride=1)
    msg = str(err.value)
    assert 'masks nothing' in msg and 'NaN' in msg
    assert "stride of dict(type='IAMMaskGenerator')" in msg
    assert 'train_dataloader.dataset.pipeline' in msg


def test_stride_one_is_refused_by_in_model_masking():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from tests.test_infmae import NANO
    init_default_scope('mmpretrain')
    with pytest.raises(ValueError, match=r'model\.mask_generator\.stride'):
        MODELS.build(
            dict(NANO, mask_generator=dict(scorer='intensity', stride=1)))


@pytest.mark.parametrize('stride', [0, -2, 2.5, True, '4'])
def test_other_unusable_strides_are_refused(stride):
    with pytest.raises(ValueError, match='must be an int >= 2'):
        IAMMasking('intensity', stride=stride)


def test_mask_ratio_is_answered_with_the_stride():
    with pytest.raises(ValueError) as err:
        IAMMaskGenerator(mask_ratio=0.75)
    msg = str(err.value)
    assert 'mask_ratio' in msg and 'no mask ratio' in msg
    assert "stride of dict(type='IAMMaskGenerator')" in msg and 'to 4' in msg
    with pytest.raises(
            ValueError, match=r'model\.mask_generator\.stride to '
            r'2'):
        IAMMasking('intensity', mask_ratio=0.5)


def test_mask_ratio_on_the_backbone_names_the_backbone_key():
    from infmae_mm.models import InfMAEViT
    with pytest.raises(ValueError) as err:
        InfMAEViT(arch='nano', mask_ratio=0.75)
    msg = str(err.value)
    assert msg.startswith('mask_ratio=0.75 (model.backbone.mask_ratio)')
    assert 'IAMMaskGenerator' in msg and 'to 4' in msg


def test_an_input_of_one_token_is_refused():
    masking = IAMMasking('intensity', stride=4)
    with pytest.raises(ValueError, match='1 token.*nothing is masked'):
        masking(torch.rand(1, 3, 16, 16))
    assert masking(torch.rand(1, 3, 16, 32)).mask.sum() == 1  # 2 tokens


# ------------------------------------------------ the hook on a toy run
class ToyModel(BaseModel):
    """Its loss turns NaN from iteration ``nan_from`` (1-based) on, or is non-
    finite wherever the batch's inputs are."""

    def __init__(self, nan_from=None) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.calls = 0
        self.nan_from = nan_from

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.calls += 1
        out = self.linear(torch.stack(list(inputs)).float()).pow(2).mean()
        if self.nan_from is not None and self.calls >= self.nan_from:
            out = out * float('nan')
        return dict(loss=out, loss_aux=out.detach() * 0)


class ToyDataset(torch.utils.data.Dataset):

    def __init__(self, bad_index=None, empty_mask=False) -> None:
        self.bad_index = bad_index
        self.empty_mask = empty_mask

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        x = torch.full((4, ), float(index))
        if index == self.bad_index:
            x[1] = float('nan')
        sample = BaseDataElement(metainfo=dict(img_path=f'img_{index}.tiff'))
        if self.empty_mask:
            sample.set_field(
                IAMMask(np.arange(4), np.arange(4), np.zeros(4, np.float32)),
                IAM_MASK_KEY)
        return dict(inputs=x, data_samples=sample)


def toy_runner(tmp_path, model, dataset=None, **optim):
    return Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=dataset or ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=optim.get('lr', 0.01))),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=100),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[CheckFiniteLossHook()],
        default_scope='mmengine',
        experiment_name=f'finite_loss_{tmp_path.name}')


def test_a_finite_run_passes(tmp_path):
    runner = toy_runner(tmp_path, ToyModel())
    runner.train()
    assert runner.iter == 4
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())


def test_nan_loss_stops_at_its_iteration_before_a_checkpoint(tmp_path):
    runner = toy_runner(tmp_path, ToyModel(nan_from=3))
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert 'not finite at iteration 3' in msg
    assert 'loss=nan' in msg
    assert 'loss_aux=nan' in msg
    assert 'The last finite loss logged was' in msg  # diverged, not broken
    assert 'optim_wrapper.optimizer.lr is now 0.01' in msg
    assert 'optim_wrapper.clip_grad' in msg
    assert 'non-finite weights' in msg  # the SGD step took the NaN in
    # Iterations 1 and 2 were saved, iteration 3 was not.
    assert osp.exists(osp.join(tmp_path, 'iter_2.pth'))
    assert not osp.exists(osp.join(tmp_path, 'iter_3.pth'))


def test_nan_pixels_are_named_with_their_file(tmp_path):
    runner = toy_runner(tmp_path, ToyModel(), ToyDataset(bad_index=1))
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert 'not finite at iteration 1' in msg
    assert 'No finite loss was logged before' in msg
    assert '1 NaN / inf input values (img_1.tiff)' in msg
    assert 'non-finite weights' in msg


def test_masks_that_mask_nothing_are_named(tmp_path):
    runner = toy_runner(tmp_path, ToyModel(nan_from=1),
                        ToyDataset(empty_mask=True))
    with pytest.raises(NonFiniteLossError, match='2 image.*masks no patch'):
        runner.train()


def test_hook_interval_is_validated():
    with pytest.raises(ValueError, match='positive int'):
        CheckFiniteLossHook(interval=0)


# ------------------------------------------------ every shipped config
SHIPPED = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(osp.sep))


def test_every_shipped_config_checks_its_loss():
    missing = []
    for path in SHIPPED:
        hooks = Config.fromfile(path).get('custom_hooks') or []
        if [h.get('type') for h in hooks].count('CheckFiniteLossHook') != 1:
            missing.append(osp.relpath(path, REPO))
    assert len(SHIPPED) > 30
    assert not missing, missing
