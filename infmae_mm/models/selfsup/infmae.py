"""InfMAE: masked image modelling for infrared images."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from infmae_mm.registry import register_in_hosts
from ..masking import IAMMask, IAMMasking, check_token_grid

#: Fields that ``IAMMaskGenerator`` writes and ``PackInputs`` must carry.
MASK_KEYS = ('ids_keep', 'ids_restore', 'mask', 'mask_stage1', 'mask_stage2')


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class InfMAE(BaseSelfSupervisor):
    """InfMAE (`arXiv:2402.00407 <https://arxiv.org/abs/2402.00407>`_).

    ``loss`` runs: information-aware masks -> ``InfMAEViT`` (masked conv
    stages, stage 3 on visible tokens, multi-scale fusion, norm) ->
    ``InfMAEPretrainDecoder`` -> ``InfMAEReconstructionHead``.

    The masks come from one of two places:

    * the data pipeline (``IAMMaskGenerator`` followed by
      ``PackInputs(algorithm_keys=MASK_KEYS)``), the default: scorers that
      need no weights, computed per image on raw pixels in the data workers;
    * ``mask_generator`` (an :class:`IAMMasking` config), computed per batch
      on the normalised input; required for the official ``'linear'``
      scorer, whose stored weights reproduce the official masks. When set it
      takes precedence over masks in the data samples.

    Args:
        backbone (dict): ``InfMAEViT`` config.
        neck (dict): ``InfMAEPretrainDecoder`` config.
        head (dict): ``InfMAEReconstructionHead`` config.
        stage_fusion (dict, optional): ``InfMAEStageFusion`` config; missing
            channel settings are filled from the backbone. None trains
            without multi-scale fusion (the paper's ablation).
        mask_generator (dict, optional): ``IAMMasking`` arguments for
            in-model masks. Defaults to None (masks from the pipeline).
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 stage_fusion: Optional[dict] = dict(
                     type='InfMAEStageFusion'),
                 mask_generator: Optional[dict] = None,
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

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Unmasked multi-scale features (F1, F2, F3) of (B, C, H, W) inputs."""
        return self.backbone(inputs, mask=None)

    def compute_masks(self,
                      inputs: torch.Tensor,
                      data_samples: Optional[List[DataSample]] = None
                      ) -> IAMMask:
        """The batch's IAM masks, from ``mask_generator`` or the samples.

        Raises:
            ValueError: If neither source provides masks, or the samples'
                masks do not fit the batch.
        """
        grid = check_token_grid(inputs.shape[2], inputs.shape[3],
                                self.head.patch_size)
        if self.mask_generator is not None:
            return self.mask_generator(inputs)
        if not data_samples or not all(
                k in data_samples[0] for k in ('ids_keep', 'ids_restore',
                                               'mask')):
            raise ValueError(
                'InfMAE found no information-aware masks: add '
                "dict(type='IAMMaskGenerator') to the training pipeline "
                "before dict(type='PackInputs', algorithm_keys=MASK_KEYS) "
                '(see infmae_mm.models.selfsup.infmae.MASK_KEYS), or set '
                "model.mask_generator=dict(scorer='linear') to mask inside "
                'the model.')

        def stack(key: str) -> torch.Tensor:
            return torch.stack([
                torch.as_tensor(s.get(key)) for s in data_samples
            ]).to(inputs.device)

        mask = stack('mask').flatten(1).float()
        if mask.shape[1] != grid[0] * grid[1]:
            raise ValueError(
                f'The pipeline masks have {mask.shape[1]} tokens but the '
                f'{inputs.shape[2]}x{inputs.shape[3]} inputs have '
                f'{grid[0] * grid[1]}; IAMMaskGenerator must run after every '
                f'transform that changes the image size.')
        stage_masks = None
        if all(k in data_samples[0] for k in ('mask_stage1', 'mask_stage2')):
            stage_masks = tuple(
                stack(k).float().unsqueeze(1)
                for k in ('mask_stage1', 'mask_stage2'))
        return IAMMask(
            stack('ids_keep').long(),
            stack('ids_restore').long(), mask, stage_masks)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Masked reconstruction loss of a normalised (B, C, H, W) batch."""
        pred, mask = self._predict_patches(inputs, data_samples)
        return dict(loss=self.head.loss(pred, inputs, mask))

    def _predict_patches(
            self, inputs: torch.Tensor,
            data_samples: Optional[List[DataSample]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        iam = self.compute_masks(inputs, data_samples)
        latent, mask, ids_restore = self.backbone(inputs, iam,
                                                  self.stage_fusion)
        grid = (inputs.shape[2] // self.head.patch_size,
                inputs.shape[3] // self.head.patch_size)
        return self.neck(latent, ids_restore, grid), mask

    @torch.no_grad()
    def reconstruct(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[DataSample]] = None
    ) -> Dict[str, torch.Tensor]:
        """Reconstruct a normalised batch for inspection.

        Returns:
            dict: ``pred`` (B, C', H, W) predicted image in the normalised
            space (per-patch statistics restored from the input when the
            head uses ``norm_pix``), ``mask`` (B, 1, H, W) pixel mask with
            1 = masked, and ``target`` (B, C', H, W) the image the head
            compares against.
        """
        pred, mask = self._predict_patches(inputs, data_samples)
        head = self.head
        grid = (inputs.shape[2] // head.patch_size,
                inputs.shape[3] // head.patch_size)
        target_imgs = head.target_images(inputs)
        if head.norm_pix:
            mean, std = head.patch_statistics(head.patchify(target_imgs))
            pred = pred * std + mean
        pixel_mask = mask.reshape(-1, 1, *grid)
        pixel_mask = pixel_mask.repeat_interleave(
            head.patch_size, 2).repeat_interleave(head.patch_size, 3)
        return dict(
            pred=head.unpatchify(pred, grid),
            mask=pixel_mask,
            target=target_imgs)
