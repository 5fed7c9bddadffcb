"""Strided convolutional patch embedding of the InfMAE conv stages."""
import torch
import torch.nn as nn


class ConvPatchEmbed(nn.Module):
    """Conv(kernel = stride = patch) -> LayerNorm -> GELU, channels-last.

    The k4/k2/k2 embeddings between InfMAE stages. Their kernels tile the image
    without overlap, so every output position depends only on the input
    positions of its own patch: the same module embeds a whole map and a
    batch of visible blocks of it.

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
            x (torch.Tensor): (B, H, W, C_in) channels-last, H and W
                multiples of the patch.

        Returns:
            torch.Tensor: (B, H / patch, W / patch, C_out).
        """
        x = self.projection(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.act(self.norm(x))
