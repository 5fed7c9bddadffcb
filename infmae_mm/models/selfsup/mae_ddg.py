"""Mmpretrain's MAE with DuGI-MAE's dual-domain guidance (paper Table 6)."""
from typing import Dict, List, Optional, Union

import torch
from mmpretrain.models.selfsup import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from infmae_mm.registry import register_in_hosts
from .foreign_checkpoint import ForeignCheckpointCheckMixin


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class MAEWithDDG(ForeignCheckpointCheckMixin, MAE):
    """MAE whose decoder input passes through a :class:`DualDomainGuidance`.

    The encoder, random masking, decoder and head are mmpretrain's MAE
    unchanged (``MAEViT``, ``MAEPretrainDecoder``, ``MAEPretrainHead``); the
    bridge replaces the visible latents (the cls token is kept in front) by
    its guided tokens and their placement, as DuGI-MAE plugs DDG into MAE
    for its Table 6.

    Args:
        backbone (dict): ``MAEViT`` config.
        neck (dict): ``MAEPretrainDecoder`` config.
        head (dict): ``MAEPretrainHead`` config.
        guidance (dict): ``DualDomainGuidance`` config; ``embed_dims`` and
            ``in_channels`` default to the backbone's.
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 guidance: dict,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        guidance = dict(guidance)
        guidance.setdefault('embed_dims', self.backbone.embed_dims)
        guidance.setdefault('in_channels',
                            self.backbone.patch_embed.projection.in_channels)
        guidance.setdefault('patch_size', self.head.patch_size)
        self.guidance = MODELS.build(guidance)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """MAE's loss with the guided decoder input.

        Args:
            inputs (torch.Tensor): (B, C, H, W) normalised images.
            data_samples (list[DataSample]): Unused by MAE.

        Returns:
            dict: ``loss``, the masked-patch reconstruction loss.
        """
        latent, mask, ids_restore = self.backbone(inputs)
        tokens, placement = self.guidance(latent[:, 1:], inputs, ids_restore)
        pred = self.neck(torch.cat([latent[:, :1], tokens], dim=1), placement)
        return dict(loss=self.head.loss(pred, inputs, mask))
