"""Plain-ViT weights from timm/official (MAE, DINO, iBOT, UNIP) or mmpretrain
files, in mmpretrain ``VisionTransformer`` names.

Used by UNIP's frozen teacher (any RGB-pre-trained ViT) and by
``tools/model_converters/unip_to_mm.py``. Files are read with the package's
allow-list loader; the caller states which keys must be present, and a file
that lacks one fails naming them (never a silently random layer).
"""
import re
from typing import Dict, Iterable, Optional, Tuple

import torch

from infmae_mm.utils.checkpoint import safe_load_checkpoint

#: timm / official ViT names -> mmpretrain ``VisionTransformer`` names.
_TIMM_TO_MMPRETRAIN = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^blocks\.(\d+)\.gamma_1$', r'layers.\1.attn.gamma1.weight'),
    (r'^blocks\.(\d+)\.gamma_2$', r'layers.\1.ffn.gamma2.weight'),
    (r'^blocks\.(\d+)\.ls1\.gamma$', r'layers.\1.attn.gamma1.weight'),
    (r'^blocks\.(\d+)\.ls2\.gamma$', r'layers.\1.ffn.gamma2.weight'),
    (r'^norm\.', 'ln1.'),
]


def timm_to_mmpretrain_vit(
        state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a timm-layout ViT state dict (``blocks.i.mlp.fc1`` ...) to
    mmpretrain's (``layers.i.ffn.layers.0.0`` ...).

    Names without a rule
    (``cls_token``, ``pos_embed``, a classifier ``head``) are kept.
    """
    out = {}
    for key, value in state_dict.items():
        new = key
        for pattern, repl in _TIMM_TO_MMPRETRAIN:
            new, n = re.subn(pattern, repl, key)
            if n:
                break
        out[new] = value
    return out


def select_vit_state_dict(
        checkpoint: dict,
        prefix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """The ViT's own tensors, in mmpretrain names, from a loaded file.

    Args:
        checkpoint (dict): A loaded file: a bare state dict, or one under
            ``state_dict`` (mmengine), ``model`` (MAE, UNIP), ``teacher``
            (DINO/iBOT training files) or ``module``.
        prefix (str, optional): Prefix of the ViT's keys, stripped (e.g.
            ``'backbone.'``, ``'module.backbone.'``). None finds it from the
            single key ending in ``cls_token``.

    Returns:
        dict: The ViT's tensors with the prefix removed, renamed from the
        timm layout when the file uses it.
    """
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint should be a dict, got '
                        f'{type(checkpoint).__name__}.')
    state_dict = checkpoint
    for key in ('state_dict', 'model', 'teacher', 'module'):
        if isinstance(checkpoint.get(key), dict):
            state_dict = checkpoint[key]
            break
    if prefix is None:
        found = sorted(k[:-len('cls_token')] for k in state_dict
                       if k.endswith('cls_token'))
        if len(found) != 1:
            raise KeyError(
                f'Cannot tell where the ViT is in this checkpoint: '
                f'{len(found)} keys end with "cls_token" '
                f'({found[:4]}); set the prefix of its keys explicitly '
                f'(e.g. prefix="backbone.").')
        prefix = found[0]
    selected = {
        k[len(prefix):]: v
        for k, v in state_dict.items()
        if k.startswith(prefix) and isinstance(v, torch.Tensor)
    }
    if any(k.startswith('blocks.') for k in selected):
        selected = timm_to_mmpretrain_vit(selected)
    return selected


def load_vit_weights(vit: torch.nn.Module,
                     path: str,
                     prefix: Optional[str] = None,
                     required: Optional[Iterable[str]] = None,
                     what: str = 'ViT',
                     config_key: Optional[str] = None) -> Dict[str, list]:
    """Load a ViT checkpoint into an mmpretrain ``VisionTransformer``.

    Args:
        vit (nn.Module): The model.
        path (str): Checkpoint file (read with the allow-list loader).
        prefix (str, optional): See :func:`select_vit_state_dict`.
        required (Iterable[str], optional): Keys of ``vit.state_dict()`` the
            file must hold. Defaults to all of them.
        what (str): Name of the model in error messages.
        config_key (str, optional): The config key of the ViT's settings
            (e.g. ``'model.teacher.vit'``), named when the file's shapes
            differ from the model's.

    Returns:
        dict: ``missing`` (keys not required and not in the file) and
        ``unexpected`` (keys of the file the model does not have).

    Raises:
        KeyError: If a required key is missing; the message lists them.
        ValueError: If tensors of the file have other shapes than the
            model's (another width or patch size); the message names the
            file's width and ``config_key``.
    """
    state_dict = select_vit_state_dict(safe_load_checkpoint(path), prefix)
    own = vit.state_dict()
    check_vit_shapes(state_dict, own, path, what, config_key)
    required = set(own if required is None else required)
    missing_required = sorted(required - set(state_dict))
    if missing_required:
        shown = ', '.join(missing_required[:12])
        more = len(missing_required) - 12
        raise KeyError(
            f'{what} checkpoint {path} lacks {len(missing_required)} required '
            f'weights: {shown}' +
            (f', ... ({more} more)' if more > 0 else '') +
            f'. It holds {len(state_dict)} tensors (first: '
            f'{sorted(state_dict)[:5]}). Check that it is the right file and '
            f'set the key prefix if its ViT sits under one.')
    result = vit.load_state_dict(
        {k: v
         for k, v in state_dict.items() if k in own}, strict=False)
    return dict(
        missing=list(result.missing_keys),
        unexpected=sorted(set(state_dict) - set(own)))


def _vit_width(state_dict: Dict[str, torch.Tensor]) -> Optional[int]:
    """Embedding width of a ViT state dict (its cls token or patch embedding),
    or None if neither is there."""
    for key in ('cls_token', 'patch_embed.projection.weight'):
        value = state_dict.get(key)
        if isinstance(value, torch.Tensor) and value.dim() >= 2:
            return int(value.shape[-1] if key ==
                       'cls_token' else value.shape[0])
    return None


def check_vit_shapes(state_dict: Dict[str, torch.Tensor],
                     own: Dict[str, torch.Tensor],
                     path: str,
                     what: str = 'ViT',
                     config_key: Optional[str] = None) -> None:
    """Refuse a ViT file whose tensors have other shapes than the model's
    (torch's own ``size mismatch`` error names neither the file nor the
    setting).

    Raises:
        ValueError: Naming the file, its width, the model's and
            ``config_key``.
    """
    mismatched = [
        f'{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    ]
    if not mismatched:
        return
    file_width, model_width = _vit_width(state_dict), _vit_width(own)
    setting = config_key or 'the ViT config'
    differ = f'{len(mismatched)} tensors differ ({"; ".join(mismatched[:3])})'
    if file_width != model_width:
        raise ValueError(
            f'{what} checkpoint {path} holds a ViT of width {file_width}, but '
            f'{setting} builds one of width {model_width}: {differ}. Set '
            f'{setting}.arch to the file\'s architecture (width 384: '
            f'\'small\', 768: \'base\', 1024: \'large\') or give the '
            f'checkpoint of the configured ViT.')
    raise ValueError(
        f'{what} checkpoint {path} has the width of {setting} '
        f'({model_width}) but other shapes: {differ}. Set {setting}.img_size '
        f'and {setting}.patch_size to the file\'s.')


def adapt_vit_state_dict(state_dict: Dict[str, torch.Tensor],
                         grid: Optional[Tuple[int, int]] = None,
                         layer_scale_init: float = 0.,
                         drop_final_norm: bool = False,
                         num_extra_tokens: int = 1) -> Dict[str, torch.Tensor]:
    """Prepare a plain-ViT state dict (mmpretrain names) for fine-tuning.

    * The position table is resized bicubically to ``grid`` (e.g. 14x14 ->
      32x32 for 512-pixel inputs), the cls row kept as it is.
    * With ``layer_scale_init > 0``, BEiT-style layer scales
      (``layers.i.attn.gamma1.weight``, ``layers.i.ffn.gamma2.weight``) that
      the file lacks are added with that value, so that a fine-tuning ViT
      with ``layer_scale_init_value`` loads the file strictly.
    * With ``drop_final_norm``, the final norm (``ln1.*``) is left out,
      for ViTs built with ``final_norm=False`` (LL-FPN and linear probing
      read the last blocks without it; UNIP never trained it).
    * Attention weights are kept: the fused qkv rows are [q; k; v] whatever
      the head count, so a block distilled with 16 heads is read with 3, 6
      or 12 simply by the fine-tuning model's own head count.

    Args:
        state_dict (dict): ViT tensors in mmpretrain names.
        grid (tuple[int, int], optional): Target token grid (h, w); None
            keeps the table.
        layer_scale_init (float): Value of added layer scales; 0 adds none.
        drop_final_norm (bool): Leave out ``ln1.*``. Defaults to False.
        num_extra_tokens (int): Rows before the patch rows. Defaults to 1.

    Returns:
        dict: A new state dict.
    """
    from ..layers.pos_embed import resize_pos_embed
    out = {
        k: v
        for k, v in state_dict.items()
        if not (drop_final_norm and k.startswith('ln1.'))
    }
    pos = out.get('pos_embed')
    if grid is not None and pos is not None:
        num_patches = pos.shape[1] - num_extra_tokens
        side = int(round(num_patches**0.5))
        if side * side != num_patches:
            raise ValueError(f'The position table has {num_patches} patch '
                             f'rows, not a square grid.')
        patches = resize_pos_embed(pos[:, num_extra_tokens:], (side, side),
                                   tuple(grid))
        out['pos_embed'] = torch.cat([pos[:, :num_extra_tokens], patches],
                                     dim=1)
    if layer_scale_init > 0:
        blocks = sorted(
            {int(k.split('.')[1])
             for k in out if k.startswith('layers.')})
        dims = out['cls_token'].shape[-1] if 'cls_token' in out else \
            out['pos_embed'].shape[-1]
        for i in blocks:
            for key in (f'layers.{i}.attn.gamma1.weight',
                        f'layers.{i}.ffn.gamma2.weight'):
                out.setdefault(key,
                               torch.full((dims, ), float(layer_scale_init)))
    return out
