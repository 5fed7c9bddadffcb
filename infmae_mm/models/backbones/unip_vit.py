"""UNIP's student: a plain ViT whose last block matches the teacher's heads."""
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.models.backbones import VisionTransformer

from infmae_mm.registry import register_in_hosts
from ..layers.attention_logits import vit_attention_logits
from ..layers.pos_embed import sincos_pos_embed_2d
from ..layers.weight_init import mae_init_, xavier_init_flat_

#: UNIP's student sizes (``unip_vit_{tiny,small,base}_patch16``).
UNIP_ARCHS = {
    **dict.fromkeys(
        ['t', 'tiny'], {
            'embed_dims': 192,
            'num_layers': 12,
            'num_heads': 3,
            'feedforward_channels': 192 * 4
        }),
    **dict.fromkeys(
        ['s', 'small'], {
            'embed_dims': 384,
            'num_layers': 12,
            'num_heads': 6,
            'feedforward_channels': 384 * 4
        }),
    **dict.fromkeys(
        ['b', 'base'], {
            'embed_dims': 768,
            'num_layers': 12,
            'num_heads': 12,
            'feedforward_channels': 768 * 4
        }),
}


@register_in_hosts('MODELS')
class UNIPViT(VisionTransformer):
    """The student of UNIP (ICLR 2025), an mmpretrain ``VisionTransformer``.

    Differences from the plain ViT, all as in the official student:

    * the **last block has** ``last_layer_heads`` **heads** (the teacher's
      head count: 16 for MAE-L / iBOT-L, 12 for DINO-B), so that its
      attention logits can be matched head by head;
    * **drop path** ``drop_path_rate`` on **every** block (constant, no
      linear ramp);
    * a **fixed 2-D sin-cos position table** with a zero cls row
      (``requires_grad=False``);
    * xavier-uniform init of every linear layer and of the flattened patch
      projection, zero biases, cls token ~ N(0, 0.02).

    Parameter names are mmpretrain's, so a UNIP checkpoint initialises an
    mmpretrain/mmseg fine-tuning ``VisionTransformer`` directly (the qkv
    weights do not depend on the head count). ``arch`` ``'tiny'``,
    ``'small'``, ``'base'`` are UNIP's 192/384/768-d, 12-block students;
    any other mmpretrain ViT arch name or dict works too.

    Args:
        arch (str | dict): Student size. Defaults to 'small'.
        last_layer_heads (int, optional): Heads of the last block; None
            keeps the arch's. Defaults to None.
        drop_path_rate (float): Drop path of every block. Defaults to 0.1.
        fixed_pos_embed (bool): Freeze the sin-cos table. Defaults to True.
        **kwargs: Other ``VisionTransformer`` arguments (``img_size``,
            ``out_type``, ``out_indices``, ``final_norm`` ...).
    """
    arch_zoo = {**VisionTransformer.arch_zoo, **UNIP_ARCHS}

    def __init__(self,
                 arch: str = 'small',
                 last_layer_heads: Optional[int] = None,
                 drop_path_rate: float = 0.1,
                 fixed_pos_embed: bool = True,
                 layer_cfgs: Optional[list] = None,
                 **kwargs) -> None:
        settings = self.arch_zoo[arch.lower()] if isinstance(arch,
                                                             str) else arch
        num_layers = settings['num_layers']
        embed_dims = settings['embed_dims']
        if last_layer_heads is not None and embed_dims % last_layer_heads:
            raise ValueError(
                f'last_layer_heads={last_layer_heads} does not divide the '
                f'{embed_dims} channels of arch {arch!r}; set '
                f'model.backbone.last_layer_heads to a divisor (the '
                f"teacher's head count).")
        if layer_cfgs is None:
            layer_cfgs = [dict() for _ in range(num_layers)]
        layer_cfgs = [
            dict(drop_path_rate=drop_path_rate, **cfg) for cfg in layer_cfgs
        ]
        if last_layer_heads is not None:
            layer_cfgs[-1] = dict(layer_cfgs[-1], num_heads=last_layer_heads)
        super().__init__(
            arch=arch, drop_path_rate=0., layer_cfgs=layer_cfgs, **kwargs)
        self.last_layer_heads = self.layers[-1].attn.num_heads
        self.fixed_pos_embed = fixed_pos_embed
        if fixed_pos_embed:
            self.pos_embed.requires_grad_(False)

    def init_weights(self) -> None:
        """UNIP's init, unless ``init_cfg`` loads a checkpoint."""
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            super().init_weights()
            return
        self._is_init = True
        with torch.no_grad():
            table = sincos_pos_embed_2d(self.embed_dims, self.patch_resolution)
            self.pos_embed.zero_()
            self.pos_embed[:, self.num_extra_tokens:].copy_(table)
        xavier_init_flat_(self.patch_embed.projection.weight)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=.02)
        mae_init_(self)

    def attention_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-softmax attention of the last block.

        Args:
            x (torch.Tensor): Images (B, C, H, W).

        Returns:
            torch.Tensor: (B, last_layer_heads, 1 + N, 1 + N).
        """
        return vit_attention_logits(self, x, -1)
