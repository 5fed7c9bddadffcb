"""InfMAEViT: the hybrid conv + ViT multi-scale encoder of InfMAE."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from infmae_mm.registry import register_in_hosts
from ..input_statistics import (IMAGENET_MEAN, IMAGENET_STD, affine_channels,
                                check_input_statistics)
from ..layers import (DENSE, ConvPatchEmbed, DenseLayout, MaskedConvBlock,
                      RelativePositionBias, TransformerBlock, gather_tokens,
                      mae_init_, resize_pos_embed, run_in_windows,
                      sincos_pos_embed_2d, visible_position_bias,
                      xavier_init_flat_)
from ..masking import (IAMMask, check_token_grid, refuse_mask_ratio,
                       upsample_token_mask)
from .finetune import FineTuneMixin
from .infmae_arch import (ARCH_ZOO, OUT_TYPES, PATCH_SIZES, TOKEN_PATCH,
                          check_batch, check_mask_fits, check_mask_type,
                          check_modes, check_out_indices, check_out_type,
                          parse_arch)
from .pretrained import load_pretrained, warn_ignored_pretrained
from .visible_conv_stages import VisibleBlocks, map_to_blocks

# Old import paths of what moved out.
__all__ = [
    'InfMAEViT', 'IMAGENET_MEAN', 'IMAGENET_STD', 'PATCH_SIZES', 'TOKEN_PATCH'
]
_affine_channels = affine_channels


@register_in_hosts('MODELS')
class InfMAEViT(FineTuneMixin, BaseModule):
    """The InfMAE encoder (`InfMAE <https://arxiv.org/abs/2402.00407>`_).

    Stage 1 and 2 are convolutional (k4 and k2 patch embeddings with
    LayerNorm + GELU, then masked conv blocks with a depthwise 5x5 mixer);
    stage 3 embeds with a k2 conv and a linear layer, adds a position table
    and runs ViT blocks. The module holds exactly the parameters of the
    official encoder (``patch_embed1-4``, ``blocks1-3``, ``norm``,
    ``pos_embed``): the pre-training-only pieces (the stage fusion
    projections and the official IAM scorer) belong to the ``InfMAE``
    algorithm and are passed in.

    Two modes:

    * ``forward(x, mask)``, ``mask`` an :class:`IAMMask` (pre-training; the
      masks come from the data pipeline or ``InfMAE.mask_generator``): conv
      stages see only visible patches, stage 3 runs on the visible tokens
      only. Returns ``(latent, mask, ids_restore)``.
    * ``forward(x, mask=None)`` (features): F1 (stride 4), F2 (stride 8) and
      F3 (stride 16) as NCHW maps, selected by ``out_indices``.

    Args:
        arch (str | dict): A key of ``arch_zoo`` or a dict with
            ``embed_dims`` (3 ints), ``depths`` (3 ints) and ``num_heads``.
        img_size (int | tuple[int, int]): Size the position table is built
            for. Other sizes (multiples of 16) work: a fixed sin-cos table is
            rebuilt exactly, a learned one is resized bicubically.
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
            masked mode always does, so that every parameter is used and F3
            is the pre-trained token representation. Defaults to True.
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
        masked_conv (str): How the masked mode computes the conv stages:
            ``'visible'`` (default) only at visible patches
            (:class:`.VisibleBlocks`), about 4x less work at a 75% mask;
            ``'dense'`` over the whole map with masked positions zeroed
            before each mixer, as the official code does. Both give the same
            outputs (the dense one is the reference).
        frozen_stages (int): Freeze stages up to this one: 1 = stage 1,
            2 = stages 1-2, 3 = the whole encoder (linear probing); -1 (the
            default) freezes nothing. Frozen parts stay in eval mode.
        out_type (str): Form of each feature-mode output, as mmpretrain's
            ``VisionTransformer`` names them: ``'featmap'`` (default) the
            NCHW map (B, C, h, w); ``'avg_featmap'`` its spatial average
            (B, C), what a classification head takes (``neck=None``);
            ``'raw'`` the flattened map (B, h * w, C). There is no class
            token, so ``'cls_token'`` is refused.
        pretrained (str, optional): Accepted for host configs that pass it
            to every backbone (mmseg's ``EncoderDecoder`` hands
            ``model.pretrained`` down) and ignored with a warning: InfMAE
            weights load through ``init_cfg=dict(type='Pretrained', ...)``.
        mask_ratio (float, optional): Not a setting of InfMAE (mmpretrain's
            ``MAEViT`` has it): refused with an error naming the IAM stride
            that gives that ratio. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    OUT_TYPES = OUT_TYPES
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
        refuse_mask_ratio(
            mask_ratio, "the stride of dict(type='IAMMaskGenerator') in "
            'train_dataloader.dataset.pipeline (or '
            'model.mask_generator.stride with in-model masking)',
            'model.backbone.mask_ratio')
        warn_ignored_pretrained(pretrained)
        self.out_type = check_out_type(out_type)
        self._input_statistics_checked = False
        self.arch_settings = self._parse_arch(arch)
        dims = self.embed_dims = tuple(self.arch_settings['embed_dims'])
        depths = self.depths = tuple(self.arch_settings['depths'])
        num_heads = self.arch_settings['num_heads']
        self.in_channels = in_channels
        img_size = (img_size,
                    img_size) if isinstance(img_size, int) else img_size
        self.img_size = tuple(img_size)
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
        self.rel_pos_biases = None
        if use_rel_pos_bias:
            self.rel_pos_biases = nn.ModuleList([
                RelativePositionBias(
                    self.grid_size if self._is_global(i) else
                    (window_size, window_size), num_heads)
                for i in range(depths[2])
            ])
        check_modes(frozen_stages, masked_conv)
        self.frozen_stages = frozen_stages
        self.masked_conv = masked_conv
        num_tokens = self.grid_size[0] * self.grid_size[1]
        self.pos_embed = nn.Parameter(
            sincos_pos_embed_2d(dims[2], self.grid_size).reshape(
                1, num_tokens, dims[2]),
            requires_grad=learnable_pos_embed)
        self._freeze_stages()

    def _is_global(self, index: int) -> bool:
        return self.window_size is None or index in self.global_attn_indexes

    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        return parse_arch(arch, cls.arch_zoo)

    # ------------------------------------------------------------------ init
    def init_weights(self) -> None:
        """Initialise like the official model unless loading a checkpoint.

        Linear layers and the k2 stage-3 embedding get Xavier-uniform (bias 0),
        LayerNorms 1/0, the position table sin-cos; the other convolutions keep
        PyTorch's default initialisation.
        """
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

    def load_pretrained(self,
                        checkpoint: str,
                        prefix: str = 'backbone.') -> None:
        """Load encoder weights, adapting them to this model's shapes (see
        :func:`~infmae_mm.models.backbones.pretrained.load_pretrained`)."""
        load_pretrained(self, checkpoint, prefix)

    # --------------------------------------------------------------- helpers
    def check_input(self, x: torch.Tensor) -> Tuple[int, int]:
        """Validate a (B, C, H, W) batch and return its token grid."""
        return check_batch(x, self.in_channels)

    def position_table(self, grid_size: Tuple[int, int]) -> torch.Tensor:
        """Position table (1, h * w, C) for a token grid.

        A fixed sin-cos table is rebuilt exactly for the grid; a learned one is
        resized bicubically.
        """
        if torch.jit.is_tracing():
            return self._traced_position_table(grid_size)
        if tuple(grid_size) == self.grid_size:
            return self.pos_embed
        if not self.learnable_pos_embed:
            return sincos_pos_embed_2d(self.embed_dims[2],
                                       grid_size).to(self.pos_embed)
        return resize_pos_embed(self.pos_embed, self.grid_size, grid_size)

    def _traced_position_table(self, grid_size: Tuple) -> torch.Tensor:
        """:meth:`position_table` for a grid of traced sizes (ONNX export):

        :func:`infmae_mm.deployment.tracing.traced_position_table`.
        """
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

    # --------------------------------------------------------------- forward
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
                None (or False, which is what mmseg and mmdet call) for the
                feature mode.
            stage_fusion (nn.Module, optional): Pre-training multi-scale
                fusion (``InfMAEStageFusion``): called once on the visible
                F1 (B, N_vis, 16, C1) and F2 (B, N_vis, 4, C2) blocks; its
                (B, N_vis, C3) output is added to the visible tokens before
                the final norm.

        Returns:
            tuple: Masked mode: ``latent`` (B, N_vis, C3), ``mask`` (B, N)
            (1 = masked) and ``ids_restore`` (B, N). Feature mode: the maps
            of ``out_indices`` among F1 (B, C1, H/4, W/4),
            F2 (B, C2, H/8, W/8) and F3 (B, C3, H/16, W/16), in the form
            of ``out_type``.
        """
        grid = self.check_input(x)
        if not self._input_statistics_checked:
            self._input_statistics_checked = True
            if self.in_channels == 3:
                check_input_statistics(x)
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
        if self.masked_conv == 'visible':
            f1, f2, tokens = self._visible_conv_stages(x, ids_keep, grid)
        else:
            f1, f2, tokens = self._dense_conv_stages(x, iam, grid)
        pos = self.position_table(grid).expand(x.shape[0], -1, -1)
        latent = tokens + gather_tokens(pos, ids_keep)
        for i, block in enumerate(self.blocks3):
            latent = block(latent, self._visible_bias(i, grid, ids_keep))
        if stage_fusion is not None:
            latent = latent + stage_fusion((f1, f2))
        return self.norm(latent), iam.mask, iam.ids_restore

    def _visible_conv_stages(self, x: torch.Tensor, ids_keep: torch.Tensor,
                             grid: Tuple[int, int]) -> tuple:
        """:meth:`conv_stages` on the visible patches only.

        Returns:
            tuple[torch.Tensor]: The visible F1 (B, N_vis, 16, C1) and F2
            (B, N_vis, 4, C2) blocks (positions raster inside the patch) and
            the visible stage-3 tokens (B, N_vis, C3) without positions.
        """
        B, N = ids_keep.shape
        sides = (TOKEN_PATCH // PATCH_SIZES[0],
                 TOKEN_PATCH // (PATCH_SIZES[0] * PATCH_SIZES[1]))
        patches = map_to_blocks(x, ids_keep,
                                TOKEN_PATCH).view(B * N, TOKEN_PATCH,
                                                  TOKEN_PATCH, x.shape[1])
        f1, f2, tokens = self.conv_stages(
            patches, [VisibleBlocks(ids_keep, grid, side) for side in sides])
        return (f1.reshape(B, N, sides[0]**2,
                           -1), f2.reshape(B, N, sides[1]**2,
                                           -1), tokens.reshape(B, N, -1))

    def _dense_conv_stages(self, x: torch.Tensor, iam: IAMMask,
                           grid: Tuple[int, int]) -> tuple:
        """The official formulation, the reference of the visible path:

        whole maps, masked positions zeroed before every depthwise mixer.
        Returns what :meth:`_visible_conv_stages` returns.
        """
        layouts = [
            DenseLayout(1. - upsample_token_mask(iam.mask, grid, side).to(
                x.dtype).permute(0, 2, 3, 1)) for side in (4, 2)
        ]
        f1, f2, tokens = self.conv_stages(x.permute(0, 2, 3, 1), layouts)
        return (map_to_blocks(f1.permute(0, 3, 1, 2), iam.ids_keep, 4),
                map_to_blocks(f2.permute(0, 3, 1, 2), iam.ids_keep, 2),
                gather_tokens(tokens.flatten(1, 2), iam.ids_keep))

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
        return tuple(self._format_output(feats[i]) for i in self.out_indices)

    def _format_output(self, feat: torch.Tensor) -> torch.Tensor:
        """A (B, C, h, w) map in the form ``out_type`` names."""
        if self.out_type == 'avg_featmap':
            return feat.mean(dim=(2, 3))
        if self.out_type == 'raw':
            return feat.flatten(2).transpose(1, 2)
        return feat

    def _visible_bias(self, index: int, grid: Tuple[int, int],
                      ids_keep: torch.Tensor) -> Optional[torch.Tensor]:
        """Relative position bias (B, heads, N_vis, N_vis) among visible
        tokens, or None without relative position bias."""
        if self.rel_pos_biases is None:
            return None
        return visible_position_bias(self.rel_pos_biases[index](grid),
                                     ids_keep)
