"""Infrared pixel reconstruction head of InfMAE pre-training."""
from typing import Dict, Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from infmae_mm.registry import register_in_hosts
from ..layers import gather_tokens


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class InfMAEReconstructionHead(BaseModule):
    """MSE between predicted and true pixels of the masked patches.

    Works for any (h, w) token grid and for 1- or 3-channel targets. With a
    3-channel input of replicated gray (the official setting) and
    ``in_channels=1`` the target is the channel mean, i.e. the gray image.

    Args:
        loss (dict): Loss config; it is called as ``loss(pred, target, mask)``.
            Defaults to mmpretrain's L2 ``PixelReconstructionLoss``, which
            averages over a patch's values and then over masked patches.
        norm_pix (bool): Normalise each target patch by its own mean and
            variance. The official InfMAE recipe keeps it off.
        patch_size (int): Patch side. Defaults to 16.
        in_channels (int): Target channels (1 or 3). Defaults to 3.
    """

    def __init__(self,
                 loss: dict = dict(
                     type='PixelReconstructionLoss', criterion='L2'),
                 norm_pix: bool = False,
                 patch_size: int = 16,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.norm_pix = norm_pix
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.loss_module = MODELS.build(loss)

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, h * w, p * p * C), values ordered (p, q, c)."""
        p = self.patch_size
        B, C, H, W = imgs.shape
        if H % p or W % p:
            raise ValueError(f'Image sides {H}x{W} are not multiples of the '
                             f'patch size {p}.')
        x = imgs.reshape(B, C, H // p, p, W // p, p)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(B, (H // p) * (W // p),
                                                   p * p * C)

    def unpatchify(self, x: torch.Tensor,
                   grid_size: Tuple[int, int]) -> torch.Tensor:
        """(B, h * w, p * p * C) -> (B, C, h * p, w * p); inverse of
        patchify."""
        p, (h, w) = self.patch_size, grid_size
        B, C = x.shape[0], x.shape[-1] // (p * p)
        x = x.reshape(B, h, w, p, p, C).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, C, h * p, w * p)

    def target_images(self, imgs: torch.Tensor) -> torch.Tensor:
        """The (B, in_channels, H, W) images the head reconstructs: the input,
        or its channel mean (the gray image) for a 1-channel head."""
        if imgs.shape[1] == self.in_channels:
            return imgs
        if self.in_channels != 1:
            raise ValueError(
                f'The reconstruction head predicts {self.in_channels} '
                f'channels but the images have {imgs.shape[1]}; set '
                f'head.in_channels (and neck.in_channels) to '
                f'{imgs.shape[1]} or 1.')
        return imgs.mean(1, keepdim=True)

    @staticmethod
    def patch_statistics(
            patches: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-patch mean and std (eps 1e-6) of (B, N, P) patches, as used by
        ``norm_pix``; each (B, N, 1)."""
        mean = patches.mean(dim=-1, keepdim=True)
        std = (patches.var(dim=-1, keepdim=True) + 1.e-6)**.5
        return mean, std

    def construct_target(self, imgs: torch.Tensor) -> torch.Tensor:
        """Patchified target (B, N, p * p * in_channels) of a (B, C, H, W)
        batch, per-patch normalised when ``norm_pix``."""
        target = self.patchify(self.target_images(imgs))
        if self.norm_pix:
            mean, std = self.patch_statistics(target)
            target = (target - mean) / std
        return target

    def loss(self,
             pred: torch.Tensor,
             target: torch.Tensor,
             mask: torch.Tensor,
             query_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Reconstruction loss.

        Args:
            pred (torch.Tensor): (B, N, p * p * in_channels) predictions, or
                (B, N_q, ...) of the patches ``query_ids`` only.
            target (torch.Tensor): (B, C, H, W) normalised input images.
            mask (torch.Tensor): (B, N), 1 = masked (the patches scored).
            query_ids (torch.Tensor, optional): (B, N_q) raster ids of the
                patches ``pred`` holds (e.g. the masked ones, the only ones
                scored: then the loss equals that of full predictions).
                Defaults to None (``pred`` holds every patch).

        Returns:
            torch.Tensor: The scalar loss.
        """
        self.check_predictions(pred)
        target = self.construct_target(target)
        if query_ids is not None:
            target = gather_tokens(target, query_ids)
            mask = torch.gather(mask, 1, query_ids)
        return self.loss_module(pred, target, mask)

    def check_predictions(self, pred: torch.Tensor) -> None:
        """Refuse (B, N, D) predictions whose D is not p * p * in_channels.

        Raises:
            ValueError: Naming the decoder and head keys that must agree.
        """
        p, c = self.patch_size, self.in_channels
        if pred.shape[-1] != p * p * c:
            raise ValueError(
                f'InfMAEReconstructionHead (model.head.patch_size={p}, '
                f'model.head.in_channels={c}) expects {p * p * c} values per '
                f'patch but the decoder predicts {pred.shape[-1]}: set '
                f'model.neck.patch_size and model.neck.in_channels to the '
                f"head's values (or the head's to the decoder's).")

    def reconstruction(self, pred: torch.Tensor, imgs: torch.Tensor,
                       mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Predicted patches as images, for inspection and evaluation.

        Args:
            pred (torch.Tensor): (B, N, p * p * in_channels) predictions.
            imgs (torch.Tensor): (B, C, H, W) normalised input images.
            mask (torch.Tensor): (B, N), 1 = masked.

        Returns:
            dict: ``pred`` (B, in_channels, H, W) in the normalised space
            (per-patch statistics restored from the target when
            ``norm_pix``), ``mask`` (B, 1, H, W) pixel mask, 1 = masked, and
            ``target`` (B, in_channels, H, W) the images compared against.
        """
        self.check_predictions(pred)
        p = self.patch_size
        grid = (imgs.shape[2] // p, imgs.shape[3] // p)
        target = self.target_images(imgs)
        if self.norm_pix:
            mean, std = self.patch_statistics(self.patchify(target))
            pred = pred * std + mean
        pixel_mask = mask.reshape(-1, 1, *grid).repeat_interleave(
            p, 2).repeat_interleave(p, 3)
        return dict(
            pred=self.unpatchify(pred, grid), mask=pixel_mask, target=target)
