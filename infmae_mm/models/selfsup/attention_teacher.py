"""UNIP's frozen teacher: a plain ViT truncated after one layer."""
import os.path as osp
import warnings
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..backbones.vit_weights import load_vit_weights
from ..layers.attention_logits import vit_attention_logits


class FrozenAttentionTeacher(nn.Module):
    """A frozen ViT that returns the pre-softmax attention of layer ``layer``.

    Any ``VisionTransformer`` that mmpretrain builds serves (its arch zoo
    covers MAE-L, iBOT-L and DINO-B: ``arch='large'`` / ``'base'``). The
    layers after ``layer`` and the final norm are dropped, so they are
    neither stored nor run. The weights come from ``checkpoint`` through the
    package's allow-list loader; timm/official files (MAE ``model`` entry,
    DINO/iBOT raw or ``teacher`` dicts) and mmpretrain files are accepted,
    and a file that lacks any weight of the patch embedding, cls token,
    position table or layers 1..``layer`` fails, listing them. (The official
    code loads with ``strict=False``: a prefixed file silently leaves the
    teacher random.)

    The module never trains: its parameters do not require grad, ``train()``
    keeps it in eval mode, and ``forward`` runs under ``no_grad``.

    Args:
        vit (dict): mmpretrain ``VisionTransformer`` config, e.g.
            ``dict(type='VisionTransformer', arch='large', img_size=224)``.
        layer (int): The layer whose attention is the target, 1-indexed as
            in UNIP's scripts (``--intermediate``): 18 for MAE-L.
        checkpoint (str, optional): Weights. None leaves the teacher random,
            with a warning (tests only). A path that does not exist builds
            the teacher without weights, with a warning, and its ``forward``
            (the loss) raises: the student alone serves features and
            inference without the teacher file.
        prefix (str, optional): Key prefix of the ViT in the file; None
            finds it.
    """

    def __init__(self,
                 vit: dict,
                 layer: int,
                 checkpoint: Optional[str] = None,
                 prefix: Optional[str] = None) -> None:
        super().__init__()
        #: Why the teacher cannot serve a loss (its file is missing), or None.
        self.missing_checkpoint: Optional[str] = None
        vit = dict(vit)
        vit.setdefault('type', 'VisionTransformer')
        vit.update(final_norm=False, drop_path_rate=0., drop_rate=0.)
        self.vit = MODELS.build(vit)
        num_layers = len(self.vit.layers)
        if not 1 <= layer <= num_layers:
            raise ValueError(
                f'The teacher layer must be in 1..{num_layers} for this ViT, '
                f'got {layer}; set model.teacher.layer.')
        self.layer = layer
        self.vit.layers = self.vit.layers[:layer]
        self.num_heads = self.vit.layers[-1].attn.num_heads
        if checkpoint is None:
            warnings.warn('The UNIP teacher has no checkpoint and stays '
                          'random: set model.teacher.checkpoint to the '
                          'weights of an RGB-pre-trained ViT.')
        elif not osp.isfile(checkpoint):
            # The teacher serves the loss only: the student still builds for
            # features and inference (FeatureExtractor, get_model); the loss
            # raises this error.
            self.missing_checkpoint = (
                f'The UNIP teacher checkpoint {checkpoint} does not exist, '
                f'and the distillation loss needs the teacher: download the '
                f'RGB-pre-trained ViT (e.g. MAE-L, mae_pretrain_vit_large.pth)'
                f' and set model.teacher.checkpoint to its path.')
            warnings.warn(
                f'{self.missing_checkpoint} The student builds without it '
                f'(features, inference); training fails at the first loss.')
        else:
            load_vit_weights(
                self.vit,
                checkpoint,
                prefix=prefix,
                what='Teacher',
                config_key='model.teacher.vit')
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> 'FrozenAttentionTeacher':
        """Stay in eval mode whatever ``mode`` is."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention logits of layer ``layer``.

        Args:
            x (torch.Tensor): Images (B, C, H, W), normalised as the
                student's input.

        Returns:
            torch.Tensor: (B, H_t, 1 + N, 1 + N).

        Raises:
            FileNotFoundError: If the teacher's checkpoint file is missing.
        """
        if self.missing_checkpoint is not None:
            raise FileNotFoundError(self.missing_checkpoint)
        return vit_attention_logits(self.vit, x, self.layer - 1)
