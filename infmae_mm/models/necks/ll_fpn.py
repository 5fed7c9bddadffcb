"""LL-FPN: UNIP's four-level pyramid built from a plain ViT's last layer."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule

from infmae_mm.registry import register_in_hosts


@register_in_hosts('MODELS', hosts=('mmseg', 'mmdet'))
class LastLayerFPN(BaseModule):
    """Strides 4/8/16/32 from one stride-16 map (UNIP's LL-FPN).

    The ViTDet/BEiT pyramid operators, all applied to the **same** input:
    the output of the backbone's last block, without its final norm
    (``out_type='featmap'``, ``final_norm=False``, ``out_indices=-1`` on
    mmpretrain's ``VisionTransformer``):

    * stride 4: ConvTranspose(k2, s2) -> norm -> GELU -> ConvTranspose(k2, s2)
    * stride 8: ConvTranspose(k2, s2)
    * stride 16: identity
    * stride 32: MaxPool(k2, s2)

    Every level keeps the ``in_channels`` channels (UNIP's UPerHead takes
    ``[D] * 4``). Earlier layers reach the pyramid only through the last
    one.

    Args:
        in_channels (int): Channels D of the ViT.
        in_index (int): Which backbone output is the last layer. Defaults
            to -1.
        norm_cfg (dict): Norm between the two transposed convolutions.
            Defaults to ``dict(type='SyncBN', requires_grad=True)`` (the
            runner turns it into BN when not distributed).
        act_cfg (dict): Activation there. Defaults to GELU.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 in_index: int = -1,
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, int):
            raise TypeError(
                f'LastLayerFPN takes one map: in_channels must be an int (the '
                f'ViT width), got {in_channels!r}; set model.neck.in_channels.'
            )
        d = in_channels
        self.in_channels = in_channels
        self.in_index = in_index
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(d, d, kernel_size=2, stride=2),
            build_norm_layer(norm_cfg, d)[1], build_activation_layer(act_cfg),
            nn.ConvTranspose2d(d, d, kernel_size=2, stride=2))
        self.fpn2 = nn.ConvTranspose2d(d, d, kernel_size=2, stride=2)
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self,
                inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Build the pyramid.

        Args:
            inputs (Sequence[torch.Tensor]): Backbone outputs; the one at
                ``in_index`` is (B, D, H/16, W/16).

        Returns:
            tuple[torch.Tensor]: (B, D, H/4, W/4), (B, D, H/8, W/8),
            (B, D, H/16, W/16), (B, D, H/32, W/32).
        """
        x = inputs[self.in_index]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'LastLayerFPN expects a (B, {self.in_channels}, h, w) map; '
                f'got {tuple(x.shape)}. Use the backbone with '
                f"out_type='featmap' and set model.neck.in_channels.")
        return tuple(
            op(x) for op in (self.fpn1, self.fpn2, self.fpn3, self.fpn4))
