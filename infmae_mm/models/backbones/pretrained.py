"""Loading pre-trained checkpoints into an InfMAEViT, adapted to its shape."""
import math
import os
import re
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from mmengine.logging import MMLogger

from infmae_mm.utils.checkpoint import (extract_state_dict,
                                        safe_load_checkpoint,
                                        upgrade_state_dict)
from infmae_mm.utils.official import convert_official_state_dict
from ..layers import resize_pos_embed

#: Keys only the official pre-training checkpoint has.
_OFFICIAL_MARKERS = ('patch_embed4.weight', 'stage1_output_decode.weight')


def load_encoder_state_dict(checkpoint: str,
                            prefix: str = 'backbone.'
                            ) -> Dict[str, torch.Tensor]:
    """Read an encoder state dict from any supported checkpoint.

    Supported: infmae_mm pre-training checkpoints (keys under ``prefix``),
    checkpoints converted from the official release, and the official file
    itself (converted on the fly). Loading never unpickles arbitrary objects.

    Args:
        checkpoint (str): Path of the checkpoint.
        prefix (str): Prefix of the encoder keys. Defaults to 'backbone.'.

    Returns:
        dict: Encoder tensors with the prefix removed.

    Raises:
        KeyError: If the file holds no key under ``prefix``.
    """
    state_dict = extract_state_dict(safe_load_checkpoint(checkpoint))
    if any(
            k.replace('module.', '', 1) in _OFFICIAL_MARKERS
            for k in state_dict):
        state_dict = convert_official_state_dict(state_dict)
    if not prefix:
        return dict(state_dict)
    encoder = {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }
    if not encoder:
        raise KeyError(
            f'{checkpoint} holds no keys under the prefix {prefix!r} (its '
            f'keys look like {sorted(state_dict)[:5]}). Set '
            f"init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...) "
            f'to the prefix of the encoder weights, or prefix=\'\' for a '
            f'bare encoder state dict.')
    return encoder


def adapt_channels(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Adapt a (C_out, C_in, k, k) stem weight to ``in_channels`` inputs.

    3 -> 1 sums over the input channels: for a gray image replicated to three
    channels the convolution output is then exactly unchanged. 1 -> 3 divides
    by three and replicates, the inverse. Other pairs cannot be adapted.
    """
    src = weight.shape[1]
    if src == in_channels:
        return weight
    if in_channels == 1:
        return weight.sum(1, keepdim=True)
    if src == 1:
        return weight.repeat(1, in_channels, 1, 1) / in_channels
    raise ValueError(f'Cannot adapt a {src}-channel stem to {in_channels} '
                     f'channels.')


def adapt_to_model(state_dict: Dict[str, torch.Tensor],
                   model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Resize position tables and adapt the stem to ``model``'s shapes."""
    own = model.state_dict()
    adapted = dict(state_dict)
    pos = adapted.get('pos_embed')
    if pos is not None and pos.shape != own['pos_embed'].shape:
        adapted['pos_embed'] = resize_pos_embed(
            pos, _grid_of(pos.shape[1], model.grid_size), model.grid_size)
    stem = 'patch_embed1.projection.weight'
    if stem in adapted:
        adapted[stem] = adapt_channels(adapted[stem], model.in_channels)
    return adapted


def _grid_of(num_tokens: int, like: Tuple[int, int]) -> Tuple[int, int]:
    side = math.isqrt(num_tokens)
    if side * side == num_tokens:
        return side, side
    if like[0] * like[1] == num_tokens:
        return like
    raise ValueError(f'Cannot infer the token grid of a {num_tokens}-token '
                     f'position table.')


def summarize_keys(keys: Iterable[str]) -> List[str]:
    """Fold numbered keys: ``blocks3.0.gamma_1`` .. ``blocks3.10.gamma_1``
    become ``blocks3.{0..10}.gamma_1``, so load reports stay readable."""
    groups: Dict[str, List[int]] = {}
    for key in keys:
        match = re.search(r'\.(\d+)\.', key)
        if match:
            pattern = key[:match.start()] + '.{}.' + key[match.end():]
            groups.setdefault(pattern, []).append(int(match.group(1)))
        else:
            groups.setdefault(key, [])
    lines = []
    for pattern, ids in sorted(groups.items()):
        if not ids:
            lines.append(pattern)
            continue
        ids = sorted(set(ids))
        span = str(ids[0]) if len(ids) == 1 else \
            f'{{{ids[0]}..{ids[-1]}}}' if ids == list(
                range(ids[0], ids[-1] + 1)) else '{' + ','.join(map(
                    str, ids)) + '}'
        lines.append(pattern.replace('{}', span))
    return lines


def load_pretrained(model: torch.nn.Module,
                    checkpoint: str,
                    prefix: str = 'backbone.') -> None:
    """Load encoder weights into an ``InfMAEViT``, adapted to its shapes.

    Accepts infmae_mm pre-training checkpoints, checkpoints converted from
    the official release and the official file itself
    (:func:`load_encoder_state_dict`). The position table is resized
    bicubically to the model's ``img_size``; a 3-channel stem is summed over
    its input channels for a 1-channel model (exact for gray input,
    :func:`adapt_to_model`). Missing and unexpected keys are logged, folded
    by block index (:func:`summarize_keys`).

    Args:
        model (nn.Module): The ``InfMAEViT`` to load into.
        checkpoint (str): Path of the checkpoint.
        prefix (str): Prefix of the encoder keys. Defaults to 'backbone.'.

    Raises:
        FileNotFoundError: If ``checkpoint`` does not exist.
        ValueError: If tensors that exist in both have other shapes.
    """
    logger = MMLogger.get_current_instance()
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(
            f'Pre-trained checkpoint {checkpoint} not found. Pre-train '
            f'one (configs/pretrain), convert the official weights '
            f'(tools/model_converters/infmae_official_to_mm.py), point '
            f'model.backbone.init_cfg.checkpoint at it, or set '
            f'model.backbone.init_cfg=None to train from scratch.')
    state_dict = adapt_to_model(
        upgrade_state_dict(load_encoder_state_dict(checkpoint, prefix), model),
        model)
    own = model.state_dict()
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model '
        f'{tuple(own[k].shape)}' for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    if mismatched:
        raise ValueError(
            f'{checkpoint} does not fit this InfMAEViT (arch '
            f'{model.arch_settings}), {len(mismatched)} tensors differ:\n  ' +
            '\n  '.join(mismatched[:10]) +
            ('\n  ...' if len(mismatched) > 10 else '') +
            '\nIs the arch the one the checkpoint was trained with?')
    result = model.load_state_dict(state_dict, strict=False)
    # Relative-position tables and layer scales are new in fine-tuning.
    logger.info(f'InfMAEViT: loaded {len(state_dict)} tensors from '
                f'{checkpoint} (prefix {prefix!r}).')
    if result.missing_keys:
        logger.warning('InfMAEViT: not in the checkpoint, kept at their '
                       'initial values: ' +
                       ', '.join(summarize_keys(result.missing_keys)))
    if result.unexpected_keys:
        logger.warning('InfMAEViT: in the checkpoint but not used: ' +
                       ', '.join(summarize_keys(result.unexpected_keys)))


def warn_ignored_pretrained(pretrained: Optional[str]) -> None:
    """Warn that a host's ``pretrained`` argument does not load anything.

    mmseg's ``EncoderDecoder`` copies ``model.pretrained`` into the backbone
    config; InfMAE weights load through ``init_cfg`` instead
    (:func:`load_pretrained`).

    Args:
        pretrained (str, optional): What the host passed; None is silent.
    """
    if pretrained is not None:
        MMLogger.get_current_instance().warning(
            f'InfMAEViT ignores pretrained={pretrained!r}: it is meant '
            f'for the backbone this config replaced (mmseg copies '
            f'model.pretrained into the backbone). Load InfMAE weights '
            f"with model.backbone.init_cfg=dict(type='Pretrained', "
            f'checkpoint=...) and set model.pretrained=None to silence '
            f'this warning.')
