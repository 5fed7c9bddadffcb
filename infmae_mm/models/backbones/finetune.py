"""The fine-tuning interface of ``InfMAEViT``: frozen stages and the layer ids
and no-decay names that mmpretrain's optimizer constructors ask for."""
import re
from typing import Tuple

import torch.nn as nn


class FineTuneMixin:
    """Frozen stages and layer-wise decay ids for ``InfMAEViT``.

    The class it is mixed into has ``frozen_stages`` (-1 to 3), ``depths``
    (the three stage depths), ``pos_embed`` and the modules :attr:`STAGES`
    names (None where absent).
    """

    #: Modules of each stage; ``frozen_stages = k`` freezes the first k.
    STAGES = (('patch_embed1', 'blocks1'), ('patch_embed2', 'blocks2'),
              ('patch_embed3', 'token_proj', 'blocks3', 'norm',
               'rel_pos_biases'))

    def _freeze_stages(self) -> None:
        """Put the frozen stages in eval mode without gradients (the whole
        encoder, position table included, at ``frozen_stages = 3``)."""
        for stage in self.STAGES[:max(self.frozen_stages, 0)]:
            for name in stage:
                module = getattr(self, name)
                if module is None:
                    continue
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False
        if self.frozen_stages >= 3:
            self.pos_embed.requires_grad = False

    def train(self, mode: bool = True) -> nn.Module:
        """Set the training mode; frozen stages stay in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def get_layer_depth(self,
                        param_name: str,
                        prefix: str = 'backbone.') -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise learning-rate decay.

        The stem and both conv stages share the deepest decay (id 0), stage-3
        block i gets i + 1 and everything after the blocks (the final norm,
        and anything outside the backbone) the full rate.

        Args:
            param_name (str): Full parameter name.
            prefix (str): Prefix of the backbone's parameters.

        Returns:
            tuple[int, int]: (layer id, number of layers); the lr scale is
            ``decay ** (num_layers - 1 - layer_id)``.
        """
        num_layers = self.depths[2] + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        stem = ('patch_embed', 'blocks1', 'blocks2', 'token_proj', 'pos_embed')
        if name.startswith(stem):
            return 0, num_layers
        match = re.match(r'(blocks3|rel_pos_biases)\.(\d+)\.', name)
        if match:
            return int(match.group(2)) + 1, num_layers
        return num_layers - 1, num_layers

    def no_weight_decay(self) -> Tuple[str, ...]:
        """Parameter name parts that get no weight decay (position tables)."""
        return ('pos_embed', 'relative_position_bias_table')
