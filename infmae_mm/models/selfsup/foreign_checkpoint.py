"""Refuse a checkpoint of another model however it is loaded.

mmpretrain's ``get_model(NAME, pretrained=FILE)`` and ``FeatureExtractor``
load with mmengine's ``load_checkpoint(strict=False)``: a file of another
model only logs its missing keys and the model keeps its random weights, so
features of a random encoder are returned as if they were the checkpoint's.
:class:`ForeignCheckpointCheckMixin` stops such a load at the model itself,
whatever the caller: when the incoming state dict holds fewer than half of
the encoder's (``backbone.``) tensors it raises
:class:`~infmae_mm.utils.checkpoint.CheckpointMismatchError` naming what the
file holds. Partial files that carry the encoder (an encoder-only
checkpoint, a run with another decoder) load as before.
"""
from typing import List

from infmae_mm.utils.checkpoint import CheckpointMismatchError

#: Fewer of the encoder's tensors than this share means another model.
MIN_ENCODER_SHARE = 0.5


class ForeignCheckpointCheckMixin:
    """Mixin for the pre-training algorithms (before ``nn.Module`` in the
    bases)."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys,
                              error_msgs) -> None:
        own: List[str] = [
            k for k in self.state_dict(keep_vars=True)
            if k.startswith('backbone.')
        ]
        if own:
            found = sum(prefix + k in state_dict for k in own)
            if found < MIN_ENCODER_SHARE * len(own):
                held = sorted(state_dict)
                raise CheckpointMismatchError(
                    f'The checkpoint loaded into {type(self).__name__} holds '
                    f'{found} of the {len(own)} encoder (backbone.) tensors '
                    f'of this model: it is a checkpoint of another model or '
                    f'another arch. It holds {len(held)} tensors (first: '
                    f'{", ".join(held[:4])}). Give a checkpoint of this '
                    f'config (pretrained= of get_model / FeatureExtractor, '
                    f'load_from, --checkpoint), or set model.backbone.arch '
                    f'to the arch it was trained with.')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
