"""``torch.compile`` (issue 23 item 5): ``InfMAE.loss`` at the nano arch in one
graph, checked with ``torch._dynamo.explain``; the parts that used to break it
(the visible path's autograd Function, the masks' collation, the in-model
stride selection, the CPU kernels) each in one graph; mmengine's ``compile``
option with the pre-training recipe."""
import os.path as osp
from typing import Any, Callable, List, Tuple

import numpy as np
import pytest
import torch
import torch._dynamo
from mmengine.config import Config
from mmengine.registry import init_default_scope

from infmae_mm.models.backbones.visible_conv_stages import halo_depthwise_conv
from infmae_mm.models.masking import IAMMasking
from infmae_mm.models.masking.iam import IAMMask, collate_masks
from infmae_mm.models.ops import depthwise_weight_grad
from infmae_mm.testing import (pipeline_batch, tiny_arch_options,
                               write_pretrain_folder)
from tests.host_tools import REPO

#: Pipeline masks (the Inf30 recipe) and in-model masks (official IAM).
RECIPE = osp.join(REPO, 'configs', 'pretrain',
                  'infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py')
OFFICIAL = osp.join(
    REPO, 'configs', 'pretrain',
    'infmae_vit-base-p16-officialiam_4xb64-amp-coslr-400e_inf30.py')
SIZE = 64


def graph_breaks(fn: Callable, *args: Any) -> Tuple[int, List[str]]:
    """``torch._dynamo.explain``'s graph-break count and reasons of
    ``fn(*args)``, from a fresh compilation cache."""
    torch._dynamo.reset()
    explained = torch._dynamo.explain(fn)(*args)
    return explained.graph_break_count, [
        r.reason for r in explained.break_reasons
    ]


def nano_step(config: str) -> Tuple[torch.nn.Module, torch.Tensor, list]:
    """The config's model at the nano arch and a batch of 2 through its
    training pipeline (after loading, 64x64 crops) and data preprocessor."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(tiny_arch_options(cfg))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    inputs, samples = pipeline_batch(model, cfg, SIZE, 2)
    return model, inputs, samples


@pytest.mark.parametrize(
    'config', [RECIPE, OFFICIAL], ids=['pipeline-masks', 'in-model-masks'])
def test_loss_compiles_without_graph_breaks(config: str) -> None:
    model, inputs, samples = nano_step(config)
    # The first batch also runs the backbone's once-per-model input-statistics
    # check (eager Python on tensor values): the steps after it are compiled.
    model.loss(inputs, samples)
    count, reasons = graph_breaks(lambda x, s: model.loss(x, s)['loss'],
                                  inputs, samples)
    assert count == 0, reasons


def test_visible_depthwise_conv_compiles_into_the_graph() -> None:
    """The visible path's autograd Function is traced (no graph break) and its
    compiled forward and backward equal the eager ones."""
    torch.manual_seed(0)
    grid, side, C = (4, 6), 4, 6
    ids_keep = torch.rand(2, 24).argsort(1)[:, :6]
    blocks = torch.randn(2, 6, side * side, C, requires_grad=True)
    weight = torch.randn(C, 1, 5, 5, requires_grad=True)
    bias = torch.randn(C, requires_grad=True)

    def fn(blocks: torch.Tensor, ids_keep: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor) -> torch.Tensor:
        return halo_depthwise_conv(blocks, ids_keep, grid, side, weight,
                                   bias).square().sum()

    args = (blocks, ids_keep, weight, bias)
    assert graph_breaks(fn, *args) == (0, [])
    torch._dynamo.reset()
    results = []
    for f in (fn, torch.compile(fn, backend='aot_eager')):
        out = f(*args)
        results.append((out, ) +
                       torch.autograd.grad(out, (blocks, weight, bias)))
    for compiled, eager in zip(results[1], results[0]):
        torch.testing.assert_close(compiled, eager)


def test_device_kernels_give_way_to_the_reference_when_compiled() -> None:
    """The CPU tap loop of the depthwise weight gradient (``out=`` products in
    a Python loop) is not traced: a compiled graph gets the reference."""
    x, g = torch.randn(3, 4, 6, 6), torch.randn(3, 4, 2, 2)
    assert graph_breaks(lambda x, g: depthwise_weight_grad(x, g, 5), x,
                        g) == (0, [])


def test_masks_compile() -> None:
    """The pipeline's masks (numpy, per image) collate and the in-model stride
    selection runs without a data-dependent shape."""
    ids = np.random.default_rng(0).permutation(16)
    per_image = [
        IAMMask(ids[:4], np.argsort(ids), np.ones((4, 4), np.float32))
        for _ in range(2)
    ]
    assert graph_breaks(collate_masks, per_image) == (0, [])
    masking = IAMMasking(scorer='linear', scorer_dims=8)
    images = torch.randn(2, 3, SIZE, SIZE)
    assert graph_breaks(masking, images) == (0, [])


@pytest.mark.slow
@pytest.mark.timeout(1200)  # inductor's compilation
def test_pretraining_recipe_trains_with_compile(tmp_path) -> None:
    """Mmengine's ``compile=True`` (``torch.compile`` of ``train_step``,
    inductor) with the Inf30 recipe and its pipeline (224 crops) at the nano
    arch, fp32 on the CPU: three steps with finite losses (about 5 minutes of
    compilation on 2 busy cores).

    At another input size than the backbone's ``img_size`` the position
    tables are rebuilt in the step, and torch 2.1.2's inductor fails on them
    (value-range analysis of ``10000 ** (k / d)``: "Invalid NaN
    comparison"); the recipe trains at its own size.
    """
    from mmengine.runner import Runner
    train = str(tmp_path / 'images')
    write_pretrain_folder(train, num_images=6, size=(240, 240), seed=0)
    cfg = Config.fromfile(RECIPE)
    cfg.merge_from_dict(tiny_arch_options(cfg))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': train,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'work_dir': str(tmp_path / 'work'),
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 100,
        'resume': False,
    })
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    cfg.optim_wrapper.pop('loss_scale')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3)
    cfg.param_scheduler = []
    cfg.compile = True
    torch._dynamo.reset()
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 3 and np.isfinite(losses).all()


@pytest.mark.slow
def test_position_table_for_another_grid_compiles_with_inductor() -> None:
    """A table for a grid other than the stored one is computed inside the
    compiled graph (pre-training at another size than ``img_size``); with
    float64 and ``T ** (k / (C / 4))`` inductor's CPU code generation of torch
    2.1 failed on it.

    It compiles and equals the eager (float64) table within float32 rounding.
    """
    from infmae_mm.models.layers import sincos_pos_embed_2d
    torch._dynamo.reset()
    compiled = torch.compile(lambda: sincos_pos_embed_2d(768, (4, 6)))
    torch.testing.assert_close(
        compiled(), sincos_pos_embed_2d(768, (4, 6)), atol=2e-6, rtol=0)
