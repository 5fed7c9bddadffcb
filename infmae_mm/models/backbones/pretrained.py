"""Adapting pre-trained checkpoints to an InfMAEViT of another shape."""
import math
import re
from typing import Dict, Iterable, List, Tuple

import torch

from infmae_mm.utils.checkpoint import extract_state_dict, safe_load_checkpoint
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
