"""Pre-training schedules follow train_cfg.max_epochs; quiet optimiser log."""
import glob
import logging
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import PARAM_SCHEDULERS

from infmae_mm.testing import write_pretrain_folder

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/pretrain/*.py')))
DEMO_CFG = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py')


class RecordLR(Hook):
    """Records the lr of the first parameter group before every iteration."""

    def __init__(self):
        self.lrs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])


@pytest.mark.slow
def test_runner_schedule_follows_shortened_max_epochs(tmp_path):
    """A 20-epoch run of the 100-epoch demo recipe warms up over 5% of its
    iterations and decays to eta_min at its end (not the 100-epoch shape cut
    short)."""
    data = tmp_path / 'ir'
    write_pretrain_folder(str(data), num_images=8, size=(64, 64))
    cfg = Config.fromfile(DEMO_CFG)
    cfg.merge_from_dict({
        'model.backbone.arch': 'nano',
        'model.neck.embed_dim': 64,
        'model.neck.decoder_embed_dim': 32,
        'model.neck.decoder_num_heads': 2,
        'train_cfg.max_epochs': 20,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': str(data),
        'train_dataloader.dataset.pipeline.1.scale': 64,
        'default_hooks.checkpoint.interval': 1000,
    })
    cfg.work_dir = str(tmp_path / 'work')
    cfg.pop('val_dataloader', None)
    cfg.pop('val_cfg', None)
    cfg.pop('val_evaluator', None)
    init_default_scope('mmpretrain')
    runner = Runner.from_cfg(cfg)
    record = RecordLR()
    runner.register_hook(record, priority='LOWEST')
    runner.train()

    base, start, eta_min = 2e-3, 1e-3, 1e-5
    total = 20 * 2  # 20 epochs of 8 / 4 iterations
    warmup = round(0.05 * total)  # 2 iterations
    lrs = record.lrs
    assert len(lrs) == total
    assert lrs[0] == pytest.approx(base * start)
    assert lrs[warmup - 1] == pytest.approx(base)  # end of warm-up: peak
    assert max(lrs) == pytest.approx(base)
    cos_last = (1 + math.cos(math.pi * (total - 1 - warmup) /
                             (total - warmup))) / 2
    assert lrs[-1] == pytest.approx(eta_min + (base - eta_min) * cos_last)
    assert lrs[-1] < 0.01 * base


@pytest.mark.parametrize('path', PRETRAIN_CONFIGS, ids=osp.basename)
@pytest.mark.parametrize('max_epochs', [3, 800])
def test_every_pretrain_schedule_scales_with_max_epochs(path, max_epochs):
    """Built as the runner builds them (``end`` defaults to max_epochs), every
    pre-training config's schedulers warm up within the first 30% of the run,
    peak at the configured lr and decay to near 0 at its end."""
    cfg = Config.fromfile(path)
    init_default_scope('mmpretrain')
    epoch_length = 5
    base = cfg.optim_wrapper.optimizer.lr
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    schedulers = []
    for scheduler in cfg.param_scheduler:
        scheduler = dict(scheduler)
        scheduler.setdefault('end', max_epochs)  # as the runner does
        schedulers.append(
            PARAM_SCHEDULERS.build(
                scheduler,
                default_args=dict(
                    optimizer=optimizer, epoch_length=epoch_length)))
    lrs = []
    for _ in range(max_epochs * epoch_length):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert lrs[0] < 0.01 * base, 'the run does not start with a warm-up'
    assert lrs[peak] == pytest.approx(base, rel=1e-3)
    assert peak <= 0.3 * len(lrs), \
        f'warm-up ends at iteration {peak} of {len(lrs)}'
    # Cosine's last step of a 15-iteration run is still ~2% of the peak.
    assert lrs[-1] < 0.05 * base, 'the lr does not decay to the end'


def test_warmup_cosine_matches_the_former_paper_pair():
    """For 400 epochs WarmupCosineLR reproduces LinearLR(end=40) +
    CosineAnnealingLR(begin=40, T_max=360), the paper's schedule."""
    init_default_scope('mmpretrain')

    def lrs_of(cfgs, steps):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
        scheds = [
            PARAM_SCHEDULERS.build(
                c, default_args=dict(optimizer=opt, epoch_length=2))
            for c in cfgs
        ]
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]['lr'])
            opt.step()
            for s in scheds:
                s.step()
        return out

    new = lrs_of([
        dict(
            type='WarmupCosineLR',
            warmup_fraction=0.1,
            warmup_start_factor=1e-4,
            end=400,
            convert_to_iter_based=True)
    ], 800)
    old = lrs_of([
        dict(
            type='LinearLR',
            start_factor=1e-4,
            begin=0,
            end=40,
            convert_to_iter_based=True),
        dict(
            type='CosineAnnealingLR',
            T_max=360,
            eta_min=0.,
            begin=40,
            end=400,
            convert_to_iter_based=True)
    ], 800)
    torch.testing.assert_close(
        torch.tensor(new), torch.tensor(old), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match='train_cfg.max_epochs'):
        lrs_of([dict(type='WarmupCosineLR')], 1)


def test_optimiser_groups_logged_as_one_table(capsys):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(DEMO_CFG)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    logger = MMLogger.get_instance('test_optim_table', log_level='INFO')
    records = []

    class ListHandler(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    handler = ListHandler(level=logging.INFO)
    logger.addHandler(handler)
    try:
        build_optim_wrapper(model, cfg.optim_wrapper)
    finally:
        logger.removeHandler(handler)
    text = '\n'.join(records)
    assert 'paramwise_options' not in text
    assert 'requires_grad=False' in text  # named once, in the table
    assert len(records) == 1, records
    table = records[0].splitlines()
    # One row per distinct (lr, weight decay): decay and no decay.
    rows = [r for r in table[2:] if not r.startswith('Not trained')]
    assert len(rows) == 2
    frozen = [r for r in table if r.startswith('Not trained')][0]
    assert 'backbone.pos_embed' in frozen and 'decoder_pos_embed' in frozen
    counted = sum(int(r.split()[2]) for r in rows)
    assert counted == sum(1 for p in model.parameters() if p.requires_grad)
