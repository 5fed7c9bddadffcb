"""The shallow transformer decoder of InfMAE pre-training."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from infmae_mm.registry import register_in_hosts
from ..layers import TransformerBlock, gather_tokens, sincos_pos_embed_2d
from ..layers.weight_init import mae_init_
from ..masking import IAMMask, shuffle_ids
from ..width_check import check_widths


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class InfMAEPretrainDecoder(BaseModule):
    """Decoder placing mask tokens among the visible latents (no cls token).

    Visible latents are projected to the decoder width and scattered back to
    their raster positions; every other position gets the learned mask token.
    A fixed sin-cos table is added and ``decoder_depth`` transformer blocks
    predict the pixels of every patch (or of the patches ``query_ids``). The
    first block's attention projections at masked positions, whose input is
    ``mask_token + pos`` in every sample, are computed once per position.

    Args:
        embed_dim (int): Encoder width C3. Defaults to 768.
        decoder_embed_dim (int): Decoder width. Defaults to 512.
        decoder_depth (int): Blocks; the paper uses 2. Defaults to 2.
        decoder_num_heads (int): Heads. Defaults to 16.
        mlp_ratio (float): MLP expansion. Defaults to 4.
        patch_size (int): Token patch side. Defaults to 16.
        in_channels (int): Channels to predict per pixel. Defaults to 3.
        grid_size (int | tuple[int, int]): Token grid of the stored table.
            Other grids get an exactly rebuilt table. Defaults to 14.
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> import torch
        >>> decoder = InfMAEPretrainDecoder(embed_dim=64,
        ...     decoder_embed_dim=32, decoder_num_heads=2)
        >>> latent = torch.rand(2, 49, 64)
        >>> ids_restore = torch.stack([torch.randperm(196) for _ in range(2)])
        >>> decoder(latent, ids_restore).shape
        torch.Size([2, 196, 768])
    """

    def __init__(self,
                 embed_dim: int = 768,
                 decoder_embed_dim: int = 512,
                 decoder_depth: int = 2,
                 decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 grid_size: Union[int, Tuple[int, int]] = 14,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.grid_size = (grid_size, grid_size) if isinstance(
            grid_size, int) else tuple(grid_size)
        self.decoder_embed_dim = decoder_embed_dim
        self.patch_size = patch_size
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            sincos_pos_embed_2d(decoder_embed_dim, self.grid_size),
            requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            TransformerBlock(decoder_embed_dim, decoder_num_heads, mlp_ratio)
            for _ in range(decoder_depth)
        ])
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_embed_dim,
                                      patch_size**2 * in_channels)

    def init_weights(self) -> None:
        """Official init: sin-cos table, Xavier linears, mask token ~N(0,
        0.02)."""
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            return
        with torch.no_grad():
            self.decoder_pos_embed.copy_(
                sincos_pos_embed_2d(self.decoder_embed_dim, self.grid_size))
        nn.init.normal_(self.mask_token, std=.02)
        mae_init_(self)

    def forward(self,
                latent: torch.Tensor,
                ids_restore: Union[IAMMask, torch.Tensor],
                grid_size: Optional[Tuple[int, int]] = None,
                images: Optional[torch.Tensor] = None,
                query_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predict every patch, or the patches ``query_ids``.

        This is the interface of every pre-training decoder of the package:
        ``InfMAE`` calls ``neck(latent, ids_restore, grid_size,
        images=inputs)``. A decoder that needs guidance from the image (e.g.
        DuGI-MAE's frequency-domain bridge) subclasses this one and reads
        ``images``; the token mask is ``ids_restore >= N_vis``.

        Args:
            latent (torch.Tensor): (B, N_vis, C3) encoded visible tokens.
            ids_restore (IAMMask | torch.Tensor): The masks the encoder used
                (``InfMAE`` passes them, with their shuffle ids), or their
                (B, N) un-shuffle ids alone; the first N_vis entries of
                ``cat([visible, masked])`` are the latents.
            grid_size (tuple[int, int], optional): Token grid (h, w) with
                h * w = N. Defaults to the grid of ``images``, else the
                stored grid, or a square one.
            images (torch.Tensor, optional): (B, C, H, W) the normalised
                input batch. This decoder uses only its size.
            query_ids (torch.Tensor, optional): (B, N_q) raster ids of the
                patches to predict, e.g. the masked ones for the loss: the
                last block then computes only their outputs (every token
                still serves as key and value), which saves a quarter of
                that block's and the prediction's work at a 75% mask; the
                predictions equal those rows of the full output. Defaults to
                None (every patch).

        Returns:
            torch.Tensor: (B, N, patch_size**2 * in_channels) predictions in
            raster order, or (B, N_q, ...) at ``query_ids``.
        """
        if grid_size is None and images is not None:
            grid_size = (images.shape[2] // self.patch_size,
                         images.shape[3] // self.patch_size)
        check_widths('InfMAEPretrainDecoder', 'model.neck.embed_dim',
                     self.decoder_embed.in_features, latent.shape[-1],
                     'encoder tokens (C3)')
        ids_restore, ids_shuffle = shuffle_ids(ids_restore)
        B, num_tokens = ids_restore.shape
        num_visible = latent.shape[1]
        x = self.decoder_embed(latent)
        mask_tokens = self.mask_token.expand(B, num_tokens - num_visible, -1)
        x = gather_tokens(torch.cat([x, mask_tokens], dim=1), ids_restore)
        pos = self._position_table(num_tokens, grid_size)
        if pos.dtype != x.dtype:
            pos = pos.to(x.dtype)
        x = x + pos
        blocks = list(self.decoder_blocks)
        if len(blocks) > 1 and num_visible < num_tokens:
            # The first block's input at a masked token is mask_token +
            # pos[t] in every sample: project those rows once per position
            # instead of once per sample (the last block is left to
            # ``query_ids``).
            x = blocks[0].forward_projected(
                x,
                self._first_projections(x, ids_restore, ids_shuffle,
                                        num_visible, pos[0]))
            blocks = blocks[1:]
        for i, block in enumerate(blocks):
            last = i == len(blocks) - 1
            x = block(x, query_ids=query_ids if last else None)
        if query_ids is not None and not len(self.decoder_blocks):
            x = gather_tokens(x, query_ids)
        return self.decoder_pred(self.decoder_norm(x))

    def _first_projections(self, x: torch.Tensor, ids_restore: torch.Tensor,
                           ids_shuffle: torch.Tensor, num_visible: int,
                           pos: torch.Tensor) -> torch.Tensor:
        """``qkv(norm1(x))`` of the first block, (B, N, 3 D): computed at the
        visible tokens of ``x`` (B, N, D) and, for the masked ones, from a
        table of ``mask_token + pos`` (N, D) rows, one per position."""
        block = self.decoder_blocks[0]
        visible = block.attn.qkv(
            block.norm1(gather_tokens(x, ids_shuffle[:, :num_visible])))
        table = block.attn.qkv(block.norm1(self.mask_token[0] + pos))
        masked = table[ids_shuffle[:, num_visible:]]
        return gather_tokens(torch.cat([visible, masked], dim=1), ids_restore)

    def _position_table(self, num_tokens: int,
                        grid_size: Optional[Tuple[int, int]]) -> torch.Tensor:
        if grid_size is None:
            side = int(round(num_tokens**0.5))
            grid_size = self.grid_size if num_tokens == (
                self.grid_size[0] * self.grid_size[1]) else (side, side)
        grid_size = tuple(grid_size)
        if grid_size[0] * grid_size[1] != num_tokens:
            raise ValueError(f'grid_size {grid_size} does not hold the '
                             f'{num_tokens} tokens of ids_restore.')
        if grid_size == self.grid_size:
            return self.decoder_pos_embed
        return sincos_pos_embed_2d(self.decoder_embed_dim,
                                   grid_size).to(self.decoder_pos_embed)
