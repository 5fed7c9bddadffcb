"""Patch scorers of information-aware masking, and their registry.

A scorer maps a batch of images to one score per 16x16 patch; the one
selection code (:func:`infmae_mm.models.masking.select_tokens`) turns the
scores into visible tokens. Scorers are looked up by name, so a new one
(e.g. DuGI-MAE's entropy of embedding tokens) is one decorated function::

    @register_scorer('my_scorer')
    def my_scorer(images, patch_size, **kwargs):
        return ...  # (B, N) scores in raster order

and then ``IAMMaskGenerator(scorer='my_scorer')`` or
``InfMAE(mask_generator=dict(scorer='my_scorer'))``. A scorer registered
with ``needs_weights=True`` gets the conv ``weight`` (D, C, p, p) and
``bias`` (D, ) that ``IAMMasking`` stores (like the official linear scorer);
it can only run inside the model.
"""
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F

#: ``scorer(images, patch_size, *, weight, bias, value_range, generator)``
#: -> (B, N) scores.
ScorerFn = Callable[..., torch.Tensor]


class PatchScorer(NamedTuple):
    """A registered scorer.

    Attributes:
        fn (ScorerFn): The scoring function.
        needs_weights (bool): Whether it needs the stored conv weights of
            ``IAMMasking`` (then it cannot run in the data pipeline).
    """
    fn: ScorerFn
    needs_weights: bool = False


#: Every scorer by name. Add one with :func:`register_scorer`.
PATCH_SCORERS: Dict[str, PatchScorer] = {}


def register_scorer(
        name: str,
        needs_weights: bool = False) -> Callable[[ScorerFn], ScorerFn]:
    """Decorator registering a patch scorer under ``name``.

    Raises:
        KeyError: If another function is registered under ``name``.
    """

    def decorator(fn: ScorerFn) -> ScorerFn:
        known = PATCH_SCORERS.get(name)
        if known is not None and known.fn is not fn:
            raise KeyError(f'An IAM patch scorer named {name!r} is already '
                           f'registered ({known.fn.__module__}.'
                           f'{known.fn.__qualname__}).')
        PATCH_SCORERS[name] = PatchScorer(fn, needs_weights)
        return fn

    return decorator


def get_scorer(name: str) -> PatchScorer:
    """The registered scorer ``name``.

    Raises:
        ValueError: If no scorer has that name (the message lists them).
    """
    if name not in PATCH_SCORERS:
        raise ValueError(f'Unknown IAM scorer {name!r}; choose from '
                         f'{tuple(PATCH_SCORERS)}.')
    return PATCH_SCORERS[name]


def patch_scores(images: torch.Tensor,
                 scorer: str,
                 patch_size: int = 16,
                 weight: Optional[torch.Tensor] = None,
                 bias: Optional[torch.Tensor] = None,
                 value_range: Optional[Tuple[float, float]] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Score every non-overlapping patch of a batch of images.

    Args:
        images (torch.Tensor): (B, C, H, W) float images.
        scorer (str): A name in :data:`PATCH_SCORERS`: ``'intensity'``,
            ``'entropy'``, ``'random'``, ``'linear'`` or a registered one.
        patch_size (int): Patch side. Defaults to 16.
        weight (torch.Tensor, optional): (D, C, p, p) conv weight for
            scorers that need weights.
        bias (torch.Tensor, optional): (D, ) conv bias.
        value_range (tuple[float, float], optional): Range quantised into the
            256 levels for ``entropy``; None uses each image's min and max.
        generator (torch.Generator, optional): RNG for ``random``.

    Returns:
        torch.Tensor: (B, N) scores in raster order, N = H * W / patch**2.
    """
    spec = get_scorer(scorer)
    if spec.needs_weights and weight is None:
        raise ValueError(f'The {scorer!r} IAM scorer needs the conv weight '
                         f'stored by IAMMasking.')
    return spec.fn(
        images,
        patch_size,
        weight=weight,
        bias=bias,
        value_range=value_range,
        generator=generator)


@register_scorer('intensity')
def intensity_scores(images: torch.Tensor, patch_size: int,
                     **kwargs) -> torch.Tensor:
    """Mean gray value of each patch (paper section 4.2.1): (B, N)."""
    return F.avg_pool2d(images.mean(1, keepdim=True), patch_size).flatten(1)


@register_scorer('random')
def random_scores(images: torch.Tensor,
                  patch_size: int,
                  generator: Optional[torch.Generator] = None,
                  **kwargs) -> torch.Tensor:
    """Uniform noise, MAE's random masking (ablations): (B, N)."""
    B, _, H, W = images.shape
    num_tokens = (H // patch_size) * (W // patch_size)
    device = images.device if generator is None else generator.device
    scores = torch.rand(B, num_tokens, generator=generator, device=device)
    return scores.to(images.device)


@register_scorer('linear', needs_weights=True)
def linear_scores(images: torch.Tensor, patch_size: int, weight: torch.Tensor,
                  bias: Optional[torch.Tensor], **kwargs) -> torch.Tensor:
    """The official scorer: the channel mean of a Conv(C -> D, k = s = patch)
    embedding, i.e. one linear filter per patch: (B, N)."""
    return F.conv2d(images, weight, bias, stride=patch_size).mean(1).flatten(1)


@register_scorer('entropy')
def entropy_scores(images: torch.Tensor,
                   patch_size: int,
                   value_range: Optional[Tuple[float, float]] = None,
                   **kwargs) -> torch.Tensor:
    """Shannon entropy (bits) of each patch's 256-level gray histogram.

    The gray image (channel mean) is quantised on ``value_range`` or, when
    None, on each image's own min-max. Returns (B, N).
    """
    gray = images.mean(1).float()
    B, H, W = gray.shape
    if value_range is None:
        lo = gray.flatten(1).min(1).values.view(B, 1, 1)
        hi = gray.flatten(1).max(1).values.view(B, 1, 1)
    else:
        lo, hi = (torch.tensor(v, dtype=gray.dtype) for v in value_range)
    scale = 256. / (hi - lo).clamp_min(1e-12)
    levels = ((gray - lo) * scale).floor().clamp(0, 255).long()
    h, w = H // patch_size, W // patch_size
    # (B, h, p, w, p) -> (B, h * w, p * p)
    levels = levels.view(B, h, patch_size, w,
                         patch_size).permute(0, 1, 3, 2, 4)
    levels = levels.reshape(B, h * w, patch_size * patch_size)
    counts = torch.zeros(B, h * w, 256, device=gray.device)
    counts.scatter_add_(2, levels, torch.ones_like(levels, dtype=torch.float))
    prob = counts / (patch_size * patch_size)
    return -(prob * torch.log2(prob.clamp_min(1e-12))).sum(-1)
