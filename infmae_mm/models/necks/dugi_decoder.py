"""DuGI-MAE's pre-training decoder: InfMAE's decoder behind a DDG bridge."""
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS

from infmae_mm.registry import register_in_hosts
from .pretrain_decoder import InfMAEPretrainDecoder


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class DuGIPretrainDecoder(InfMAEPretrainDecoder):
    """``InfMAEPretrainDecoder`` fed by a :class:`DualDomainGuidance` bridge.

    The bridge reads the normalised images that ``InfMAE`` hands every
    pre-training decoder, filters them in the frequency domain and fuses the
    result with the visible latents; its tokens then take the decoder's usual
    path (``decoder_embed``, mask tokens, un-shuffle, position table, blocks,
    prediction). Everything else is InfMAE's, so a DuGI-MAE model is
    ``type='InfMAE'`` with this neck (plus its masking).

    Args:
        guidance (dict): ``DualDomainGuidance`` config; ``embed_dims``,
            ``in_channels`` and ``patch_size`` default to the decoder's.
        **kwargs: ``InfMAEPretrainDecoder`` arguments.

    Example:
        >>> import torch
        >>> decoder = DuGIPretrainDecoder(
        ...     guidance=dict(afdm_input='visible', fusion=dict(
        ...         type='DDGGuidedAttention', num_heads=2)),
        ...     embed_dim=64, decoder_embed_dim=32, decoder_num_heads=2)
        >>> ids_restore = torch.stack([torch.randperm(196) for _ in range(2)])
        >>> decoder(torch.rand(2, 49, 64), ids_restore,
        ...         images=torch.rand(2, 3, 224, 224)).shape
        torch.Size([2, 196, 768])
    """

    def __init__(self, guidance: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        guidance = dict(guidance)
        guidance.setdefault('type', 'DualDomainGuidance')
        guidance.setdefault('embed_dims', self.decoder_embed.in_features)
        guidance.setdefault(
            'in_channels',
            self.decoder_pred.out_features // self.patch_size**2)
        guidance.setdefault('patch_size', self.patch_size)
        # Errors of the bridge name the key where this config holds it.
        guidance.setdefault('config_key', 'model.neck.guidance')
        self.guidance = MODELS.build(guidance)

    def forward(self,
                latent: torch.Tensor,
                ids_restore: torch.Tensor,
                grid_size: Optional[Tuple[int, int]] = None,
                images: Optional[torch.Tensor] = None,
                query_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predict every patch (or those of ``query_ids``) with frequency
        guidance.

        Args:
            latent (torch.Tensor): (B, N_vis, C3) encoded visible tokens.
            ids_restore (torch.Tensor): (B, N) un-shuffle ids.
            grid_size (tuple[int, int], optional): Token grid (h, w).
            images (torch.Tensor): (B, C, H, W) normalised inputs; required.
            query_ids (torch.Tensor, optional): (B, N_q) raster ids of the
                patches to predict; see ``InfMAEPretrainDecoder``.

        Returns:
            torch.Tensor: (B, N, patch_size**2 * in_channels) predictions,
            or (B, N_q, ...) at ``query_ids``.
        """
        if images is None:
            raise ValueError(
                'DuGIPretrainDecoder needs the normalised images for its '
                'frequency path: call neck(latent, ids_restore, '
                'images=inputs) (InfMAE does).')
        tokens, placement = self.guidance(latent, images, ids_restore)
        return super().forward(
            tokens, placement, grid_size, images=images, query_ids=query_ids)
