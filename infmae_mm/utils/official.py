"""Key mapping between the official InfMAE checkpoint and infmae_mm."""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

#: (official regex, infmae_mm replacement), applied in order, first match.
OFFICIAL_TO_MM: List[Tuple[str, str]] = [
    (r'^patch_embed\.proj\.(weight|bias)$', r'mask_generator.\1'),
    (r'^patch_embed([123])\.proj\.', r'backbone.patch_embed\1.projection.'),
    (r'^patch_embed([123])\.norm\.', r'backbone.patch_embed\1.norm.'),
    (r'^patch_embed4\.', r'backbone.token_proj.'),
    (r'^stage1_output_decode\.', r'stage_fusion.projections.0.'),
    (r'^stage2_output_decode\.', r'stage_fusion.projections.1.'),
    (r'^blocks([12])\.(\d+)\.attn\.', r'backbone.blocks\1.\2.dwconv.'),
    (r'^blocks([123])\.(\d+)\.mlp\.', r'backbone.blocks\1.\2.ffn.'),
    (r'^(blocks[123]|norm|pos_embed)\b', r'backbone.\1'),
    (r'^decoder_blocks\.(\d+)\.mlp\.', r'neck.decoder_blocks.\1.ffn.'),
    (r'^(mask_token|decoder_\w+)', r'neck.\1'),
]

#: infmae_mm keys of the conv stages' 1x1 convolutions, which infmae_mm
#: holds as linear maps (channels-last ``Pointwise``): the official
#: (C_out, C_in, 1, 1) weights become (C_out, C_in).
POINTWISE = r'^backbone\.blocks[12]\.\d+\.(conv[12]|ffn\.fc[12])\.weight$'


def convert_official_state_dict(
        state_dict: Dict[str,
                         torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an official InfMAE state dict to ``InfMAE`` (infmae_mm) keys.

    Args:
        state_dict (dict): The official ``ckpt['model']`` (243 tensors for
            InfMAE-B), optionally with a ``module.`` prefix.

    Returns:
        OrderedDict: The same tensors under infmae_mm names, the 1x1
        convolutions of the conv stages as linear weights (:data:`POINTWISE`).

    Raises:
        KeyError: If keys match no rule (listed in the message).
    """
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        for pattern, replacement in OFFICIAL_TO_MM:
            if re.search(pattern, key):
                key = re.sub(pattern, replacement, key, count=1)
                if re.search(POINTWISE, key) and value.dim() == 4:
                    value = value.flatten(1)
                converted[key] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(
            f'{len(unknown)} keys of the checkpoint are not official InfMAE '
            f'pre-training keys: {unknown[:20]}. Is it an official InfMAE '
            f'checkpoint (ckpt["model"] of models_infmae_skip4)?')
    return converted
