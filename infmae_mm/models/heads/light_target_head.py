"""LightTargetHead: a small-target head that costs less than a nano encoder.

:class:`LightTargetFusion` is the head itself, a plain ``nn.Module`` (the
transfer benchmark's probe and fine-tune use it on bare encoder features);
:class:`LightTargetHead` wraps it as an mmseg decode head with the losses,
threshold and full-resolution output of :class:`SmallTargetHead`.
"""
import math
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from infmae_mm.registry import host_available, register_in_hosts
from ..width_check import check_widths

__all__ = ['LightTargetFusion']


class LightTargetFusion(nn.Module):
    """Per-level 1x1 projection and BatchNorm, summed at the finest stride.

    .. code-block:: none

        feats[0] (s0)   feats[1]   ...   feats[L-1]     (B, C_i, h_i, w_i)
           | 1x1 conv (no bias) + BN  to ``channels``, one per level
           +<-bilinear--+<- ... ---+                    resized to h_0 x w_0
           | sum, GELU
           | 1x1 conv -> 1 logit (bias at the target prior)
           | bilinear -> ``size``                       (B, 1, H, W)

    Cost: about ``channels x (sum(in_channels) + 1)`` multiply-adds (and as
    many parameters) per finest-stride position, an upper bound: each
    projection runs at its own level's resolution, so a level at twice the
    stride costs a quarter of its share; the bilinear resizes add a few per
    output pixel. With the nano encoder's F1-F4 (32, 48, 64, 64 channels)
    and 32 channels: 8.7 M per 256x256 image, 1/15 of the nano encoder and
    neck (134 M), where :class:`SmallTargetHead` at its config widths costs
    5.2 times them (table and command in ``configs/irstd/README.md``).

    Why a BatchNorm per level: a randomly initialised encoder's conv
    features (F1, F2) are about 100x smaller than its layer-normed stage-3
    tokens (F3), so an unnormalised sum is the F3 term alone; without the
    norm a fine-tune from random init predicted one constant. The norm puts
    every level of every encoder, pre-trained or not, on one scale, so no
    method is favoured by the scale of its features.

    The classifier's bias starts at the target prior ``prior_prob``
    (RetinaNet's trick, as in :class:`SmallTargetHead`), its weight and the
    projections at PyTorch's default init.

    Args:
        in_channels (Sequence[int]): Channels of the input maps, finest
            first.
        channels (int): Width of the projections. Defaults to 32.
        prior_prob (float): Initial target probability of every pixel.
            Defaults to 0.01.

    Example:
        >>> import torch
        >>> fusion = LightTargetFusion((32, 48, 64))
        >>> feats = [torch.rand(2, c, 64 // s, 80 // s)
        ...          for c, s in zip((32, 48, 64), (4, 8, 16))]
        >>> tuple(fusion(feats, (64, 80)).shape)
        (2, 1, 64, 80)
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int = 32,
                 prior_prob: float = 0.01) -> None:
        super().__init__()
        if not 0 < prior_prob < 1:
            raise ValueError(f'prior_prob must be in (0, 1), got '
                             f'{prior_prob}')
        self.lateral = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, channels, 1, bias=False), nn.BatchNorm2d(
                    channels)) for c in in_channels)
        self.classifier = nn.Conv2d(channels, 1, 1)
        nn.init.constant_(self.classifier.bias, -math.log(
            (1 - prior_prob) / prior_prob))

    def forward(self, feats: Sequence[torch.Tensor],
                size: Tuple[int, int]) -> torch.Tensor:
        """Fuse the levels at the finest stride and resize to ``size``.

        Args:
            feats (Sequence[torch.Tensor]): One (B, C_i, h_i, w_i) map per
                level, finest (largest) first.
            size (tuple[int, int]): (H, W) of the output.

        Returns:
            torch.Tensor: (B, 1, H, W) logits (before the sigmoid).
        """
        top = feats[0].shape[-2:]
        x: Union[int, torch.Tensor] = 0
        for lateral, feat in zip(self.lateral, feats):
            y = lateral(feat)
            if y.shape[-2:] != top:
                y = F.interpolate(
                    y, size=top, mode='bilinear', align_corners=False)
            x = x + y
        logits = self.classifier(F.gelu(x))
        return F.interpolate(
            logits, size=size, mode='bilinear', align_corners=False)


if host_available('mmseg'):
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    from mmseg.utils import SampleList

    # Also registers SoftIoULoss, which the default loss_decode names.
    from ..losses import soft_iou_loss  # noqa: F401
    from .small_target_head import TARGET_LOSSES, thresholded_accuracy

    __all__ += ['LightTargetHead']

    @register_in_hosts('MODELS', hosts=('mmseg', ))
    class LightTargetHead(BaseDecodeHead):
        """:class:`LightTargetFusion` as an mmseg decode head.

        A drop-in for :class:`SmallTargetHead` at a fraction of its cost:
        the same selected inputs (``in_index``, finest first), the same
        one-channel sigmoid output at full input resolution (the fused
        stride-``input_stride`` logits upsampled bilinearly by
        ``input_stride``), the same default losses (BCE over non-padded
        pixels + SoftIoU), ``threshold`` and ``acc_seg``, so
        ``IRSTDMetric`` and the IRSTD configs work unchanged. What it gives
        up is SmallTargetHead's learned sub-cell upsampling and 3x3 context;
        the transfer benchmark measures what that costs in IoU.

        The fusion's norms are ``nn.BatchNorm2d`` (no ``norm_cfg``): its
        structure is the benchmark's, parameter for parameter. Weights keep
        the fusion's init (``init_cfg`` None: mmseg's default normal init of
        ``conv_seg`` does not apply, there is no ``conv_seg``).

        Args:
            in_channels (Sequence[int]): Channels of the selected inputs,
                finest first. Defaults to InfMAE-B's F1-F4
                (256, 384, 768, 768).
            channels (int): Width of the projections. Defaults to 32.
            in_index (Sequence[int]): Indices of the inputs in the neck's
                output. Defaults to (0, 1, 2, 3).
            input_stride (int): Stride of the first selected input; the
                output is that many times its size. Defaults to 4 (F1).
            num_classes (int): 2 (background, target). Defaults to 2.
            out_channels (int): 1 (sigmoid). Defaults to 1.
            threshold (float): Sigmoid threshold of ``pred_sem_seg``.
                Defaults to 0.5, the field's.
            prior_prob (float): Initial target probability of every pixel.
                Defaults to 0.01.
            loss_decode (dict | Sequence[dict]): Losses on the
                full-resolution logits. Defaults to BCE (over non-padded
                pixels) + SoftIoU.
            **kwargs: Other arguments of
                :class:`mmseg.models.decode_heads.decode_head.BaseDecodeHead`
                (``ignore_index``, ``align_corners``, ``init_cfg`` ...).

        Example:
            >>> import torch
            >>> head = LightTargetHead(in_channels=(32, 48, 64, 64))
            >>> feats = [torch.rand(1, c, 128 // s, 160 // s)
            ...          for c, s in zip((32, 48, 64, 64), (4, 8, 16, 32))]
            >>> tuple(head(feats).shape)
            (1, 1, 128, 160)
        """

        def __init__(self,
                     in_channels: Sequence[int] = (256, 384, 768, 768),
                     channels: int = 32,
                     in_index: Sequence[int] = (0, 1, 2, 3),
                     input_stride: int = 4,
                     num_classes: int = 2,
                     out_channels: int = 1,
                     threshold: float = 0.5,
                     prior_prob: float = 0.01,
                     loss_decode: Union[dict, Sequence[dict]] = TARGET_LOSSES,
                     init_cfg: Union[dict, None] = None,
                     **kwargs) -> None:
            if num_classes != 2 or out_channels != 1:
                raise ValueError(
                    'LightTargetHead predicts one sigmoid score: '
                    f'num_classes=2 and out_channels=1, got {num_classes} '
                    f'and {out_channels}.')
            if input_stride < 1:
                raise ValueError(
                    f'input_stride must be >= 1, got {input_stride}')
            super().__init__(
                list(in_channels),
                channels,
                num_classes=num_classes,
                out_channels=out_channels,
                threshold=threshold,
                dropout_ratio=0.,
                in_index=list(in_index),
                input_transform='multiple_select',
                loss_decode=list(loss_decode) if isinstance(
                    loss_decode, (list, tuple)) else loss_decode,
                init_cfg=init_cfg,
                **kwargs)
            self.input_stride = input_stride
            self.prior_prob = prior_prob
            # BaseDecodeHead's conv_seg reads `channels`; the fusion has its
            # own classifier.
            del self.conv_seg
            self.fusion = LightTargetFusion(self.in_channels, channels,
                                            prior_prob)

        def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
            """Fuse the selected inputs; logits at full resolution.

            Args:
                inputs (Sequence[torch.Tensor]): The neck's outputs; the
                    selected ones are (B, C_i, H / s_i, W / s_i), finest
                    first, with s_0 = ``input_stride``.

            Returns:
                torch.Tensor: (B, 1, s_0 * h_0, s_0 * w_0) logits for a
                finest input of h_0 x w_0: (B, 1, H, W) when H and W are
                multiples of 32.
            """
            feats = self._transform_inputs(inputs)
            check_widths('LightTargetHead', 'model.decode_head.in_channels',
                         self.in_channels, [f.shape[1] for f in feats],
                         f'inputs {tuple(self.in_index)} of the neck')
            h, w = feats[0].shape[-2:]
            return self.fusion(feats,
                               (h * self.input_stride, w * self.input_stride))

        def loss_by_feat(self, seg_logits: torch.Tensor,
                         batch_data_samples: SampleList) -> dict:
            """Mmseg's losses and a thresholded pixel accuracy.

            As :meth:`SmallTargetHead.loss_by_feat`: ``acc_seg`` is the
            accuracy of ``sigmoid > threshold`` over non-ignored pixels
            (mmseg's arg-max over one channel would be the background
            share).

            Args:
                seg_logits (torch.Tensor): (B, 1, H, W) logits.
                batch_data_samples (list[SegDataSample]): With
                    ``gt_sem_seg``.

            Returns:
                dict[str, torch.Tensor]: The losses and ``acc_seg``
                (percent).
            """
            losses = super().loss_by_feat(seg_logits, batch_data_samples)
            losses['acc_seg'] = thresholded_accuracy(self, seg_logits,
                                                     batch_data_samples)
            return losses
