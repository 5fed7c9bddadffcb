"""Strided convolutional patch embedding of the InfMAE conv stages."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def layer_norm_2d(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """Apply a channel LayerNorm to an NCHW map (normalises over C)."""
    x = x.permute(0, 2, 3, 1)
    x = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias,
                     norm.eps)
    return x.permute(0, 3, 1, 2)


class ConvPatchEmbed(nn.Module):
    """Conv(kernel = stride = patch) -> channel LayerNorm -> GELU.

    The k4/k2/k2 embeddings between InfMAE stages. Their kernels tile the image
    without overlap, so every output position depends only on the input
    positions of its own patch.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels.
        patch_size (int): Kernel size and stride.
        norm_eps (float): LayerNorm epsilon. The official model uses the
            PyTorch default 1e-5 here (not the 1e-6 of its transformer).
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 patch_size: int,
                 norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.projection = nn.Conv2d(
            in_channels, embed_dims, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed patches.

        Args:
            x (torch.Tensor): (B, C_in, H, W), H and W multiples of the patch.

        Returns:
            torch.Tensor: (B, C_out, H / patch, W / patch).
        """
        return self.act(layer_norm_2d(self.projection(x), self.norm))
