"""Refuse a checkpoint of another model however it is loaded.

mmpretrain's ``get_model(NAME, pretrained=FILE)`` and ``FeatureExtractor``
load with mmengine's ``load_checkpoint(strict=False)``: a file of another
model only logs its missing keys and the model keeps its random weights, so
features of a random encoder are returned as if they were the checkpoint's.
:class:`ForeignCheckpointCheckMixin` stops such a load at the model itself,
whatever the caller: when the incoming state dict holds fewer than half of
the encoder's (``backbone.``) tensors with this model's shapes (a checkpoint
of another arch has the keys, at other widths) it raises
:class:`~infmae_mm.utils.checkpoint.CheckpointMismatchError` naming what the
file holds. Partial files that carry the encoder (an encoder-only
checkpoint, a run with another decoder) load as before.
"""
from typing import Any, Dict

import torch

from infmae_mm.utils.checkpoint import CheckpointMismatchError

#: Fewer of the encoder's tensors than this share means another model.
MIN_ENCODER_SHARE = 0.5


def _fits(value: Any, own: torch.Tensor) -> bool:
    """Whether a checkpoint tensor loads into ``own``: the same shape, or a 1x1
    conv weight where the model holds a linear one (``Pointwise``)."""
    if not isinstance(value, torch.Tensor):
        return False
    return value.shape == own.shape or (value.dim() == 4 and tuple(value.shape)
                                        == tuple(own.shape) + (1, 1))


def _width(state_dict: Dict[str, Any], key: str) -> str:
    value = state_dict.get(key)
    return str(value.shape[-1]) if isinstance(value, torch.Tensor) else '?'


class ForeignCheckpointCheckMixin:
    """Mixin for the pre-training algorithms (before ``nn.Module`` in the
    bases)."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys,
                              error_msgs) -> None:
        own = {
            k: v
            for k, v in self.state_dict(keep_vars=True).items()
            if k.startswith('backbone.')
        }
        if own:
            found = sum(
                _fits(state_dict.get(prefix + k), v) for k, v in own.items())
            if found < MIN_ENCODER_SHARE * len(own):
                held = sorted(state_dict)
                width = ''
                norm = 'backbone.norm.weight'
                if norm in own:
                    width = (f' Its encoder width ({norm}) is '
                             f'{_width(state_dict, prefix + norm)}, this '
                             f"model's {own[norm].shape[-1]}.")
                raise CheckpointMismatchError(
                    f'The checkpoint loaded into {type(self).__name__} holds '
                    f'{found} of the {len(own)} encoder (backbone.) tensors '
                    f'of this model with their shapes: it is a checkpoint of '
                    f'another model or another arch. It holds {len(held)} '
                    f'tensors (first: {", ".join(held[:4])}).{width} Give a '
                    f'checkpoint of this config (pretrained= of get_model / '
                    f'FeatureExtractor, load_from, --checkpoint), or set '
                    f'model.backbone.arch to the arch it was trained with.')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
