"""InfMAEPyramidNeck: F1-F3 of the encoder plus a stride-32 F4."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule

from infmae_mm.registry import register_in_hosts
from ..width_check import check_widths


@register_in_hosts('MODELS', hosts=('mmseg', 'mmdet'))
class InfMAEPyramidNeck(BaseModule):
    """Turn the encoder's F1 (stride 4), F2 (8), F3 (16) into a 4-level
    pyramid.

    F4 (stride 32) is a 3x3 stride-2 convolution of F3 followed by a norm and
    GELU (paper section 4.3). Padding 1 makes F4 exactly half of F3 (MCMAE
    pads 0, which gives 15x15 for a 32x32 F3 and misaligns the pyramid).
    With ``out_channels`` every level is then projected to a common width by
    a 1x1 conv + norm, e.g. for heads that want equal widths.

    Args:
        in_channels (Sequence[int], optional): Channels of F1, F2, F3.
            Defaults to the widths of ``arch``, or of InfMAE-B
            (256, 384, 768) without ``arch``. A backbone that gives other
            widths stops the first forward with an error naming
            ``model.neck.in_channels``.
        arch (str, optional): An ``InfMAEViT`` arch (``'nano'`` ...
            ``'large'``) to take ``in_channels`` from.
        out_channels (int, optional): Common output width; None keeps the
            encoder widths, with F4 as wide as F3. Defaults to None.
        norm_cfg (dict): Norm after the F4 conv and the projections.
            Defaults to SyncBN (converted to BN by the runner when not
            distributed).
        config_key (str): Where this neck sits in the config, named by its
            errors: ``'model.neck'`` (default), or ``'model.neck.0'`` when it
            is the first of a list of necks (mmdet's
            ``neck=[InfMAEPyramidNeck, FPN]``; ``--cfg-options`` reaches it
            as ``model.neck.0.in_channels``).
        init_cfg (dict | list[dict], optional): Initialisation config.

    Example:
        >>> import torch
        >>> neck = InfMAEPyramidNeck((32, 48, 64), norm_cfg=dict(type='BN'))
        >>> feats = (torch.rand(1, 32, 64, 64), torch.rand(1, 48, 32, 32),
        ...          torch.rand(1, 64, 16, 16))
        >>> [tuple(f.shape[1:]) for f in neck(feats)]
        [(32, 64, 64), (48, 32, 32), (64, 16, 16), (64, 8, 8)]
    """

    def __init__(self,
                 in_channels: Optional[Sequence[int]] = None,
                 out_channels: Optional[int] = None,
                 norm_cfg: dict = dict(type='SyncBN', requires_grad=True),
                 arch: Optional[str] = None,
                 config_key: str = 'model.neck',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.config_key = config_key
        self.arch = arch
        if arch is not None:
            from ..backbones.infmae_arch import parse_arch
            from ..backbones.infmae_vit import InfMAEViT
            arch_dims = tuple(
                parse_arch(arch, InfMAEViT.arch_zoo)['embed_dims'])
            if in_channels is not None and tuple(in_channels) != arch_dims:
                raise ValueError(
                    f'InfMAEPyramidNeck got {config_key}.arch={arch!r} '
                    f'(widths {arch_dims}) and {config_key}.in_channels='
                    f'{tuple(in_channels)}; set only one of them.')
            in_channels = arch_dims
        in_channels = (256, 384, 768) if in_channels is None else in_channels
        if len(in_channels) != 3:
            raise ValueError(f'InfMAEPyramidNeck takes F1-F3 (3 levels), got '
                             f'{config_key}.in_channels='
                             f'{tuple(in_channels)}.')
        self.in_channels = tuple(in_channels)
        c3 = in_channels[2]
        self.downsample = nn.Sequential(
            nn.Conv2d(c3, c3, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, c3)[1], nn.GELU())
        self.out_channels = out_channels
        self.projections = None
        if out_channels is not None:
            self.projections = nn.ModuleList([
                ConvModule(
                    c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
                for c in (*in_channels, c3)
            ])

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Build the pyramid.

        Args:
            inputs (Sequence[torch.Tensor]): F1 (B, C1, H/4, W/4),
                F2 (B, C2, H/8, W/8), F3 (B, C3, H/16, W/16).

        Returns:
            tuple[torch.Tensor]: F1-F4; F4 is (B, C3, ceil(H/32), ceil(W/32)).
            With ``out_channels`` all levels have that many channels.
        """
        if len(inputs) != 3:
            raise ValueError(
                f'InfMAEPyramidNeck expects F1, F2, F3 from the backbone '
                f'(model.backbone.out_indices=(0, 1, 2)), got {len(inputs)} '
                'maps.')
        check_widths(
            'InfMAEPyramidNeck',
            f'{self.config_key}.in_channels',
            self.in_channels, [f.shape[1] for f in inputs],
            'F1-F3 inputs',
            arch_key=None if self.arch is None else f'{self.config_key}.arch',
            note='' if self.config_key != 'model.neck' else
            ('When model.neck is a list of necks (mmdet: [InfMAEPyramidNeck, '
             'FPN]) the key is model.neck.0.* (set '
             "config_key='model.neck.0' on this neck to have it named)."))
        outs: List[torch.Tensor] = [*inputs, self.downsample(inputs[2])]
        if self.projections is not None:
            outs = [proj(f) for proj, f in zip(self.projections, outs)]
        return tuple(outs)
