"""MAE's weight initialisation, shared by the ViT-like models."""
import torch.nn as nn

from .conv_block import Pointwise


def mae_init_(module: nn.Module) -> None:
    """Initialise ``module`` in place as MAE does.

    Every ``nn.Linear`` inside it gets xavier-uniform weights and zero
    biases; every ``nn.LayerNorm`` weight 1 and bias 0. Patch projections
    (convolutions) are left to :func:`xavier_init_flat_`, and 1x1
    convolutions written as linear maps (:class:`~.conv_block.Pointwise`)
    keep PyTorch's default, as the official convolutions do.

    Args:
        module (nn.Module): The model (searched recursively).
    """
    for m in module.modules():
        if isinstance(m, nn.Linear) and not isinstance(m, Pointwise):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def xavier_init_flat_(weight: nn.Parameter) -> None:
    """Xavier-uniform on a kernel seen as a (out, in * k * k) matrix (MAE's
    init of its patch projection)."""
    nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
