"""tools/analysis_tools/transfer_benchmark.py on generated IRSTD data."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from infmae_mm.testing import write_irstd_like

TOOL = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', 'analysis_tools',
    'transfer_benchmark.py')


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('transfer_benchmark', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(iou: float) -> dict:
    return dict(IoU=iou, nIoU=iou, Pd=50., Fa=10., F1=iou, AUC=90.)


def test_lr_is_chosen_on_val_never_on_test(bench):
    # lr 0.1 wins on val for the methods on average, lr 0.2 on test: the
    # choice must follow val.
    cells = {}
    for m, val, test in (('a', (60, 40), (10, 90)), ('b', (50, 55), (10, 90))):
        for lr, v, t in zip((0.1, 0.2), val, test):
            cells[bench.cell_key('probe', m, lr, 0)] = dict(
                val=_metrics(v), test=_metrics(t))
    assert bench.choose_lr(cells, 'probe', ['a', 'b'], [0.1, 0.2]) == 0.1
    # a missing seed-0 cell means no choice yet
    assert bench.choose_lr(cells, 'probe', ['a', 'b', 'c'], [0.1, 0.2]) is None


def test_summary_mean_and_std_over_seeds(bench):
    args = bench.parse_args(['--data-root', 'x', '--probe-lrs', '0.1'])
    cells = {
        bench.cell_key('probe', 'a', 0.1, s):
        dict(val=_metrics(v), test=_metrics(t))
        for s, v, t in ((0, 1., 10.), (1, 2., 20.), (2, 3., 60.))
    }
    summary = bench.summarise(dict(cells=cells), ['a'], [0, 1, 2], args)
    mean, std, values = summary['probe']['rows']['a']['test_IoU']
    assert values == [10., 20., 60.]
    assert mean == pytest.approx(30.)
    assert std == pytest.approx(np.std([10., 20., 60.], ddof=1))


def test_probe_head_output_and_prior(bench):
    # the package's LightTargetFusion, the head of the probe and fine-tune
    head = bench.LightTargetFusion([8, 16], channels=4, prior_prob=0.01)
    feats = [torch.zeros(2, 8, 16, 12), torch.zeros(2, 16, 8, 6)]
    out = head(feats, (64, 48))
    assert out.shape == (2, 1, 64, 48)
    # zero features: every pixel at the prior probability
    assert torch.allclose(out.sigmoid(), torch.full_like(out, 0.01), atol=1e-6)


def test_crop_origin_holds_the_target_and_the_grid(bench):
    rng = np.random.default_rng(0)
    mask = np.zeros((96, 160), np.uint8)
    mask[70, 150] = 1
    for _ in range(50):
        y, x = bench.crop_origin(rng, mask, 32, target_prob=1.0)
        assert 0 <= y <= 64 and 0 <= x <= 128
        assert mask[y:y + 32, x:x + 32].sum() == 1
        y, x = bench.crop_origin(rng, mask, 48, align=16, target_prob=1.0)
        assert y % 16 == 0 and x % 16 == 0
        assert mask[y:y + 48, x:x + 48].sum() == 1
        y, x = bench.crop_origin(rng, mask, 32, align=16, target_prob=0.0)
        assert y % 16 == 0 and x % 16 == 0 and y <= 64 and x <= 128


def test_target_loss_matches_independent_formula(bench):
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 5, 5)
    target = (torch.rand(2, 1, 5, 5) > 0.8).float()
    p = torch.sigmoid(logits).double()
    t = target.double()
    bce = -(t * p.log() + (1 - t) * (1 - p).log()).mean()
    inter = (p * t).sum()
    expected = bce + 1 - (inter + 1) / (p.sum() + t.sum() - inter + 1)
    assert float(bench.target_loss(logits, target)) == pytest.approx(
        float(expected), rel=1e-5)


def test_mismatched_mask_is_resized_and_reported(bench, tmp_path):
    import cv2
    root = str(tmp_path)
    write_irstd_like(root, num_trainval=2, num_test=1, size=(32, 48))
    cv2.imwrite(
        osp.join(root, 'masks', 'XDU1.png'), np.zeros((20, 20), np.uint8))
    args = bench.parse_args([
        '--data-root', root, '--img-dirs', 'images', '--mask-dir', 'masks',
        '--mask-suffix', '.png', '--split-dir', ''
    ])
    split = bench.load_split(args, 'trainval')
    assert split['masks'][1].shape == (32, 48)
    assert len(split['fixed']) == 1 and 'XDU1.png' in split['fixed'][0]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_end_to_end_and_resume(bench, tmp_path, monkeypatch):
    root = str(tmp_path / 'data')
    split = write_irstd_like(root, num_trainval=6, num_test=2, size=(64, 64))
    with open(osp.join(root, 'val.txt'), 'w') as f:
        f.write('\n'.join(split['trainval'][4:]) + '\n')
    with open(osp.join(root, 'train.txt'), 'w') as f:
        f.write('\n'.join(split['trainval'][:4]) + '\n')
    argv = [
        '--data-root', root, '--img-dirs', 'images', '--mask-dir', 'masks',
        '--mask-suffix', '.png', '--split-dir', '', '--train-split', 'train',
        '--val-split', 'val', '--test-split', 'test', '--work-dir',
        str(tmp_path / 'work'), '--methods', 'random', 'infmae', 'mae',
        'vit-random', 'unip', '--seeds', '0', '1', '--pretrain-epochs', '1',
        '--budget-curve', '--pretrain-crop', '32', '--pretrain-batch', '4',
        '--workers', '0', '--probe-lrs', '0.01', '0.03', '--probe-steps', '3',
        '--probe-crop', '32', '--ft-lrs', '0.001', '--ft-iters', '2',
        '--ft-batch', '2', '--ft-crop', '32'
    ]
    results = bench.main(argv)
    cells = results['cells']
    # probe: every lr x seed; fine-tune: one lr x both seeds, per method
    assert len(cells) == 4 * (2 * 2 + 2)
    for block in results['summary'].values():
        assert set(block['rows']) == {'random', 'infmae', 'mae', 'vit-random'}
        for row in block['rows'].values():
            assert row['seeds'] == 2
    # the budget curve: random init as epoch 0, the final checkpoint as 1
    budget = results['budget_curve']
    assert set(budget['test_IoU']) == {'infmae', 'mae'}
    # epoch 0 is the random init of each method's encoder: the InfMAE
    # encoder's ('random') and the ViT's ('vit-random', not pre-trained)
    assert set(budget['test_IoU']['infmae']) == {'0', '1'}
    assert set(budget['test_IoU']['mae']) == {'0', '1'}
    assert budget['test_IoU']['mae']['0'] == [
        cells[bench.cell_key('probe', 'vit-random', budget['lr'],
                             s)]['test']['IoU'] for s in (0, 1)
    ]
    assert sorted(os.listdir(tmp_path / 'work' /
                             'pretrain')) == ['infmae', 'mae']
    for points in budget['test_IoU'].values():
        assert all(len(v) == 2 for v in points.values())
    assert 'against pre-training epochs' in results['table']
    out = tmp_path / 'work' / 'transfer.json'
    assert json.loads(out.read_text())['cells'].keys() == cells.keys()
    assert (tmp_path / 'work' / 'transfer.png').exists()

    # a second run finds every cell done and trains nothing
    def fail(*args, **kwargs):
        raise AssertionError('a finished cell was recomputed')

    monkeypatch.setattr(bench, 'finetune', fail)
    monkeypatch.setattr(bench, 'train_probe', fail)
    again = bench.main(argv)
    assert again['cells'].keys() == cells.keys()
    # another protocol in the same work dir is refused
    with pytest.raises(SystemExit, match='another protocol'):
        bench.main(argv + ['--ft-iters', '3'])

    # a given checkpoint instead of pre-training, val carved from train
    monkeypatch.undo()
    ckpt = tmp_path / 'work' / 'pretrain' / 'infmae' / 'epoch_1.pth'
    given = bench.main([
        '--data-root', root, '--img-dirs', 'images', '--mask-dir', 'masks',
        '--mask-suffix', '.png', '--split-dir', '', '--train-split',
        'trainval', '--val-split', '', '--val-fraction', '0.5', '--test-split',
        'test', '--work-dir',
        str(tmp_path / 'given'), '--methods', 'random', 'infmae',
        '--checkpoint', f'infmae={ckpt}', '--evaluations', 'probe', '--seeds',
        '0', '--probe-lrs', '0.01', '--probe-steps', '2', '--probe-crop', '32'
    ])
    assert not (tmp_path / 'given' / 'pretrain').exists()
    assert given['data']['train']['images'] == 3
    assert given['data']['val']['images'] == 3
    assert set(given['summary']['probe']['rows']) == {'random', 'infmae'}
