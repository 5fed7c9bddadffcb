"""UNIP's loss: row-wise KL(teacher || student) of attention."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from infmae_mm.registry import register_in_hosts


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class AttentionDistillHead(nn.Module):
    """Match the student's attention to the teacher's, head i to head i.

    The loss is, with ``p = softmax(logits / temperature)`` over the keys,

        mean over (b, h, q) of sum_k p_t(k|q) (log p_t(k|q) - log p_s(k|q)),

    the forward KL of every attention row, summed over the keys and averaged
    over the batch, the heads and all query rows (cls row included), in
    float32 whatever the autocast dtype. With the default temperature 1 it
    is UNIP's loss (the official code stores a temperature but never applies
    it). Adding a constant to a row of logits does not change it.

    Args:
        temperature (float): Divides both logit tensors. Defaults to 1.
        loss_weight (float): Scales the loss. Defaults to 1.
    """

    def __init__(self,
                 temperature: float = 1.,
                 loss_weight: float = 1.) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be positive, got '
                             f'{temperature}; set model.head.temperature.')
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)

    def loss(self, student: torch.Tensor,
             teacher: torch.Tensor) -> torch.Tensor:
        """The distillation loss.

        Args:
            student (torch.Tensor): Student logits (B, H, N, N).
            teacher (torch.Tensor): Teacher logits (B, H, N, N).

        Returns:
            torch.Tensor: Scalar loss.
        """
        if student.shape != teacher.shape:
            if student.shape[1] != teacher.shape[1]:
                raise ValueError(
                    f'The student has {student.shape[1]} heads in its last '
                    f'block, the teacher {teacher.shape[1]} at the chosen '
                    f'layer; heads are matched one to one: set '
                    f'model.backbone.last_layer_heads={teacher.shape[1]}.')
            raise ValueError(
                f'Student attention {tuple(student.shape)} and teacher '
                f'attention {tuple(teacher.shape)} differ: both must see the '
                f'same tokens (same patch size and input size).')
        log_s = F.log_softmax(student.float() / self.temperature, dim=-1)
        log_t = F.log_softmax(teacher.float() / self.temperature, dim=-1)
        kl = F.kl_div(log_s, log_t, reduction='none', log_target=True)
        return self.loss_weight * kl.sum(-1).mean()
