"""Downstream schedules (seg / det / IRSTD / cls) follow the run's length."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOWNSTREAM = sorted(
    p for task in ('seg', 'det', 'irstd', 'cls')
    for p in glob.glob(osp.join(REPO, 'configs', task, '*.py')))
EPOCH_LENGTH = 50  # iterations per epoch of the epoch-based configs


def run_lengths(cfg: Config) -> list:
    """The config's own length and a short run, as ``train_cfg`` values."""
    if 'max_iters' in cfg.train_cfg:
        return [('max_iters', cfg.train_cfg.max_iters), ('max_iters', 200)]
    return [('max_epochs', cfg.train_cfg.max_epochs), ('max_epochs', 6)]


def lrs_of(cfg: Config, key: str, length: int) -> list:
    """The lr of every iteration, with the schedulers built as the runner
    builds them: ``end`` defaults to ``max_epochs`` (``by_epoch=True``) or
    ``max_iters``; epoch-based ones get the epoch length."""
    init_default_scope(cfg.get('default_scope'))
    base = cfg.optim_wrapper.optimizer.lr
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    max_iters = length if key == 'max_iters' else length * EPOCH_LENGTH
    schedulers = []
    for scheduler in cfg.param_scheduler:
        scheduler = scheduler.to_dict() if hasattr(scheduler, 'to_dict') \
            else dict(scheduler)
        if scheduler.get('by_epoch', True):
            assert key == 'max_epochs', 'epoch schedule in an iteration loop'
            scheduler.setdefault('end', length)
            assert scheduler.get('convert_to_iter_based'), \
                'lr changes once per epoch only'
        else:
            scheduler.setdefault('end', max_iters)
        schedulers.append(
            PARAM_SCHEDULERS.build(
                scheduler,
                default_args=dict(
                    optimizer=optimizer, epoch_length=EPOCH_LENGTH)))
    lrs = []
    for _ in range(max_iters):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


def test_every_downstream_task_is_covered():
    tasks = {osp.basename(osp.dirname(p)) for p in DOWNSTREAM}
    assert tasks == {'seg', 'det', 'irstd', 'cls'} and len(DOWNSTREAM) >= 18


@pytest.mark.parametrize('path', DOWNSTREAM, ids=osp.basename)
def test_schedule_follows_run_length(path):
    """At the config's length and at a short one: the first iteration starts
    the warm-up low, the warm-up ends (peak lr) at the same share of the run,
    within its first 15 %, and the lr is back near its floor at the last
    iteration.

    A schedule with written-in ends fails here: a short run would
    still be warming up at its last iteration.
    """
    cfg = Config.fromfile(path)
    base = cfg.optim_wrapper.optimizer.lr
    shares = []
    for key, length in run_lengths(cfg):
        lrs = lrs_of(cfg, key, length)
        total = len(lrs)
        peak = max(range(total), key=lrs.__getitem__)
        (schedule, *others) = cfg.param_scheduler
        if schedule.type in ('WarmupPolyLR', 'WarmupCosineLR'):
            assert not others and 'end' not in schedule
            start = schedule.warmup_start_factor
            warmup = round(schedule.warmup_fraction * total)
            assert lrs[0] == pytest.approx(base * start, rel=1e-6)
            # The warm-up rises to its last step, W - 1; from there on the
            # lr never rises again.
            end = lrs[warmup - 1]
            assert end == pytest.approx(lrs[peak], rel=1e-9)
            assert all(a < b for a, b in zip(lrs[:warmup - 1], lrs[1:warmup]))
            assert all(a >= b * (1 - 1e-12)
                       for a, b in zip(lrs[warmup - 1:], lrs[warmup:]))
            if schedule.get('decay_begins', 'after_warmup') == 'after_warmup':
                assert end == pytest.approx(base, rel=1e-9)
            else:  # the decay has run from the first step
                assert base * 0.8 < end < base
            shares.append(warmup / total)
            assert 0 < warmup / total <= 0.15
        else:  # mmseg's ADE20k schedule: poly from the first iteration
            assert cfg.param_scheduler == [
                dict(
                    type='PolyLR',
                    eta_min=1e-4,
                    power=0.9,
                    begin=0,
                    by_epoch=False)
            ]
            assert lrs[0] == base and peak == 0
        eta_min = schedule.get('eta_min', 0.)
        # Poly reaches eta_min at the last iteration, cosine one step later.
        assert lrs[-1] - eta_min <= 0.01 * (base - eta_min), \
            f'{total} iterations: the lr does not decay to the end'
        assert lrs[-1] >= eta_min - 1e-12
    if shares:  # the same share of the run at both lengths
        assert shares[0] == pytest.approx(shares[1], abs=0.01)


def run_pair(schedulers: list, steps: int) -> list:
    init_default_scope('mmseg')
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
    built = [
        PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=optimizer))
        for s in schedulers
    ]
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for s in built:
            s.step()
    return lrs


@pytest.mark.parametrize('power', [1.0, 0.9])
def test_warmup_poly_is_the_former_pair(power):
    """At the paper's length WarmupPolyLR is LinearLR(end=W) + PolyLR( begin=W,
    end=T) (the IRSTD / seg schedules before)."""
    T, W = 400, 15
    new = run_pair([
        dict(
            type='WarmupPolyLR',
            warmup_fraction=W / T,
            power=power,
            by_epoch=False,
            end=T)
    ], T)
    old = run_pair([
        dict(
            type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
            end=W),
        dict(
            type='PolyLR',
            power=power,
            eta_min=0.,
            by_epoch=False,
            begin=W,
            end=T)
    ], T)
    torch.testing.assert_close(
        torch.tensor(new), torch.tensor(old), rtol=1e-6, atol=1e-12)
    assert new[-1] == 0.


def test_warmup_cosine_at_begin_is_the_former_det_pair():
    """The detection schedule: cosine from the first iteration, multiplied by
    the overlapping linear warm-up."""
    T, W = 300, 12
    new = run_pair([
        dict(
            type='WarmupCosineLR',
            warmup_fraction=W / T,
            warmup_start_factor=1e-3,
            decay_begins='at_begin',
            by_epoch=False,
            end=T)
    ], T)
    old = run_pair([
        dict(
            type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
            end=W),
        dict(
            type='CosineAnnealingLR',
            T_max=T,
            eta_min=0.,
            by_epoch=False,
            begin=0,
            end=T)
    ], T)
    torch.testing.assert_close(
        torch.tensor(new), torch.tensor(old), rtol=1e-6, atol=1e-12)
    assert new[-1] == pytest.approx((1 + math.cos(math.pi * (T - 1) / T)) / 2)


def test_warmup_poly_refuses_what_cannot_run():
    with pytest.raises(ValueError, match='train_cfg.max_iters'):
        run_pair([dict(type='WarmupPolyLR', by_epoch=False)], 1)
    with pytest.raises(ValueError, match='decay_begins'):
        run_pair([dict(type='WarmupPolyLR', end=10, decay_begins='never')], 1)
    with pytest.raises(ValueError, match='power'):
        run_pair([dict(type='WarmupPolyLR', end=10, power=0)], 1)
