"""GPU checks (marker ``cuda``): run whenever CUDA is present, skipped
otherwise. ``tools/gpu_check.sh`` runs them with the GPU benchmark.

* The fast pre-training path (conv stages at visible patches only, custom
  autograd, SDPA) equals the dense reference formulation on the GPU, outputs,
  loss and every gradient, for InfMAE-B at 224 with the paper recipe's own
  data pipeline (IAM masks from ``IAMMaskGenerator``, so both formulations
  see the same masks):

  - fp32 (TF32 off): the decoder's prediction and the loss within 1e-5
    absolute, each parameter's gradient within 1e-5 of its norm (relative;
    for a gradient that nearly cancels, norm under 1e-3 of the whole
    gradient's, within 1e-8 of the whole gradient's norm).
  - AMP (``torch.autocast``, fp16 and bf16): both formulations are compared
    with the fp32 dense result by the relative error ``|x - ref| / |ref|``
    (prediction, loss, all gradients concatenated). Rounding to the AMP dtype
    is the error source, and the fast path regroups the same products, so
    its error must stay within the dense formulation's own AMP error:
    ``err_fast <= 2 err_dense + eps`` (factor 2 and the dtype's machine
    epsilon ``eps`` for rounding luck between two summation orders), and
    below ``eps * sqrt(K)`` with ``K = 3072`` the deepest reduction of the
    model (the encoder MLP): the expected size of a sum of ``K`` products
    whose rounding errors are independent (fp16: 0.054, bf16: 0.43).

* The paper recipe config trains a few iterations through mmpretrain's
  ``tools/train.py`` with its ``AmpOptimWrapper`` (dynamic loss scale), saves
  a checkpoint and resumes from it (torch >= 2.6 loads with
  ``weights_only=True``).
* UperNet (MSRS) and Mask R-CNN (M3FD) configs train a few iterations and
  validate, InfMAE-B backbone, on generated data at the configs' sizes.

Dry run on a machine without a GPU: ``INFMAE_TEST_DEVICE=cpu pytest -m cuda
tests/test_cuda.py`` runs the same checks on the CPU, with three CPU
substitutions (plain ``OptimWrapper`` for the AMP wrapper, which refuses
CPUs; BN for SyncBN; smaller images); the AMP comparisons need torch >= 2.4
there (torch 2.1's CPU bf16 autocast aborts the process).
"""
import copy
import math
import os
import os.path as osp
import re
import subprocess
import sys
from contextlib import nullcontext
from typing import Dict, List, Optional, Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmengine.utils import digit_version

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECIPE = osp.join(
    REPO, 'configs/pretrain/'
    'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py')
UPERNET = osp.join(
    REPO, 'configs/seg/'
    'upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py')
MASK_RCNN = osp.join(
    REPO, 'configs/det/'
    'mask-rcnn_infmae-base_fpn_1xb2-25e_m3fd-inf.py')

#: 'cuda' when present; INFMAE_TEST_DEVICE=cpu dry-runs these checks.
DEVICE: Optional[str] = os.environ.get('INFMAE_TEST_DEVICE') or (
    'cuda' if torch.cuda.is_available() else None)
DRY_RUN = DEVICE == 'cpu'

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        DEVICE is None,
        reason='needs a CUDA device (INFMAE_TEST_DEVICE=cpu dry-runs the '
        'checks on the CPU)'),
]

#: Per-test limit of the training runs (tools/gpu_check.sh gives the whole
#: test step 300 s on a GPU; a CPU dry run takes many minutes).
TRAIN_TIMEOUT = 3600 if DRY_RUN else 150

#: The deepest reduction of InfMAE-B (encoder MLP hidden width).
REDUCTION_DEPTH = 3072
EPS = {torch.float16: 2.0**-10, torch.bfloat16: 2.0**-7}


# ---------------------------------------------------------------- helpers
def generate(kind: str, out: str, num: int, size: Tuple[int, int]) -> str:
    """Write a synthetic dataset with the package's generator tool."""
    subprocess.run([
        sys.executable, 'tools/data/generate_sample_data.py', kind, out,
        '--num',
        str(num), '--size',
        str(size[0]),
        str(size[1])
    ],
                   cwd=REPO,
                   check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope='module')
def pretrain_images(tmp_path_factory) -> str:
    return generate('pretrain', str(tmp_path_factory.mktemp('ir')), 16,
                    (256, 256))


@pytest.fixture
def strict_fp32():
    """Full fp32 matmuls and convolutions (no TF32) for the 1e-5 check."""
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved


def recipe_twins(images: str, num: int = 4):
    """InfMAE-B from the paper recipe twice, fast and dense formulation with
    the same random weights, and a batch through the recipe's pipeline."""
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS, MODELS

    import infmae_mm  # noqa: F401
    cfg = Config.fromfile(RECIPE)
    torch.manual_seed(0)
    fast = MODELS.build(cfg.model)
    fast.init_weights()
    with torch.no_grad():  # non-trivial norms and biases everywhere
        for p in fast.parameters():
            p.add_(0.02 * torch.randn_like(p))
    dense_cfg = copy.deepcopy(cfg.model)
    dense_cfg.backbone.masked_conv = 'dense'
    dense = MODELS.build(dense_cfg)
    dense.load_state_dict(fast.state_dict())
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.data_root = images
    dataset = DATASETS.build(dataset_cfg)
    batch = default_collate([dataset[i] for i in range(num)])
    fast, dense = fast.to(DEVICE).train(), dense.to(DEVICE).train()
    data = fast.data_preprocessor(batch, True)
    return fast, dense, data


def step(
    model, data, dtype: Optional[torch.dtype]
) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
    """Loss, decoder prediction (B, L, p*p*C) and gradients, in fp64."""
    captured: List = []
    handle = model.neck.register_forward_hook(
        lambda module, args, out: captured.append(out))
    model.zero_grad(set_to_none=True)
    amp = torch.autocast(DEVICE, dtype=dtype) if dtype else nullcontext()
    with amp:
        loss = model.loss(data['inputs'], data['data_samples'])['loss']
    loss.backward()
    handle.remove()
    out = captured[-1]
    pred = out if isinstance(out, torch.Tensor) else next(
        t for t in out if isinstance(t, torch.Tensor))
    grads = {
        n: p.grad.detach().double()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return loss.detach().double(), pred.detach().double(), grads


def relative(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def flat(grads: Dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([grads[k].flatten() for k in sorted(grads)])


def amp_supported(dtype: torch.dtype) -> Optional[str]:
    """Why ``dtype`` autocast cannot run on DEVICE here, or None."""
    if DEVICE == 'cpu' and digit_version(
            torch.__version__) < digit_version('2.4.0'):
        return ('CPU autocast of torch < 2.4 (bf16 aborts the process with '
                'torch 2.1.2)')
    if DEVICE == 'cuda' and dtype == torch.bfloat16 and \
            not torch.cuda.is_bf16_supported():
        return 'this GPU has no bf16'
    return None


# ------------------------------------------- fast path == dense reference
def test_fast_path_equals_dense_fp32(pretrain_images, strict_fp32):
    fast, dense, data = recipe_twins(pretrain_images)
    loss_f, pred_f, grads_f = step(fast, data, None)
    loss_d, pred_d, grads_d = step(dense, data, None)
    torch.testing.assert_close(pred_f, pred_d, rtol=0, atol=1e-5)
    torch.testing.assert_close(loss_f, loss_d, rtol=0, atol=1e-5)
    assert grads_f.keys() == grads_d.keys()
    assert len(grads_f) == sum(1 for p in fast.parameters() if p.requires_grad)
    # Each gradient within 1e-5 of its norm; a gradient that nearly cancels
    # (norm under 1e-3 of the whole gradient's) within 1e-8 of the whole.
    total = flat(grads_d).norm().item()
    worst = max(((grads_f[n] - grads_d[n]).norm().item() /
                 max(grads_d[n].norm().item(), 1e-3 * total), n)
                for n in grads_f)
    assert worst[0] <= 1e-5, f'gradient of {worst[1]}: {worst[0]:.2e}'


@pytest.mark.parametrize(
    'dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])
def test_fast_path_under_amp_within_the_dense_amp_error(
        pretrain_images, strict_fp32, dtype):
    reason = amp_supported(dtype)
    if reason:
        pytest.skip(reason)
    fast, dense, data = recipe_twins(pretrain_images)
    ref_loss, ref_pred, ref_grads = step(dense, data, None)
    errors = {}
    for name, model in (('fast', fast), ('dense', dense)):
        loss, pred, grads = step(model, data, dtype)
        assert torch.isfinite(loss) and torch.isfinite(pred).all()
        assert grads.keys() == ref_grads.keys()
        errors[name] = dict(
            loss=relative(loss, ref_loss),
            pred=relative(pred, ref_pred),
            grads=relative(flat(grads), flat(ref_grads)))
    eps = EPS[dtype]
    cap = eps * math.sqrt(REDUCTION_DEPTH)
    for what, err in errors['fast'].items():
        own = errors['dense'][what]
        assert err <= 2 * own + eps, (what, errors)
        assert err <= cap, (what, errors)


# ------------------------------------------------- configs through Runner
def train_script(host: str) -> str:
    """The host's tools/train.py, installed with its package (what mim
    runs)."""
    import importlib
    package = importlib.import_module(host)
    return osp.join(osp.dirname(package.__file__), '.mim', 'tools', 'train.py')


def train(host: str,
          config: str,
          work_dir: str,
          options: List[str],
          timeout: int = TRAIN_TIMEOUT) -> str:
    """Run the host's train.py on ``config``; return its output."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    if DRY_RUN:
        env['CUDA_VISIBLE_DEVICES'] = ''
    proc = subprocess.run([
        sys.executable,
        train_script(host), config, '--work-dir', work_dir, '--cfg-options',
        *options
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def wrapped(tmp_path, base: str, text: str = '') -> str:
    """A config inheriting ``base``, with the CPU substitutions on a dry
    run."""
    if DRY_RUN:
        text += CPU_SUBSTITUTES.get(base, '')
    path = tmp_path / f'gpu_check_{osp.basename(base)}'
    path.write_text(f'_base_ = {base!r}\n{text}\n')
    return str(path)


CPU_SUBSTITUTES = {
    # AmpOptimWrapper refuses CPUs.
    RECIPE:
    "optim_wrapper = dict(_delete_=True, type='OptimWrapper', "
    'optimizer=_base_.optim_wrapper.optimizer, '
    'paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)\n',
    # SyncBN refuses CPU tensors.
    UPERNET:
    "norm_cfg = dict(type='BN', requires_grad=True)\n"
    'model = dict(neck=dict(norm_cfg=norm_cfg), '
    'decode_head=dict(norm_cfg=norm_cfg), '
    'auxiliary_head=dict(norm_cfg=norm_cfg))\n',
}

LOSS = re.compile(r'\bloss: ([-+0-9.eEnaif]+)')


def logged_losses(out: str) -> List[float]:
    losses = [float(v) for v in LOSS.findall(out)]
    assert losses, out[-3000:]
    return losses


@pytest.mark.slow
@pytest.mark.timeout(2 * TRAIN_TIMEOUT)  # two runs
def test_paper_recipe_trains_with_amp_and_resumes(pretrain_images, tmp_path):
    config = wrapped(tmp_path, RECIPE)
    work = str(tmp_path / 'work')
    common = [
        f'train_dataloader.dataset.data_root={pretrain_images}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', 'randomness.seed=0'
    ]
    out = train('mmpretrain', config, work,
                common + ['train_cfg.max_epochs=1'])
    if not DRY_RUN:
        assert "type='AmpOptimWrapper'" in out and "loss_scale='dynamic'" \
            in out
    assert 'Epoch(train) [1][4/4]' in out, out[-3000:]
    assert all(math.isfinite(v) for v in logged_losses(out))
    assert osp.exists(osp.join(work, 'epoch_1.pth'))
    # The recipe resumes automatically from the work dir's last checkpoint.
    out = train('mmpretrain', config, work,
                common + ['train_cfg.max_epochs=2'])
    assert 'resumed epoch: 1, iter: 4' in out, out[-3000:]
    assert 'Epoch(train) [2][4/4]' in out
    assert all(math.isfinite(v) for v in logged_losses(out))


@pytest.mark.slow
@pytest.mark.timeout(TRAIN_TIMEOUT)
def test_upernet_config_trains_and_validates(tmp_path):
    size = (240, 320) if DRY_RUN else (480, 640)
    msrs = generate('msrs', str(tmp_path / 'msrs'), 4, size)
    options = [
        'model.backbone.init_cfg=None',
        'train_cfg.max_iters=4',
        'train_cfg.val_interval=4',
        'default_hooks.logger.interval=1',
        # No checkpoint (GBs of writes; the recipe test covers saving).
        'default_hooks.checkpoint.interval=1000',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.save_last=False'
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={msrs}', f'{loader}.num_workers=2',
            f'{loader}.persistent_workers=False'
        ]
    if DRY_RUN:
        options += [
            'train_dataloader.dataset.pipeline.2.scale=(320,240)',
            'train_dataloader.dataset.pipeline.3.crop_size=(240,320)',
            'val_dataloader.dataset.pipeline.1.scale=(320,240)',
            'test_dataloader.dataset.pipeline.1.scale=(320,240)'
        ]
    out = train('mmseg', wrapped(tmp_path, UPERNET), str(tmp_path / 'work'),
                options)
    assert 'Iter(train) [4/4]' in out and 'mIoU' in out, out[-3000:]
    assert all(math.isfinite(v) for v in logged_losses(out))


@pytest.mark.slow
@pytest.mark.timeout(TRAIN_TIMEOUT)
def test_mask_rcnn_config_trains_and_validates(tmp_path):
    size = (192, 256) if DRY_RUN else (768, 1024)
    root = generate('m3fd', str(tmp_path / 'm3fd'), 6, size)
    subprocess.run([
        sys.executable, 'tools/dataset_converters/m3fd_to_coco.py', root, root,
        '--val-ratio', '0.34', '--split', 'random'
    ],
                   cwd=REPO,
                   check=True,
                   capture_output=True)
    ann = f'{root}/annotations/m3fd_inf_val.json'
    options = [
        'model.backbone.init_cfg=None', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1000',
        'default_hooks.checkpoint.save_last=False',
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={root}/', f'{loader}.num_workers=2',
            f'{loader}.persistent_workers=False'
        ]
    if DRY_RUN:
        options += [
            'train_dataloader.dataset.pipeline.2.scale=(256,192)',
            'val_dataloader.dataset.pipeline.1.scale=(256,192)',
            'test_dataloader.dataset.pipeline.1.scale=(256,192)'
        ]
    out = train('mmdet', wrapped(tmp_path, MASK_RCNN), str(tmp_path / 'work'),
                options)
    assert 'bbox_mAP_copypaste' in out, out[-3000:]
    assert all(math.isfinite(v) for v in logged_losses(out))
