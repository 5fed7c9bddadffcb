"""Pre-softmax attention logits of ViT-like models (q k^T / sqrt(d)).

One definition serves UNIP's teacher and student (the logits of one block)
and the attention analysis (:class:`AttentionLogitsRecorder`, which records
the logits of every attention module of any backbone of the package).

An *attention module* here is any module with a fused ``qkv`` linear layer
and a ``num_heads`` attribute: mmpretrain's ``MultiheadAttention`` (inside
``VisionTransformer`` and :class:`~infmae_mm.models.backbones.UNIPViT`) and
this package's :class:`~infmae_mm.models.layers.MultiheadSelfAttention`
(InfMAE's stage 3). Both compute ``softmax(q k^T * head_dim ** -0.5 + bias)``,
so the logits below are exactly what their softmax sees.
"""
from typing import Dict, List, Optional

import torch
import torch.nn as nn


def is_attention_module(module: nn.Module) -> bool:
    """Whether ``module`` is a self-attention with a fused qkv projection."""
    return isinstance(getattr(module, 'qkv', None), nn.Linear) and isinstance(
        getattr(module, 'num_heads', None), int)


def qkv_attention_logits(attn: nn.Module,
                         x: torch.Tensor,
                         attn_bias: Optional[torch.Tensor] = None,
                         num_heads: Optional[int] = None) -> torch.Tensor:
    """The logits that ``attn`` feeds to its softmax.

    Args:
        attn (nn.Module): An attention module (see
            :func:`is_attention_module`).
        x (torch.Tensor): The module's input, (B, N, C) (already normed).
        attn_bias (torch.Tensor, optional): Additive bias the module adds
            before its softmax, broadcastable to (B, H, N, N).
        num_heads (int, optional): Read the projections with this many heads
            instead of ``attn.num_heads``.

    Returns:
        torch.Tensor: (B, H, N, N), ``q k^T * (C_qk / H) ** -0.5``.
    """
    heads = attn.num_heads if num_heads is None else num_heads
    qkv = attn.qkv(x)
    B, N, C3 = qkv.shape
    head_dim = C3 // 3 // heads
    qkv = qkv.reshape(B, N, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    logits = (q @ k.transpose(-2, -1)) * head_dim**-0.5
    if attn_bias is not None:
        logits = logits + attn_bias
    return logits


def vit_tokens(vit: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Embed images as an mmpretrain ``VisionTransformer`` does before its
    first layer: patch embedding, cls token, position table (resized to the
    input's grid), dropout and pre-norm.

    Args:
        vit (nn.Module): An mmpretrain ``VisionTransformer`` (or subclass).
        x (torch.Tensor): Images (B, C, H, W).

    Returns:
        torch.Tensor: Tokens (B, 1 + N, C) (no cls slot without cls token).
    """
    from mmpretrain.models.utils import resize_pos_embed
    B = x.shape[0]
    x, patch_resolution = vit.patch_embed(x)
    if vit.cls_token is not None:
        x = torch.cat((vit.cls_token.expand(B, -1, -1), x), dim=1)
    x = x + resize_pos_embed(
        vit.pos_embed,
        vit.patch_resolution,
        patch_resolution,
        mode=vit.interpolate_mode,
        num_extra_tokens=vit.num_extra_tokens)
    return vit.pre_norm(vit.drop_after_pos(x))


def vit_attention_logits(vit: nn.Module, x: torch.Tensor,
                         layer_index: int) -> torch.Tensor:
    """Logits of layer ``layer_index`` (0-based) of an mmpretrain ViT.

    Runs layers ``0 .. layer_index - 1`` in full, then only the first norm
    and the q/k projections of layer ``layer_index``: nothing after the
    softmax input is computed, so a model truncated after that layer gives
    the same result as the full one.

    Args:
        vit (nn.Module): An mmpretrain ``VisionTransformer`` (or subclass).
        x (torch.Tensor): Images (B, C, H, W).
        layer_index (int): Layer, 0-based; negative counts from the end.

    Returns:
        torch.Tensor: (B, H_l, 1 + N, 1 + N), H_l the heads of that layer.
    """
    num = len(vit.layers)
    index = layer_index + num if layer_index < 0 else layer_index
    if not 0 <= index < num:
        raise IndexError(f'layer_index {layer_index} is out of range for a '
                         f'ViT with {num} layers.')
    tokens = vit_tokens(vit, x)
    for layer in vit.layers[:index]:
        tokens = layer(tokens)
    layer = vit.layers[index]
    return qkv_attention_logits(layer.attn, layer.ln1(tokens))


class AttentionLogitsRecorder:
    """Record the pre-softmax logits of every attention module of a model.

    A context manager: inside it each forward pass of ``model`` appends, per
    attention module (in module order), the (B, H, N, N) logits computed
    from the module's input. Use it on any backbone of the package (an
    mmpretrain ``VisionTransformer``, ``UNIPViT``, ``InfMAEViT``'s stage 3).

    Example:
        >>> with AttentionLogitsRecorder(backbone) as rec:
        ...     backbone(images)
        >>> logits = rec.logits  # {module name: [(B, H, N, N), ...]}
    """

    def __init__(self, model: nn.Module) -> None:
        self.modules = [(name, m) for name, m in model.named_modules()
                        if is_attention_module(m)]
        if not self.modules:
            raise ValueError(
                f'{type(model).__name__} has no attention module with a '
                f'fused `qkv` projection and `num_heads`.')
        self.logits: Dict[str, List[torch.Tensor]] = {
            name: []
            for name, _ in self.modules
        }
        self._handles: list = []

    def _hook(self, name: str):

        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            bias = args[1] if len(args) > 1 else kwargs.get('attn_bias')
            with torch.no_grad():
                self.logits[name].append(
                    qkv_attention_logits(module, args[0], bias).float())

        return hook

    def __enter__(self) -> 'AttentionLogitsRecorder':
        for name, module in self.modules:
            self._handles.append(
                module.register_forward_pre_hook(
                    self._hook(name), with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
