"""Layer-wise learning-rate decay for models with an InfMAEViT backbone."""
from functools import partial
from typing import Dict, List, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from infmae_mm.registry import register_in_hosts


def plain_vit_layer_depth(num_blocks: int,
                          param_name: str,
                          prefix: str = '') -> Tuple[int, int]:
    """Depth of a parameter of a plain ViT named as mmpretrain's and mmseg's
    ``VisionTransformer`` (``patch_embed``, ``cls_token``, ``pos_embed``,
    ``layers.<i>``): 0 for the embeddings, i + 1 for block i, and ``num_blocks
    + 1`` for the rest (final norm, neck, heads).

    Returns:
        tuple[int, int]: ``(depth, num_blocks + 2)``.
    """
    num_layers = num_blocks + 2
    if not param_name.startswith(prefix):
        return num_layers - 1, num_layers
    name = param_name[len(prefix):]
    if name in ('cls_token', 'pos_embed') or name.startswith('patch_embed'):
        return 0, num_layers
    if name.startswith('layers.'):
        return int(name.split('.')[1]) + 1, num_layers
    return num_layers - 1, num_layers


@register_in_hosts('OPTIM_WRAPPER_CONSTRUCTORS')
class InfMAELayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer decay driven by the backbone's own ``get_layer_depth``.

    mmseg's and mmdet's constructors choose their rule by the backbone's class
    name (any name containing ``MAE`` gets the plain-ViT rule), which would
    put InfMAE's conv stages at the *full* learning rate. This constructor
    asks ``model.backbone.get_layer_depth(name)`` instead: for ``InfMAEViT``
    the stem and conv stages get the deepest decay, stage-3 block i depth
    i + 1, and necks and heads the full rate (mmpretrain's
    ``VisionTransformer`` has the same method; mmseg's, which lacks it, gets
    :func:`plain_vit_layer_depth`). The learning rate of a
    parameter at depth d is ``lr * layer_decay_rate ** (num_layers - 1 - d)``.

    No weight decay on 1-D parameters (norms, biases, layer scales), on
    ``*.bias`` and on the names of ``backbone.no_weight_decay()`` (position
    tables). Frozen parameters are left out.

    ``paramwise_cfg``:

    - ``layer_decay_rate`` (float): the decay; 1.0 disables it.

    Example:
        >>> optim_wrapper = dict(
        ...     constructor='InfMAELayerDecayOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        ...     paramwise_cfg=dict(layer_decay_rate=0.75))
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   **kwargs) -> None:
        backbone = getattr(module, 'backbone', None)
        layer_depth = getattr(backbone, 'get_layer_depth', None)
        if layer_depth is None and isinstance(
                getattr(backbone, 'layers', None), nn.ModuleList) and hasattr(
                    backbone, 'patch_embed'):
            # mmseg's VisionTransformer: the plain-ViT rule by name.
            layer_depth = partial(plain_vit_layer_depth, len(backbone.layers))
        if layer_depth is None:
            raise TypeError(
                f'InfMAELayerDecayOptimWrapperConstructor needs a model whose '
                f'backbone has get_layer_depth(); {type(module).__name__} '
                f'has backbone {type(backbone).__name__}.')
        decay_rate = self.paramwise_cfg.get('layer_decay_rate', 1.0)
        no_decay_names = tuple(
            getattr(backbone, 'no_weight_decay', lambda: ())())
        groups: Dict[Tuple[int, bool], dict] = {}
        for name, param in module.named_parameters(prefix=prefix.rstrip('.')):
            if not param.requires_grad:
                continue
            depth, num_layers = layer_depth(name, 'backbone.')
            scale = decay_rate**(num_layers - 1 - depth)
            no_decay = (
                param.ndim == 1 or name.endswith('.bias')
                or any(k in name for k in no_decay_names))
            group = groups.setdefault(
                (depth, no_decay),
                dict(
                    params=[],
                    param_names=[],
                    lr=self.base_lr * scale,
                    lr_scale=scale,
                    weight_decay=0. if no_decay else self.base_wd,
                    layer_depth=depth))
            group['params'].append(param)
            group['param_names'].append(name)
        params.extend(groups[key] for key in sorted(groups))
        logger = MMLogger.get_current_instance()
        rows = [f'{"depth":>5} {"lr scale":>9} {"wd":>6} {"params":>7}']
        rows += [
            f'{g["layer_depth"]:>5} {g["lr_scale"]:>9.4f} '
            f'{g["weight_decay"]:>6.3f} {len(g["params"]):>7}'
            for g in (groups[k] for k in sorted(groups))
        ]
        logger.info('Layer-wise lr decay %.3f:\n%s', decay_rate,
                    '\n'.join(rows))
