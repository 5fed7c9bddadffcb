"""InfMAEViT: the hybrid conv + ViT multi-scale encoder of InfMAE."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from infmae_mm.registry import register_in_hosts
from ..input_statistics import (IMAGENET_MEAN, IMAGENET_STD,
                                check_first_batch_statistics)
from ..layers import (DENSE, ConvPatchEmbed, MaskedConvBlock,
                      RelativePositionBias, TransformerBlock, gather_tokens,
                      mae_init_, position_table_for, run_in_windows,
                      sincos_pos_embed_2d, visible_position_bias,
                      xavier_init_flat_)
from ..masking import IAMMask, check_token_grid, refuse_mask_ratio
from .finetune import FineTuneMixin
from .infmae_arch import (ARCH_ZOO, IAM_STRIDE_KEYS, PATCH_SIZES, TOKEN_PATCH,
                          check_batch, check_mask_fits, check_mask_type,
                          check_modes, check_out_indices, check_out_type,
                          format_output, parse_arch)
from .pretrained import load_pretrained, warn_ignored_pretrained
from .visible_conv_stages import dense_masked_conv_stages, visible_conv_stages

# Old import paths of what moved out.
__all__ = [
    'InfMAEViT', 'IMAGENET_MEAN', 'IMAGENET_STD', 'PATCH_SIZES', 'TOKEN_PATCH'
]


@register_in_hosts('MODELS')
class InfMAEViT(FineTuneMixin, BaseModule):
    """The InfMAE encoder (`InfMAE <https://arxiv.org/abs/2402.00407>`_).

    Stages 1 and 2 are convolutional (k4 and k2 patch embeddings, masked conv
    blocks with a 5x5 depthwise mixer; :meth:`conv_stages`, channels-last);
    stage 3 embeds with a k2 conv and a linear layer, adds a position table
    and runs ViT blocks. ``forward(x, mask)`` with an :class:`IAMMask` is the
    pre-training pass (conv stages and stage 3 at the visible patches only);
    ``forward(x)`` gives the F1-F3 maps of ``out_indices``.

    Args:
        arch (str | dict): A key of ``arch_zoo`` or a dict with
            ``embed_dims`` (3 ints), ``depths`` (3 ints) and ``num_heads``.
        img_size (int | tuple[int, int]): Size of the position table; other
            sizes (multiples of 16) work (:meth:`position_table`).
        in_channels (int): Image channels (3 for gray replicated like the
            official model, 1 for single-channel infrared). Defaults to 3.
        mlp_ratio (float): MLP expansion of every block. Defaults to 4.
        qkv_bias (bool): Bias of the qkv projections. Defaults to True.
        drop_path_rate (float): Stochastic depth, rising linearly over all
            conv and transformer blocks. Defaults to 0.
        learnable_pos_embed (bool): Train the position table (fine-tuning).
            False keeps the fixed sin-cos table of pre-training.
        out_indices (Sequence[int]): Feature-mode outputs, 0 = F1, 1 = F2,
            2 = F3. Defaults to (0, 1, 2).
        final_norm (bool): Apply ``norm`` to F3 in feature mode, as the
            masked mode does. Defaults to True.
        layer_scale_init (float, optional): Layer-scale init of the ViT blocks
            (fine-tuning); None disables. Defaults to None.
        use_rel_pos_bias (bool): Add a learned relative position bias to
            every stage-3 block (MCMAE's segmentation backbone). Defaults to
            False.
        window_size (int, optional): Feature mode only: stage-3 blocks not in
            ``global_attn_indexes`` attend within non-overlapping windows of
            ``window_size`` x ``window_size`` tokens (ViTDet), for
            detector-sized inputs. None: global attention everywhere.
        global_attn_indexes (Sequence[int]): Stage-3 blocks that keep global
            attention when ``window_size`` is set. Defaults to (2, 5, 8, 10).
        masked_conv (str): The masked mode's conv stages: ``'visible'``
            (default) at the visible patches only (~4x less work at a 75%
            mask) or ``'dense'``, the official formulation (same outputs).
        frozen_stages (int): Freeze stages up to this one: 1 = stage 1,
            2 = stages 1-2, 3 = the whole encoder (linear probing); -1 (the
            default) freezes nothing. Frozen parts stay in eval mode.
        out_type (str): Feature-mode output form, as mmpretrain's
            ``VisionTransformer`` names them: ``'featmap'`` (default, NCHW),
            ``'avg_featmap'`` (B, C) or ``'raw'`` (B, h * w, C); no class
            token.
        pretrained (str, optional): What mmseg hands every backbone; ignored
            with a warning (weights load through ``init_cfg``).
        mask_ratio (float, optional): MAE's setting, refused with an error
            naming the IAM stride that sets the ratio.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    arch_zoo: Dict[str, dict] = ARCH_ZOO

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 in_channels: int = 3,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_path_rate: float = 0.,
                 learnable_pos_embed: bool = False,
                 out_indices: Sequence[int] = (0, 1, 2),
                 final_norm: bool = True,
                 layer_scale_init: Optional[float] = None,
                 use_rel_pos_bias: bool = False,
                 window_size: Optional[int] = None,
                 global_attn_indexes: Sequence[int] = (2, 5, 8, 10),
                 frozen_stages: int = -1,
                 masked_conv: str = 'visible',
                 out_type: str = 'featmap',
                 pretrained: Optional[str] = None,
                 mask_ratio: Optional[float] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        refuse_mask_ratio(mask_ratio, IAM_STRIDE_KEYS,
                          'model.backbone.mask_ratio')
        warn_ignored_pretrained(pretrained)
        self.out_type = check_out_type(out_type)
        if in_channels == 3:
            check_first_batch_statistics(self)
        self.arch_settings = parse_arch(arch, self.arch_zoo)
        dims = self.embed_dims = tuple(self.arch_settings['embed_dims'])
        depths = self.depths = tuple(self.arch_settings['depths'])
        num_heads = self.arch_settings['num_heads']
        self.in_channels = in_channels
        self.img_size = (img_size, img_size) if isinstance(
            img_size, int) else tuple(img_size)
        self.grid_size = check_token_grid(*self.img_size, TOKEN_PATCH)
        self.learnable_pos_embed = learnable_pos_embed
        self.final_norm = final_norm
        self.out_indices = check_out_indices(out_indices)

        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.patch_embed1 = ConvPatchEmbed(in_channels, dims[0],
                                           PATCH_SIZES[0])
        self.patch_embed2 = ConvPatchEmbed(dims[0], dims[1], PATCH_SIZES[1])
        self.patch_embed3 = ConvPatchEmbed(dims[1], dims[2], PATCH_SIZES[2])
        self.token_proj = nn.Linear(dims[2], dims[2])
        self.blocks1 = nn.ModuleList(
            MaskedConvBlock(dims[0], mlp_ratio, drop_path=p)
            for p in dpr[:depths[0]])
        self.blocks2 = nn.ModuleList(
            MaskedConvBlock(dims[1], mlp_ratio, drop_path=p)
            for p in dpr[depths[0]:depths[0] + depths[1]])
        self.blocks3 = nn.ModuleList(
            TransformerBlock(
                dims[2],
                num_heads,
                mlp_ratio,
                qkv_bias,
                drop_path=p,
                layer_scale_init=layer_scale_init)
            for p in dpr[depths[0] + depths[1]:])
        self.norm = nn.LayerNorm(dims[2], eps=1e-6)
        self.window_size = window_size
        self.global_attn_indexes = tuple(i % depths[2]
                                         for i in global_attn_indexes)
        self.rel_pos_biases = nn.ModuleList(
            RelativePositionBias(
                self.grid_size if self._is_global(i) else (
                    window_size, window_size), num_heads)
            for i in range(depths[2])) if use_rel_pos_bias else None
        check_modes(frozen_stages, masked_conv)
        self.frozen_stages = frozen_stages
        self.masked_conv = masked_conv
        self.pos_embed = nn.Parameter(
            sincos_pos_embed_2d(dims[2], self.grid_size),
            requires_grad=learnable_pos_embed)
        self._freeze_stages()

    def _is_global(self, index: int) -> bool:
        return self.window_size is None or index in self.global_attn_indexes

    def init_weights(self) -> None:
        """Initialise like the official model (:func:`mae_init_`, sin-cos
        positions) unless ``init_cfg`` loads a checkpoint."""
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            self.load_pretrained(self.init_cfg['checkpoint'],
                                 self.init_cfg.get('prefix', 'backbone.'))
            return
        super().init_weights()
        with torch.no_grad():
            self.pos_embed.copy_(
                sincos_pos_embed_2d(self.embed_dims[2], self.grid_size))
        xavier_init_flat_(self.patch_embed3.projection.weight)
        mae_init_(self)

    def load_pretrained(self, checkpoint: str, prefix: str = 'backbone.'):
        """Load encoder weights adapted to this model
        (:func:`.pretrained.load_pretrained`)."""
        load_pretrained(self, checkpoint, prefix)

    def check_input(self, x: torch.Tensor) -> Tuple[int, int]:
        """Validate a (B, C, H, W) batch and return its token grid."""
        return check_batch(x, self.in_channels)

    def position_table(self, grid_size: Tuple[int, int]) -> torch.Tensor:
        """Position table (1, h * w, C) for a token grid
        (:func:`~infmae_mm.models.layers.position_table_for`)."""
        if torch.jit.is_tracing():
            return self._traced_position_table(grid_size)
        return position_table_for(self.pos_embed, self.grid_size, grid_size,
                                  self.learnable_pos_embed)

    def _traced_position_table(self, grid_size: Tuple) -> torch.Tensor:
        """:meth:`position_table` for traced sizes (ONNX export)."""
        from infmae_mm.deployment.tracing import traced_position_table
        return traced_position_table(self, grid_size)

    def conv_stages(
        self, x: torch.Tensor, layouts: Sequence = (DENSE, DENSE)
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stages 1-2 and the stage-3 embedding, channels-last.

        The one computation of the conv stages, for a whole map and for the
        visible blocks alike (the ``layouts`` of the two stages' depthwise
        mixers say which).

        Args:
            x (torch.Tensor): (B, H, W, C) images, H and W multiples of 16,
                or (B * N_vis, 16, 16, C) visible patches.
            layouts (Sequence): Stage 1 and 2 mixer layouts
                (:class:`~infmae_mm.models.layers.DenseLayout`,
                :class:`.VisibleBlocks`). Defaults to unmasked maps.

        Returns:
            tuple[torch.Tensor]: F1 (B, H/4, W/4, C1), F2 (B, H/8, W/8, C2)
            and the stage-3 tokens (B, H/16, W/16, C3) without positions.
        """
        f1 = self.patch_embed1(x)
        for block in self.blocks1:
            f1 = block(f1, layouts[0])
        f2 = self.patch_embed2(f1)
        for block in self.blocks2:
            f2 = block(f2, layouts[1])
        return f1, f2, self.token_proj(self.patch_embed3(f2))

    def forward(
        self,
        x: torch.Tensor,
        mask: Optional[IAMMask] = None,
        stage_fusion: Optional[nn.Module] = None,
    ) -> Union[Tuple[torch.Tensor, ...], Tuple[torch.Tensor, torch.Tensor,
                                               torch.Tensor]]:
        """Encode images.

        Args:
            x (torch.Tensor): (B, C, H, W), H and W multiples of 16.
            mask (IAMMask, optional): The batch's masks (pre-training), or
                None (or False, as mmseg and mmdet call) for features.
            stage_fusion (nn.Module, optional): Pre-training fusion
                (``InfMAEStageFusion``) of the visible F1 (B, N_vis, 16, C1)
                and F2 (B, N_vis, 4, C2) blocks into the tokens.

        Returns:
            tuple: Masked: ``latent`` (B, N_vis, C3), ``mask`` (B, N)
            (1 = masked), ``ids_restore`` (B, N). Features: F1 (B, C1, H/4,
            W/4), F2 (B, C2, H/8, W/8), F3 (B, C3, H/16, W/16) of
            ``out_indices`` in the form of ``out_type``.
        """
        grid = self.check_input(x)
        # not `mask is False`: TorchDynamo cannot compare an IAMMask with it
        if mask is None or (isinstance(mask, bool) and not mask):
            return self.forward_features(x)
        return self.forward_masked(x, check_mask_type(mask), grid,
                                   stage_fusion)

    def forward_masked(self, x: torch.Tensor, iam: IAMMask, grid: Tuple[int,
                                                                        int],
                       stage_fusion: Optional[nn.Module]) -> tuple:
        """Masked pre-training pass; see :meth:`forward`."""
        check_mask_fits(iam, x, grid, self.window_size)
        ids_keep = iam.ids_keep
        conv_stages = visible_conv_stages if self.masked_conv == 'visible' \
            else dense_masked_conv_stages
        f1, f2, tokens = conv_stages(self, x, iam, grid)
        pos = self.position_table(grid).expand(x.shape[0], -1, -1)
        latent = tokens + gather_tokens(pos, ids_keep)
        for i, block in enumerate(self.blocks3):
            bias = None if self.rel_pos_biases is None else \
                visible_position_bias(self.rel_pos_biases[i](grid), ids_keep)
            latent = block(latent, bias)
        if stage_fusion is not None:
            latent = latent + stage_fusion((f1, f2))
        return self.norm(latent), iam.mask, iam.ids_restore

    def forward_features(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Unmasked multi-scale features; see :meth:`forward`."""
        f1, f2, tokens = self.conv_stages(x.permute(0, 2, 3, 1))
        grid = (x.shape[2] // TOKEN_PATCH, x.shape[3] // TOKEN_PATCH)
        tokens = tokens.flatten(1, 2) + self.position_table(grid)
        for i, block in enumerate(self.blocks3):
            ws = None if self._is_global(i) else self.window_size
            bias = None if self.rel_pos_biases is None else \
                self.rel_pos_biases[i](grid if ws is None else (ws, ws))
            tokens = run_in_windows(block, tokens, grid, ws, bias)
        if self.final_norm:
            tokens = self.norm(tokens)
        f3 = tokens.transpose(1, 2).reshape(x.shape[0], -1, *grid)
        feats = (f1.permute(0, 3, 1, 2), f2.permute(0, 3, 1, 2), f3)
        return tuple(
            format_output(feats[i], self.out_type) for i in self.out_indices)
