"""UNIP: NMI-guided hybrid-attention distillation (ICLR 2025)."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from infmae_mm.registry import register_in_hosts
from ..layers.attention_logits import vit_attention_logits
from .attention_teacher import FrozenAttentionTeacher
from .foreign_checkpoint import ForeignCheckpointCheckMixin


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class UNIP(ForeignCheckpointCheckMixin, BaseSelfSupervisor):
    """UNIP (`arXiv:2502.02257 <https://arxiv.org/abs/2502.02257>`_).

    A student ViT (``UNIPViT``) is trained from scratch to reproduce, at
    its last block, the pre-softmax attention of one layer of a frozen
    RGB-pre-trained ViT (the "hybrid" layer chosen by NMI). ``loss`` runs
    the teacher (truncated after that layer, no grad) and the student on the
    same normalised batch and applies ``AttentionDistillHead``: no masking,
    no pixel or feature target, no projector.

    The teacher is deliberately **outside the module tree**: it is not in
    ``parameters()`` (so no optimiser and no DDP gradient bucket sees it),
    not in ``state_dict()`` (checkpoints hold the student only; the teacher
    is read again from its file when the model is built) and never trains.
    ``to()`` / ``cuda()`` / ``half()`` move it with the model.

    Args:
        backbone (dict): Student config (``UNIPViT``); the heads of its
            last block must equal the teacher's.
        teacher (dict): :class:`FrozenAttentionTeacher` arguments: ``vit``
            (mmpretrain ``VisionTransformer`` config), ``layer`` (1-indexed),
            ``checkpoint``, ``prefix``.
        head (dict): Loss head. Defaults to ``AttentionDistillHead``.
        pretrained (str, optional): Student checkpoint to start from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 teacher: dict,
                 head: dict = dict(type='AttentionDistillHead'),
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        teacher_model = FrozenAttentionTeacher(**teacher)
        student_heads = self.backbone.layers[-1].attn.num_heads
        if student_heads != teacher_model.num_heads:
            raise ValueError(
                f'The student\'s last block has {student_heads} heads but '
                f'teacher layer {teacher_model.layer} has '
                f'{teacher_model.num_heads}; heads are matched one to one: '
                f'set model.backbone.last_layer_heads='
                f'{teacher_model.num_heads}.')
        # Not a submodule: see the class docstring.
        object.__setattr__(self, 'teacher', teacher_model)

    def _apply(self, fn, *args, **kwargs) -> 'UNIP':
        super()._apply(fn, *args, **kwargs)
        self.teacher._apply(fn, *args, **kwargs)
        return self

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The student's features of (B, C, H, W) inputs."""
        return self.backbone(inputs)

    def attention_pair(
            self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Student and teacher logits, each (B, H, 1 + N, 1 + N)."""
        teacher = self.teacher(inputs)
        student = vit_attention_logits(self.backbone, inputs, -1)
        return student, teacher

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Distillation loss of a normalised (B, C, H, W) batch."""
        student, teacher = self.attention_pair(inputs)
        return dict(loss=self.head.loss(student, teacher))

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """mmpretrain's modes; ``'predict'`` (``mim test``, the test loop) is
        refused with what to do instead: attention distillation has no
        prediction to score."""
        if mode == 'predict':
            raise NotImplementedError(
                'UNIP pre-training distils attention and has no prediction '
                'to test (mim test / model.test_step): take the student\'s '
                "features with mmpretrain's FeatureExtractor(config, "
                'pretrained=checkpoint) (no teacher file needed), or '
                'fine-tune it with a configs/seg/unip_* or configs/det '
                'config.')
        return super().forward(inputs, data_samples, mode)
