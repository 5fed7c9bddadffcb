"""What ``InfMAEViT`` accepts: its arch zoo and the checks of its arguments,
batches and masks, each with an error that says what to change."""
from typing import Dict, Mapping, Sequence, Tuple, Union

import torch

from ..masking import IAMMask, check_token_grid

#: Patch sizes of the three embeddings: stride 4, 8 and 16 overall.
PATCH_SIZES = (4, 2, 2)
#: Stride of the stage-3 tokens.
TOKEN_PATCH = 16
#: ``out_type`` choices (see ``InfMAEViT``).
OUT_TYPES = ('featmap', 'avg_featmap', 'raw')
#: Where the IAM stride (which sets the mask ratio) is configured.
IAM_STRIDE_KEYS = ("the stride of dict(type='IAMMaskGenerator') in "
                   'train_dataloader.dataset.pipeline (or '
                   'model.mask_generator.stride with in-model masking)')


def _arch(embed_dims: Tuple[int, int, int], depths: Tuple[int, int, int],
          num_heads: int) -> dict:
    return {'embed_dims': embed_dims, 'depths': depths, 'num_heads': num_heads}


#: Arch name (long and one-letter) -> embed_dims, depths and num_heads.
ARCH_ZOO: Dict[str, dict] = {
    **dict.fromkeys(['n', 'nano'], _arch((32, 48, 64), (1, 1, 2), 2)),
    **dict.fromkeys(['t', 'tiny'], _arch((64, 96, 192), (2, 2, 4), 3)),
    **dict.fromkeys(['s', 'small'], _arch((128, 256, 384), (2, 2, 11), 6)),
    **dict.fromkeys(['b', 'base'], _arch((256, 384, 768), (2, 2, 11), 12)),
    **dict.fromkeys(['l', 'large'], _arch((384, 768, 1024), (2, 2, 23), 16)),
}


def parse_arch(arch: Union[str, dict], zoo: Dict[str, dict]) -> dict:
    """The settings of ``arch``: a key of ``zoo`` (any case) or a dict with
    ``embed_dims``, ``depths`` and ``num_heads``; a copy.

    Raises:
        KeyError: For an unknown name or an incomplete dict.
    """
    if isinstance(arch, str):
        key = arch.lower()
        if key not in zoo:
            raise KeyError(f'Arch {arch!r} is not in the InfMAEViT arch '
                           f'zoo {sorted(set(zoo))}.')
        return dict(zoo[key])
    if not isinstance(arch, Mapping):
        raise TypeError(
            f'model.backbone.arch must be a name of the InfMAEViT arch zoo '
            f'{sorted(set(zoo))} or a dict with embed_dims, depths and '
            f'num_heads, got {type(arch).__name__} {arch!r}.')
    missing = {'embed_dims', 'depths', 'num_heads'} - set(arch)
    if missing:
        raise KeyError(f'A custom InfMAEViT arch needs {sorted(missing)}.')
    dims, depths = arch['embed_dims'], arch['depths']
    if not (isinstance(dims, Sequence) and isinstance(depths, Sequence)
            and len(dims) == 3 and len(depths) == 3):
        raise ValueError(
            f'model.backbone.arch: embed_dims and depths need 3 values each '
            f'(stages 1-3), got embed_dims={dims!r}, depths={depths!r}.')
    return dict(arch)


def check_out_type(out_type: str) -> str:
    """``out_type`` if it is one of :data:`OUT_TYPES`.

    Raises:
        ValueError: Otherwise; for ``'cls_token'`` saying what to use.
    """
    if out_type not in OUT_TYPES:
        advice = ''
        if out_type == 'cls_token':
            advice = (" InfMAEViT has no class token: use out_type="
                      "'avg_featmap' (the F3 tokens averaged) for a "
                      'classification head.')
        raise ValueError(f'model.backbone.out_type must be one of '
                         f'{OUT_TYPES}, got {out_type!r}.{advice}')
    return out_type


def format_output(feat: torch.Tensor, out_type: str) -> torch.Tensor:
    """A (B, C, h, w) feature map in the form ``out_type`` names: the map, its
    spatial average (B, C) or the flattened map (B, h * w, C)."""
    if out_type == 'avg_featmap':
        return feat.mean(dim=(2, 3))
    if out_type == 'raw':
        return feat.flatten(2).transpose(1, 2)
    return feat


def check_modes(frozen_stages: int, masked_conv: str) -> None:
    """Refuse a ``frozen_stages`` other than -1 to 3 and a ``masked_conv``
    other than ``'visible'`` and ``'dense'`` (``ValueError``)."""
    if frozen_stages not in (-1, 0, 1, 2, 3):
        raise ValueError(f'frozen_stages must be -1 or 0-3, got '
                         f'{frozen_stages}.')
    if masked_conv not in ('visible', 'dense'):
        raise ValueError(f"masked_conv must be 'visible' or 'dense', got "
                         f'{masked_conv!r}.')


def check_out_indices(out_indices: Sequence[int]) -> Tuple[int, ...]:
    """``out_indices`` as a tuple, if every index is 0, 1 or 2."""
    for i in out_indices:
        if i not in (0, 1, 2):
            raise ValueError(f'out_indices must be in (0, 1, 2) '
                             f'(F1, F2, F3), got {tuple(out_indices)}.')
    return tuple(out_indices)


def check_batch(x: torch.Tensor, in_channels: int) -> Tuple[int, int]:
    """Validate a (B, C, H, W) batch and return its token grid (H / 16, W /
    16).

    Raises:
        ValueError: For another rank, another channel count than
            ``in_channels``, or sizes that are not multiples of 16.
    """
    if x.dim() != 4:
        raise ValueError(f'InfMAEViT expects a (B, C, H, W) batch, got '
                         f'shape {tuple(x.shape)}.')
    if x.shape[1] != in_channels:
        raise ValueError(
            f'InfMAEViT was built with in_channels={in_channels} '
            f'but got {x.shape[1]}-channel images. Either set '
            f'model.backbone.in_channels={x.shape[1]} (and the data '
            f'preprocessor mean/std to {x.shape[1]} values), or load '
            f"images with color_type='"
            f"{'grayscale' if in_channels == 1 else 'color'}'.")
    return check_token_grid(x.shape[2], x.shape[3], TOKEN_PATCH)


def check_mask_type(mask: object) -> IAMMask:
    """``mask`` if it is an :class:`IAMMask`, else a ``TypeError`` that says
    where masks come from."""
    if not isinstance(mask, IAMMask):
        raise TypeError(
            f'InfMAEViT takes an IAMMask (or None for features), got '
            f'{type(mask).__name__}. Masks come from the data pipeline '
            f"(IAMMaskGenerator) or model.mask_generator of InfMAE; "
            f'infmae_mm.models.masking.select_tokens builds one from '
            f'scores.')
    return mask


def check_mask_fits(iam: IAMMask, x: torch.Tensor, grid: Tuple[int, int],
                    window_size: object) -> None:
    """Refuse a masked pass the backbone cannot run.

    Args:
        iam (IAMMask): The masks, ``mask`` (B, N).
        x (torch.Tensor): The (B, C, H, W) batch.
        grid (tuple[int, int]): Its token grid; N must be h * w.
        window_size (int, optional): The backbone's window; must be None.

    Raises:
        ValueError: For masks of another batch or image size, or a
            windowed backbone.
    """
    num_tokens = grid[0] * grid[1]
    if iam.mask.shape != (x.shape[0], num_tokens):
        raise ValueError(
            f'The IAM mask has shape {tuple(iam.mask.shape)} but a '
            f'{x.shape[2]}x{x.shape[3]} batch of {x.shape[0]} needs '
            f'({x.shape[0]}, {num_tokens}); was it computed for another '
            f'image size (crop after IAMMaskGenerator)?')
    if window_size is not None:
        raise ValueError('Windowed attention is for fine-tuning; build '
                         'the pre-training backbone with window_size='
                         'None.')
