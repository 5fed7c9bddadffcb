"""InfMAE: masked image modelling for infrared images."""
import inspect
import logging
from typing import Dict, List, Optional, Union

import torch
from mmengine.logging import print_log
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from infmae_mm.registry import register_in_hosts
from ..masking import (IAM_MASK_KEY, IAMMask, IAMMasking, collate_masks,
                       shuffle_ids)
from .foreign_checkpoint import ForeignCheckpointCheckMixin
from .reconstruction_predict import ReconstructionPredictMixin


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class InfMAE(ForeignCheckpointCheckMixin, ReconstructionPredictMixin,
             BaseSelfSupervisor):
    """InfMAE (`arXiv:2402.00407 <https://arxiv.org/abs/2402.00407>`_).

    ``loss`` reads like mmpretrain's MAE once the masks are known: backbone
    ``InfMAEViT`` (conv stages at the visible patches, stage 3 on the visible
    tokens, multi-scale fusion, norm) -> neck ``InfMAEPretrainDecoder`` ->
    head ``InfMAEReconstructionHead``.

    The masks come from one of two places:

    * the data pipeline (``IAMMaskGenerator`` followed by
      ``PackInputs(algorithm_keys=['iam_mask'])``, the one field named by
      :data:`~infmae_mm.models.masking.IAM_MASK_KEY`), the default: scorers
      that need no weights, computed per image on raw pixels in the data
      workers;
    * ``mask_generator`` (an :class:`IAMMasking` config), computed per batch
      on the normalised input; required for the official ``'linear'``
      scorer, whose stored weights reproduce the official masks. When set it
      takes precedence over masks in the data samples.

    ``predict`` (``mode='predict'``, the validation loop) reconstructs held-out
    images under fixed masks for ``ReconstructionMetric``
    (:class:`ReconstructionPredictMixin`).

    Args:
        backbone (dict): ``InfMAEViT`` config.
        neck (dict): ``InfMAEPretrainDecoder`` config.
        head (dict): ``InfMAEReconstructionHead`` config.
        stage_fusion (dict, optional): ``InfMAEStageFusion`` config; missing
            channel settings are filled from the backbone. None trains
            without multi-scale fusion (the paper's ablation).
        mask_generator (dict, optional): ``IAMMasking`` arguments for
            in-model masks. Defaults to None (masks from the pipeline).
        decode_masked_only (bool): In ``loss``, have the decoder predict
            only the masked patches, the only ones the head scores (its last
            block computes no outputs at visible tokens): the same loss and
            gradients for less work. Needs a neck whose ``forward`` takes
            ``query_ids`` (the package's decoders do); with any other neck
            the full prediction is used and a warning logged. Predictions
            for inspection (``reconstruct``) always cover every patch.
            Defaults to True.
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 stage_fusion: Optional[dict] = dict(type='InfMAEStageFusion'),
                 mask_generator: Optional[dict] = None,
                 decode_masked_only: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if stage_fusion is not None:
            dims = self.backbone.embed_dims
            stage_fusion = dict(stage_fusion)
            stage_fusion.setdefault('in_channels', dims[:2])
            stage_fusion.setdefault('out_channels', dims[2])
            stage_fusion = MODELS.build(stage_fusion)
        self.stage_fusion = stage_fusion
        self.mask_generator = None if mask_generator is None else IAMMasking(
            in_channels=self.backbone.in_channels, **mask_generator)
        if decode_masked_only and 'query_ids' not in inspect.signature(
                self.neck.forward).parameters:
            print_log(
                f'InfMAE: model.decode_masked_only=True, but the neck '
                f'{type(self.neck).__name__} takes no query_ids: it predicts '
                f'every patch (set model.decode_masked_only=False to silence '
                f'this).',
                logger='current',
                level=logging.WARNING)
            decode_masked_only = False
        self.decode_masked_only = decode_masked_only

    def extract_feat(self,
                     inputs: torch.Tensor,
                     stage: str = 'backbone') -> Union[tuple, torch.Tensor]:
        """Unmasked features of (B, C, H, W) inputs (mmpretrain's
        ``FeatureExtractor(...)(img, stage=...)`` passes ``stage``).

        Args:
            inputs (torch.Tensor): (B, C, H, W) normalised images.
            stage (str): ``'backbone'`` (default): the backbone's outputs,
                F1 (B, C1, H/4, W/4), F2 (B, C2, H/8, W/8) and
                F3 (B, C3, H/16, W/16); ``'F1'``, ``'F2'`` or ``'F3'``: one
                of them; ``'pooled'``: F3 averaged over space, (B, C3).

        Returns:
            tuple | torch.Tensor: The features of ``stage``.
        """
        stages = ('backbone', 'F1', 'F2', 'F3', 'pooled')
        if stage not in stages:
            raise ValueError(
                f"InfMAE.extract_feat: stage={stage!r} is not one of "
                f"{stages}; stage='backbone' gives F1-F3 (the pre-training "
                f'decoder needs masks and gives no features).')
        feats = self.backbone(inputs, mask=None)
        if stage == 'backbone':
            return feats
        f3 = feats[-1]
        if stage == 'pooled':
            return f3.mean(dim=(2, 3))
        return feats[int(stage[1]) - 1]

    def compute_masks(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[List[DataSample]] = None) -> IAMMask:
        """The batch's IAM masks, from ``mask_generator`` or the samples.

        Args:
            inputs (torch.Tensor): (B, C, H, W) normalised batch.
            data_samples (list[DataSample], optional): Samples carrying the
                pipeline's ``iam_mask`` field.

        Returns:
            IAMMask: (B, N_vis) ids, (B, N) restore ids, (B, N) mask.

        Raises:
            ValueError: If neither source provides masks, or the samples'
                masks do not fit the batch.
        """
        if self.mask_generator is not None:
            return self.mask_generator(inputs)
        if not data_samples or not all(IAM_MASK_KEY in s
                                       for s in data_samples):
            raise ValueError(
                'InfMAE found no information-aware masks: add '
                "dict(type='IAMMaskGenerator') to the training pipeline "
                "before dict(type='PackInputs', algorithm_keys=['iam_mask']) "
                "(the field infmae_mm.models.masking.IAM_MASK_KEY), or set "
                "model.mask_generator=dict(scorer='linear') to mask inside "
                'the model.')
        masks = collate_masks([s.get(IAM_MASK_KEY) for s in data_samples],
                              inputs.device)
        num_tokens = (inputs.shape[2] // self.head.patch_size) * (
            inputs.shape[3] // self.head.patch_size)
        if masks.mask.shape[1] != num_tokens:
            raise ValueError(
                f'The pipeline masks have {masks.mask.shape[1]} tokens but '
                f'the {inputs.shape[2]}x{inputs.shape[3]} inputs have '
                f'{num_tokens}; IAMMaskGenerator must run after every '
                f'transform that changes the image size.')
        return masks

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Masked reconstruction loss of a normalised (B, C, H, W) batch."""
        masks = self.compute_masks(inputs, data_samples)
        latent, mask, _ = self.backbone(inputs, masks, self.stage_fusion)
        if not self.decode_masked_only:
            pred = self.neck(latent, masks, images=inputs)
            return dict(loss=self.head.loss(pred, inputs, mask))
        # The masked tokens follow the N_vis visible ones in shuffled order.
        masked_ids = shuffle_ids(masks)[1][:, latent.shape[1]:]
        pred = self.neck(latent, masks, images=inputs, query_ids=masked_ids)
        return dict(loss=self.head.loss(pred, inputs, mask, masked_ids))

    @torch.no_grad()
    def reconstruct(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[List[DataSample]] = None,
            masks: Optional[IAMMask] = None) -> Dict[str, torch.Tensor]:
        """Reconstruct a normalised batch for inspection and evaluation.

        Args:
            inputs (torch.Tensor): (B, C, H, W) normalised batch.
            data_samples (list[DataSample], optional): Samples with pipeline
                masks (see :meth:`compute_masks`).
            masks (IAMMask, optional): Masks to use instead (e.g. fixed
                evaluation masks); they take precedence over both sources.

        Returns:
            dict: ``pred`` (B, C', H, W) predicted image in the normalised
            space (per-patch statistics restored from the input when the
            head uses ``norm_pix``), ``mask`` (B, 1, H, W) pixel mask with
            1 = masked, and ``target`` (B, C', H, W) the image the head
            compares against.
        """
        if masks is None:
            masks = self.compute_masks(inputs, data_samples)
        latent, mask, _ = self.backbone(inputs, masks, self.stage_fusion)
        pred = self.neck(latent, masks, images=inputs)
        return self.head.reconstruction(pred, inputs, mask)
