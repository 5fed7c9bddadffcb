"""The weight gradient of a depthwise convolution: the reference and a CPU
kernel."""
import torch

from .dispatch import kernel_for, register_kernel, register_reference


@register_reference('depthwise_weight_grad')
def depthwise_weight_grad_reference(x: torch.Tensor, g: torch.Tensor,
                                    k: int) -> torch.Tensor:
    """Per-channel correlation of a batch of maps, summed over the batch: the
    weight gradient of an unpadded depthwise k x k convolution of ``x`` whose
    output gradient is ``g``, by PyTorch's ``conv2d_weight``.

    ``out[c, 0, i, j] = sum_{n, y, v} x[n, c, y + i, v + j] * g[n, c, y, v]``.

    Args:
        x (torch.Tensor): (M, C, S, S) inputs.
        g (torch.Tensor): (M, C, S - k + 1, S - k + 1) output gradient.
        k (int): Kernel side.

    Returns:
        torch.Tensor: (C, 1, k, k).
    """
    C = x.shape[1]
    return torch.nn.grad.conv2d_weight(x, (C, 1, k, k), g, groups=C)


@register_kernel('depthwise_weight_grad', 'cpu')
def depthwise_weight_grad_cpu(x: torch.Tensor, g: torch.Tensor,
                              k: int) -> torch.Tensor:
    """:func:`depthwise_weight_grad_reference` on the CPU, one product and sum
    per tap over channels-last values.

    PyTorch's depthwise weight gradient (oneDNN) takes about 4x (InfMAE's
    stage 1) to 8x (stage 2) the forward's time at these shapes on the CPU;
    the tap loop a third to a quarter of it (the same sums, summation order
    aside). Shapes as the reference; ``x`` and ``g`` are read fastest when
    channels-last in memory.
    """
    C = x.shape[1]
    side = g.shape[-1]
    x = x.permute(0, 2, 3, 1)  # (M, S, S, C) views of the storage
    g = g.permute(0, 2, 3, 1)
    product = torch.empty(g.shape, dtype=g.dtype)
    out = g.new_empty(k, k, C)
    for i in range(k):
        for j in range(k):
            torch.mul(x[:, i:i + side, j:j + side], g, out=product)
            torch.sum(product.view(-1, C), 0, out=out[i, j])
    return out.permute(2, 0, 1).reshape(C, 1, k, k)


def depthwise_weight_grad(x: torch.Tensor, g: torch.Tensor,
                          k: int) -> torch.Tensor:
    """The (C, 1, k, k) weight gradient of an unpadded depthwise conv of
    (M, C, S, S) ``x`` with (M, C, S - k + 1, S - k + 1) output gradient
    ``g``, by the kernel of their device (:func:`.kernel_for`)."""
    return kernel_for('depthwise_weight_grad', x)(x, g, k)
