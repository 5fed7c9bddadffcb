"""Test oracle: the official InfMAE pre-training model, re-implemented in plain
PyTorch.

This is an INDEPENDENT re-implementation written only from the specification in
``docs/infmae_reference.md`` (sections 1, 2 and 4.2) and the InfMAE paper. No
code was copied from the official repository (which is licensed for
non-commercial research only). It is used only by the tests, as a reference to
compare ``infmae_mm`` against:

* its ``state_dict()`` has exactly the key names and shapes of the official
  checkpoint (243 tensors, 96,717,696 elements with the default arguments);
* the information-aware masking (IAM), the multi-scale encoder, the "sorted
  buffer" decoder placement and the loss follow the official computation.

Differences from the official code, all of which leave the computation
unchanged: it runs on CPU (no ``.cuda()``), any square input whose side is a
multiple of 16 is accepted (grid sizes are derived from the input), and the
decoder placement works for any number of tokens divisible by the stride.

Depends on torch and numpy only.
"""
import argparse
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    'OfficialInfMAE', 'get_2d_sincos_pos_embed', 'save_official_checkpoint',
    'PatchEmbed', 'CBlock', 'Block'
]


# --------------------------------------------------------------------------------------
# Fixed 2-D sin-cos position embedding (MAE's get_2d_sincos_pos_embed, no cls
# token)
# --------------------------------------------------------------------------------------
def _sincos_1d(dim, pos):
    """1-D sin-cos embedding.

    Args:
        dim (int): Output channels (even).
        pos (Tensor): Positions, any shape, float64.

    Returns:
        Tensor: (pos.numel(), dim) = concat(sin(pos * omega), cos(pos * omega))
        with omega_k = 1 / 10000 ** (k / (dim / 2)), k = 0 .. dim/2 - 1.
    """
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = pos.reshape(-1)[:, None] * omega[None, :]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def get_2d_sincos_pos_embed(dim, grid_size):
    """2-D sin-cos position embedding of a square grid.

    Token t = row * grid_size + col. The first half of the channels encodes the
    column (``grid[0]`` of an 'xy' meshgrid), the second half the row
    (``grid[1]``).

    Args:
        dim (int): Embedding channels, divisible by 4.
        grid_size (int): Grid side.

    Returns:
        Tensor: (grid_size**2, dim), float32.
    """
    assert dim % 4 == 0, 'sin-cos embedding needs dim divisible by 4'
    coords = torch.arange(grid_size, dtype=torch.float64)
    row, col = torch.meshgrid(
        coords, coords, indexing='ij')  # row[i, j] = i, col[i, j] = j
    emb = torch.cat([_sincos_1d(dim // 2, col),
                     _sincos_1d(dim // 2, row)],
                    dim=1)
    return emb.float()


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------
def _ln_channels_last(norm, x):
    """Apply a LayerNorm over the channels of an NCHW tensor (done channels-
    last)."""
    return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class PatchEmbed(nn.Module):
    """Conv(k = s = patch) -> LayerNorm(eps 1e-5) over channels -> GELU.

    Args:
        patch_size (int): Kernel and stride.
        in_chans (int): Input channels.
        embed_dim (int): Output channels.

    Shapes:
        (B, in_chans, H, W) -> (B, embed_dim, H / patch, W / patch).
    """

    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(
            in_chans, embed_dim, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)  # plain LayerNorm: eps 1e-5
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(_ln_channels_last(self.norm, self.proj(x)))


class PatchEmbedF(nn.Module):
    """IAM scorer stem: Conv(in_chans -> dim, k = s = patch), no norm, no
    activation.

    Shapes:
        (B, in_chans, H, W) -> (B, (H / patch) * (W / patch), dim).
    """

    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(
            in_chans, embed_dim, patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class CMlp(nn.Module):
    """1x1 conv (dim -> hidden) -> GELU -> 1x1 conv (hidden -> dim), on NCHW
    maps."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CBlock(nn.Module):
    """Masked convolutional block of stages 1 and 2.

    ``x = x + conv2(attn(mask * conv1(norm1(x))))`` with ``attn`` a depthwise
    5x5 conv, then ``x = x + mlp(norm2(x))``. Norms are LayerNorm(eps 1e-5)
    over channels.

    Args:
        dim (int): Channels.
        mlp_ratio (float): Hidden width of the MLP relative to ``dim``.

    Shapes:
        x: (B, dim, H, W); mask: (B, 1, H, W) with 1 = visible, or None.
    """

    def __init__(self, dim, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.attn = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = CMlp(dim, int(dim * mlp_ratio))

    def forward(self, x, mask=None):
        y = self.conv1(_ln_channels_last(self.norm1, x))
        if mask is not None:
            y = mask * y
        x = x + self.conv2(self.attn(y))
        x = x + self.mlp(_ln_channels_last(self.norm2, x))
        return x


class Attention(nn.Module):
    """Multi-head self-attention with a biased ``qkv`` Linear and scale
    head_dim**-0.5."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads)**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, head_dim)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    """Linear -> exact GELU -> Linear."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm ViT block, LayerNorm eps 1e-6, no layer scale, no drop path.

    Shapes:
        (B, N, dim) -> (B, N, dim).
    """

    def __init__(self, dim, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


# --------------------------------------------------------------------------------------
# The pre-training model
# --------------------------------------------------------------------------------------
class OfficialInfMAE(nn.Module):
    """The official InfMAE pre-training model (``infmae_vit_base_patch16``).

    The defaults build the official model; its ``state_dict()`` has the 243
    official keys. Smaller arguments build a tiny variant with the same
    structure for fast tests.

    Args:
        img_size (int): Side of the square image the fixed pos embeds are built
        for. patch_sizes (tuple[int]): Patch sizes of ``patch_embed1-3``; their
        product is the
            token patch size P (16).
        embed_dims (tuple[int]): Channels of stages 1-3.
        depths (tuple[int]): Number of blocks of stages 1-3.
        num_heads (int): Heads of the stage-3 ViT blocks.
        mlp_ratio (float): MLP ratio of all blocks.
        decoder_embed_dim (int): Decoder width.
        decoder_depth (int): Number of decoder blocks (2 in the official code).
        decoder_num_heads (int): Decoder heads.
        in_chans (int): Image channels.
        stride (int): IAM sampling stride S; one token of every S ranked tokens
        is visible. norm_pix_loss (bool): Normalise each target patch by its
        mean and variance.
    """

    def __init__(self,
                 img_size=224,
                 patch_sizes=(4, 2, 2),
                 embed_dims=(256, 384, 768),
                 depths=(2, 2, 11),
                 num_heads=12,
                 mlp_ratio=4,
                 decoder_embed_dim=512,
                 decoder_depth=2,
                 decoder_num_heads=16,
                 in_chans=3,
                 stride=4,
                 norm_pix_loss=False):
        super().__init__()
        self.patch_sizes = tuple(patch_sizes)
        self.patch_size = int(np.prod(patch_sizes))  # P = 16
        self.in_chans = in_chans
        self.stride = stride
        self.norm_pix_loss = norm_pix_loss
        assert img_size % self.patch_size == 0
        self.grid_size = img_size // self.patch_size
        num_patches = self.grid_size**2
        p1, p2, p3 = self.patch_sizes
        c1, c2, c3 = embed_dims

        # IAM scorer (untrained in practice: it never receives a gradient).
        self.patch_embed = PatchEmbedF(self.patch_size, in_chans, c3)

        # Multi-scale encoder.
        self.patch_embed1 = PatchEmbed(p1, in_chans, c1)
        self.patch_embed2 = PatchEmbed(p2, c1, c2)
        self.patch_embed3 = PatchEmbed(p3, c2, c3)
        self.patch_embed4 = nn.Linear(c3, c3)
        self.stage1_output_decode = nn.Conv2d(c1, c3, p2 * p3, stride=p2 * p3)
        self.stage2_output_decode = nn.Conv2d(c2, c3, p3, stride=p3)
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches, c3), requires_grad=False)
        self.blocks1 = nn.ModuleList(
            [CBlock(c1, mlp_ratio) for _ in range(depths[0])])
        self.blocks2 = nn.ModuleList(
            [CBlock(c2, mlp_ratio) for _ in range(depths[1])])
        self.blocks3 = nn.ModuleList(
            [Block(c3, num_heads, mlp_ratio) for _ in range(depths[2])])
        self.norm = nn.LayerNorm(c3, eps=1e-6)

        # Decoder.
        self.decoder_embed = nn.Linear(c3, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, num_patches, decoder_embed_dim),
            requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio)
            for _ in range(decoder_depth)
        ])
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_embed_dim,
                                      self.patch_size**2 * in_chans)

        self.initialize_weights()

    # ----------------------------------------------------------------
    # initialisation
    def initialize_weights(self):
        """Official init: sin-cos pos embeds, xavier on ``patch_embed3.proj``
        (flattened), normal(0.02) ``mask_token``, xavier Linear / bias 0,
        LayerNorm 1 / 0; every other conv keeps PyTorch's default init."""
        self.pos_embed.data.copy_(
            get_2d_sincos_pos_embed(self.pos_embed.shape[-1],
                                    self.grid_size)[None])
        self.decoder_pos_embed.data.copy_(
            get_2d_sincos_pos_embed(self.decoder_pos_embed.shape[-1],
                                    self.grid_size)[None])
        w = self.patch_embed3.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.mask_token, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.weight, 1.0)
            nn.init.constant_(m.bias, 0)

    # ---------------------------------------------------------------- helpers
    def _grid(self, imgs):
        """Token grid side of a square input (side must be a multiple of P)."""
        H, W = imgs.shape[-2:]
        assert H == W and H % self.patch_size == 0, (
            f'need a square input with side a multiple of {self.patch_size}, '
            f'got {H}x{W}')
        return H // self.patch_size

    @staticmethod
    def _pos(param, grid):
        """Stored fixed pos embed if it fits the grid, else the same sin-cos
        for ``grid``."""
        if param.shape[1] == grid * grid:
            return param
        return get_2d_sincos_pos_embed(param.shape[-1], grid)[None].to(param)

    def patchify(self, imgs):
        """Split images into flattened patches.

        Args:
            imgs (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, N, P*P*C), each patch flattened in (p, q, c) order
            (row inside the patch, column inside the patch, channel).
        """
        p, g = self.patch_size, self._grid(imgs)
        B, C = imgs.shape[:2]
        x = imgs.reshape(B, C, g, p, g, p)
        x = torch.einsum('nchpwq->nhwpqc', x)
        return x.reshape(B, g * g, p * p * C)

    def unpatchify(self, x):
        """Inverse of :meth:`patchify`: (B, N, P*P*C) -> (B, C, H, W)."""
        p = self.patch_size
        B, N, D = x.shape
        g = int(round(math.sqrt(N)))
        C = D // (p * p)
        x = x.reshape(B, g, g, p, p, C)
        x = torch.einsum('nhwpqc->nchpwq', x)
        return x.reshape(B, C, g * p, g * p)

    # ---------------------------------------------------------------- IAM
    # masking
    def information_aware_masking(self, imgs):
        """Deterministic information-aware masking (section 2 of the spec).

        The score of a token is the mean over channels of
        ``patch_embed(imgs)``; tokens are ranked by ascending score and ranks
        0, S, 2S, ... are kept visible.

        Args:
            imgs (Tensor): Normalised images (B, C, H, W).

        Returns:
            tuple: ``ids_keep`` (B, N / S) token ids of the visible tokens, in
            rank order; ``mask`` (B, N) float, 1 = masked, raster order;
            ``ids_restore`` (B, N), the rank of each token.
        """
        score = self.patch_embed(imgs).mean(dim=-1)  # (B, N)
        B, N = score.shape
        ids_shuffle = torch.argsort(score, dim=1)  # ascending
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, ::self.stride]
        mask = torch.ones(B, N, device=imgs.device)
        mask[:, ::self.stride] = 0  # in rank order
        mask = torch.gather(mask, 1, ids_restore)  # back to raster order
        return ids_keep, mask, ids_restore

    def stage_masks(self, mask, grid):
        """Nearest upsampling of the token mask to the stage-1 and stage-2
        grids.

        Args:
            mask (Tensor): (B, N) with N = grid**2, 1 = masked.
            grid (int): Token grid side.

        Returns:
            tuple: ``mask1`` (B, 1, grid*p2*p3, grid*p2*p3) and ``mask2``
            (B, 1, grid*p3, grid*p3), 1 = masked (x4 and x2 for the official
            sizes).
        """
        _, p2, p3 = self.patch_sizes
        m = mask.reshape(-1, 1, grid, grid)
        mask1 = F.interpolate(m, scale_factor=p2 * p3, mode='nearest')
        mask2 = F.interpolate(m, scale_factor=p3, mode='nearest')
        return mask1, mask2

    # ---------------------------------------------------------------- encoder
    # / decoder
    def forward_encoder(self, imgs):
        """Multi-scale encoder on the visible tokens.

        Args:
            imgs (Tensor): Normalised images (B, C, H, W).

        Returns:
            tuple: ``latent`` (B, Nv, C3) visible tokens in rank order (Nv = N
            / S), ``mask`` (B, N) 1 = masked, ``ids_restore`` (B, N).
        """
        grid = self._grid(imgs)
        ids_keep, mask, ids_restore = self.information_aware_masking(imgs)
        mask1, mask2 = self.stage_masks(mask, grid)

        # Stage 1 and 2: convolutional blocks see 1 - mask (1 = visible).
        x = self.patch_embed1(imgs)
        for blk in self.blocks1:
            x = blk(x, 1 - mask1)
        stage1_embed = self.stage1_output_decode(x).flatten(2).transpose(
            1, 2)  # (B, N, C3)
        x = self.patch_embed2(x)
        for blk in self.blocks2:
            x = blk(x, 1 - mask2)
        stage2_embed = self.stage2_output_decode(x).flatten(2).transpose(
            1, 2)  # (B, N, C3)

        # Stage 3: ViT blocks on the visible tokens only.
        x = self.patch_embed3(x).flatten(2).transpose(1, 2)  # (B, N, C3)
        x = self.patch_embed4(x)
        x = x + self._pos(self.pos_embed, grid)
        C3 = x.shape[-1]
        idx = ids_keep.unsqueeze(-1).expand(-1, -1, C3)
        x = torch.gather(x, 1, idx)
        stage1_embed = torch.gather(stage1_embed, 1, idx)
        stage2_embed = torch.gather(stage2_embed, 1, idx)
        for blk in self.blocks3:
            x = blk(x)

        # Multi-scale fusion at the visible positions, then the final norm.
        x = x + stage1_embed + stage2_embed
        latent = self.norm(x)
        return latent, mask, ids_restore

    def forward_decoder(self, latent, ids_restore):
        """Decoder with the official "sorted buffer" token placement.

        In rank order, visible token i sits at slot S*i and mask tokens fill
        the S-1 slots after it; gathering the buffer with ``ids_restore`` puts
        every token back at its raster position.

        Args:
            latent (Tensor): (B, Nv, C3) visible tokens in rank order.
            ids_restore (Tensor): (B, N), N divisible by S.

        Returns:
            Tensor: ``pred`` (B, N, P*P*in_chans).
        """
        x = self.decoder_embed(latent)  # (B, Nv, D)
        B, Nv, D = x.shape
        N, S = ids_restore.shape[1], self.stride
        assert N == Nv * S, (f'sorted-buffer placement needs N = S * Nv, got '
                             f'N={N}, Nv={Nv}, S={S}')
        fill = self.mask_token.expand(B, Nv,
                                      D).unsqueeze(2).expand(B, Nv, S - 1, D)
        buf = torch.cat([x.unsqueeze(2), fill],
                        dim=2).reshape(B, N, D)  # sorted order
        x = torch.gather(buf, 1,
                         ids_restore.unsqueeze(-1).expand(-1, -1,
                                                          D))  # raster order

        x = x + self._pos(self.decoder_pos_embed, int(round(math.sqrt(N))))
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)
        return self.decoder_pred(x)

    def forward_loss(self, imgs, pred, mask):
        """MSE per patch, averaged over the masked patches.

        Args:
            imgs (Tensor): (B, C, H, W) normalised images (the target).
            pred (Tensor): (B, N, P*P*C).
            mask (Tensor): (B, N), 1 = masked.

        Returns:
            Tensor: scalar loss.
        """
        target = self.patchify(imgs)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(
                dim=-1, keepdim=True)  # torch default (unbiased), as in MAE
            target = (target - mean) / (var + 1.e-6)**.5
        loss = ((pred - target)**2).mean(dim=-1)  # (B, N)
        return (loss * mask).sum() / mask.sum()

    def forward(self, imgs):
        """Full pre-training step.

        Args:
            imgs (Tensor): Normalised images (B, C, H, W).

        Returns:
            tuple: ``loss`` (scalar), ``pred`` (B, N, P*P*C), ``mask`` (B, N).
        """
        latent, mask, ids_restore = self.forward_encoder(imgs)
        pred = self.forward_decoder(latent, ids_restore)
        loss = self.forward_loss(imgs, pred, mask)
        return loss, pred, mask


# --------------------------------------------------------------------------------------
# Checkpoint in the official format
# --------------------------------------------------------------------------------------
def save_official_checkpoint(model, path, with_extras=True):
    """Write a checkpoint laid out like the official
    ``util/misc.py::save_model``.

    Args:
        model (nn.Module): Model whose ``state_dict()`` goes under ``'model'``.
        path (str): Output file (``torch.save``).
        with_extras (bool): Also write a small fake ``'optimizer'``,
        ``'epoch'`` (399),
            ``'scaler'`` and ``'args'`` (an ``argparse.Namespace``, which makes
            the file need ``torch.load(..., weights_only=False)``). If False,
            only ``{'model': ...}``.

    Returns:
        dict: The object that was saved.
    """
    state = {
        k: v.detach().cpu().clone()
        for k, v in model.state_dict().items()
    }
    ckpt = {'model': state}
    if with_extras:
        ckpt['optimizer'] = {
            'state': {
                0: {
                    'step': torch.tensor(100.0),
                    'exp_avg': torch.zeros(4),
                    'exp_avg_sq': torch.zeros(4)
                }
            },
            'param_groups': [
                {
                    'lr': 0.0,
                    'betas': (0.9, 0.95),
                    'eps': 1e-8,
                    'weight_decay': 0.05,
                    'amsgrad': False,
                    'params': [0]
                },
                {
                    'lr': 0.0,
                    'betas': (0.9, 0.95),
                    'eps': 1e-8,
                    'weight_decay': 0.0,
                    'amsgrad': False,
                    'params': []
                },
            ],
        }
        ckpt['epoch'] = 399
        ckpt['scaler'] = {
            'scale': 65536.0,
            'growth_factor': 2.0,
            'backoff_factor': 0.5,
            'growth_interval': 2000,
            '_growth_tracker': 0
        }
        ckpt['args'] = argparse.Namespace(
            model='infmae_vit_base_patch16',
            norm_pix_loss=False,
            blr=1e-3,
            lr=None,
            min_lr=0.0,
            weight_decay=0.05,
            batch_size=64,
            epochs=400,
            warmup_epochs=40,
            accum_iter=1,
            input_size=224,
            mask_ratio=0.75,
            data_path='/data/Inf30',
            output_dir='./output_dir',
            log_dir='./output_dir',
            device='cuda',
            seed=0,
            resume='',
            start_epoch=0,
            num_workers=10,
            pin_mem=True,
            world_size=1,
            local_rank=0,
            rank=0,
            dist_on_itp=False,
            dist_url='env://',
            distributed=True)
    torch.save(ckpt, path)
    return ckpt
