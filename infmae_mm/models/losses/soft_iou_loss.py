"""SoftIoULoss: the soft (differentiable) IoU loss of the IRSTD field."""
from typing import Optional

import torch
import torch.nn as nn

from infmae_mm.registry import register_in_hosts


def target_probability(seg_logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel target probability of a binary segmentation head.

    Args:
        seg_logits (torch.Tensor): (N, 1, H, W) logits of a sigmoid head or
            (N, 2, H, W) background/target logits of a softmax head.

    Returns:
        torch.Tensor: (N, H, W) target probability.

    Raises:
        ValueError: For other shapes.
    """
    if seg_logits.dim() != 4 or seg_logits.shape[1] not in (1, 2):
        raise ValueError('a binary head gives (N, 1, H, W) or (N, 2, H, W) '
                         f'logits, got {tuple(seg_logits.shape)}')
    if seg_logits.shape[1] == 1:
        return seg_logits[:, 0].sigmoid()
    # softmax([l0, l1])[1] == sigmoid(l1 - l0), without the extra channel
    return (seg_logits[:, 1] - seg_logits[:, 0]).sigmoid()


@register_in_hosts('MODELS', hosts=('mmseg', ))
class SoftIoULoss(nn.Module):
    """Soft IoU loss on target probabilities, as IRSTD methods train.

    With the target probability ``p`` (sigmoid of a 1-channel head, or the
    target channel of a 2-channel softmax) and the 0/1 label ``t``, over
    the valid pixels (label != ``ignore_index``) of one image::

        inter = sum(p * t)
        loss = 1 - (inter + smooth) / (sum(p) + sum(t) - inter + smooth)

    averaged over the images of the batch (``per_image=True``, BasicIRSTD's
    form), or computed once over the pixels of the whole batch
    (``per_image=False``, DNANet's form). Unlike a per-pixel loss, every
    image's few target pixels weigh as much as its background: a pixel loss
    averaged over a 512x512 image is dominated by ~99.9 % background.
    ``smooth = 1`` keeps the loss defined on images without targets, where
    it becomes ``1 - 1 / (sum(p) + 1)`` and pushes every score down.

    Padded pixels (label ``ignore_index``, e.g. 255 from mmseg's
    ``SegDataPreProcessor`` and ``Pad``) count neither in ``p`` nor in
    ``t``.

    Args:
        smooth (float): Added to numerator and denominator, > 0. Defaults
            to 1.0, the field's value.
        per_image (bool): Average the per-image losses (True) or pool the
            batch (False). Defaults to True.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Name in the training log; must start with
            ``'loss_'`` to be back-propagated. Defaults to 'loss_softiou'.

    Example:
        >>> import torch
        >>> loss = SoftIoULoss()
        >>> logits = torch.full((2, 1, 8, 8), -20.)
        >>> labels = torch.zeros(2, 8, 8, dtype=torch.long)
        >>> labels[0, 2, 2] = 1
        >>> logits[0, 0, 2, 2] = 20.
        >>> round(float(loss(logits, labels)), 4)
        0.0
    """

    def __init__(self,
                 smooth: float = 1.0,
                 per_image: bool = True,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_softiou') -> None:
        super().__init__()
        if smooth <= 0:
            # 0 would make an image without targets and predictions 0 / 0
            raise ValueError(f'smooth must be > 0, got {smooth}')
        self.smooth = float(smooth)
        self.per_image = per_image
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    def forward(self,
                seg_logits: torch.Tensor,
                seg_label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: Optional[int] = 255,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            seg_logits (torch.Tensor): (N, 1, H, W) or (N, 2, H, W) logits.
            seg_label (torch.Tensor): (N, H, W) labels 0/1 (or
                ``ignore_index``).
            weight (torch.Tensor, optional): (N, H, W) per-pixel weights
                (mmseg's pixel samplers); None weighs every pixel 1.
            ignore_index (int, optional): Label of pixels left out.
                Defaults to 255.
            **kwargs: Other arguments of mmseg's loss call, unused.

        Returns:
            torch.Tensor: The scalar loss.
        """
        prob = target_probability(seg_logits)
        if prob.shape != seg_label.shape:
            raise ValueError(f'logits {tuple(seg_logits.shape)} and labels '
                             f'{tuple(seg_label.shape)} differ in size')
        valid = torch.ones_like(prob) if ignore_index is None else (
            seg_label != ignore_index).to(prob)
        if weight is not None:
            valid = valid * weight.to(prob)
        prob = prob * valid
        target = (seg_label == 1).to(prob) * valid
        dims = (1, 2) if self.per_image else (0, 1, 2)
        inter = (prob * target).sum(dims)
        union = prob.sum(dims) + target.sum(dims) - inter
        iou = (inter + self.smooth) / (union + self.smooth)
        return self.loss_weight * (1 - iou).mean()

    @property
    def loss_name(self) -> str:
        """Name of the loss item in mmseg's loss dict."""
        return self._loss_name
