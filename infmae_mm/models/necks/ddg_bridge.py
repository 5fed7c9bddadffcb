"""DuGI-MAE's dual-domain guidance bridge between encoder and decoder."""
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from infmae_mm.registry import register_in_hosts
from ..layers import gather_tokens
from ..layers.frequency_filter import AdaptiveFrequencyFilter
from ..masking import IAMMask, shuffle_ids, upsample_token_mask

DOMAINS = ('image', 'embedding')
AFDM_INPUTS = ('full', 'visible')
DOWNSAMPLES = ('visible', 'conv')


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class DualDomainGuidance(BaseModule):
    """Frequency path + DDG fusion of DuGI-MAE, composed on InfMAE or MAE.

    The frequency path (AFDM) and its embedding:

    * ``domain='image'`` (paper, Eq. 3): the 2-D FFT of the image is filtered
      per channel, the filtered image is patch-embedded (Conv k16 s16) to
      (B, N, C);
    * ``domain='embedding'`` (released code): the image is patch-embedded
      first and the (B, N, C) tokens are filtered over their token x channel
      axes. (The code also ranks these tokens by softmax entropy for its
      mask, so its masking drifts as the embedding trains; here the masking
      scorer ``'embedding_entropy'`` keeps its own frozen embedding, like the
      official InfMAE scorer, and this one trains through AFDM.)

    ``afdm_input`` says what AFDM sees. ``'full'`` is the published design
    (both forms): the unmasked image, so masked content reaches the decoder
    through the frequency tokens. ``'visible'`` zeroes the masked patches
    first (the image's masked pixels, or the masked tokens), so the decoder
    learns from visible content only.

    The frequency tokens are brought to one per visible token by
    ``downsample``: ``'visible'`` takes the token at each visible position
    (paired with the encoder token of the same patch); ``'conv'`` is the
    code's Conv1d(k4, s4) over the raster token axis (N -> N / 4, no
    spatial pairing; registered and trained here, rebuilt randomly every
    step in the code). Then ``fusion`` (``DDGGuidedAttention``, the paper's,
    or ``DDGThreeBranch``, the code's) turns latents + frequency tokens into
    the decoder's input tokens and their placement.

    Args:
        afdm_input (str): ``'full'`` or ``'visible'``; required, so that a
            config always states whether it leaks masked content.
        domain (str): ``'image'`` or ``'embedding'``. Defaults to 'image'.
        downsample (str): ``'visible'`` or ``'conv'``. Defaults to 'visible'.
        fusion (dict): The fusion module config. Defaults to
            ``dict(type='DDGGuidedAttention')``.
        afdm (dict): :class:`AdaptiveFrequencyFilter` arguments. Defaults
            to the code's constants, learnable, low-pass, no gate.
        in_channels (int): Image channels. Defaults to 3.
        embed_dims (int): Token width, the encoder's C3. Defaults to 768.
        patch_size (int): Token patch side. Defaults to 16.
        config_key (str): Where this bridge sits in the config, for error
            messages: ``'model.guidance'`` in ``MAEWithDDG`` (the default),
            ``'model.neck.guidance'`` in ``DuGIPretrainDecoder`` (which sets
            it).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 afdm_input: str,
                 domain: str = 'image',
                 downsample: str = 'visible',
                 fusion: dict = dict(type='DDGGuidedAttention'),
                 afdm: dict = dict(),
                 in_channels: int = 3,
                 embed_dims: int = 768,
                 patch_size: int = 16,
                 config_key: str = 'model.guidance',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.config_key = config_key
        for key, value, choices in (('afdm_input', afdm_input,
                                     AFDM_INPUTS), ('domain', domain, DOMAINS),
                                    ('downsample', downsample, DOWNSAMPLES)):
            if value not in choices:
                raise ValueError(f'Unknown DDG {key} {value!r}; set '
                                 f'{config_key}.{key} to one of {choices}.')
        self.afdm_input = afdm_input
        self.domain = domain
        self.downsample = downsample
        self.patch_size = patch_size
        self.embed_dims = embed_dims
        self.freq_embed = nn.Conv2d(
            in_channels, embed_dims, kernel_size=patch_size, stride=patch_size)
        self.afdm = AdaptiveFrequencyFilter(
            **dict(dict(config_key=f'{config_key}.afdm'), **afdm))
        self.token_pool = nn.Conv1d(
            embed_dims, embed_dims, kernel_size=4,
            stride=4) if downsample == 'conv' else None
        fusion = dict(fusion)
        fusion.setdefault('embed_dims', embed_dims)
        # The fusion modules are registered in mmpretrain: build them in its
        # scope whatever default scope the caller set (mmseg's, mmdet's).
        with MODELS.switch_scope_and_registry('mmpretrain') as registry:
            self.fusion = registry.build(fusion)

    @property
    def leaks_masked_content(self) -> bool:
        """Whether masked patches reach the decoder (``afdm_input='full'``)."""
        return self.afdm_input == 'full'

    def init_weights(self) -> None:
        """Xavier on the linear maps (conv kernels flattened), zero biases."""
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            return
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight.view(m.weight.shape[0], -1))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Patch tokens (B, N, C3), raster order, of (B, C, H, W) images."""
        return self.freq_embed(inputs).flatten(2).transpose(1, 2)

    def _pixel_visibility(self, inputs: torch.Tensor,
                          mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) 1 at visible pixels, 0 at masked ones."""
        p = self.patch_size
        grid = (inputs.shape[2] // p, inputs.shape[3] // p)
        return 1. - upsample_token_mask(mask.to(inputs.dtype), grid, p)

    def filter(self, inputs: torch.Tensor,
               mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """AFDM on what ``afdm_input`` allows; for the bridge and pictures.

        Args:
            inputs (torch.Tensor): (B, C, H, W) normalised images.
            mask (torch.Tensor): (B, N) token mask, 1 = masked.

        Returns:
            dict: ``filtered`` (B, C, H, W) filtered image (``'image'``) or
            (B, N, C3) filtered tokens (``'embedding'``), ``response`` the
            applied filter ((1 or B, ..., M, K)) and ``freq_tokens``
            (B, N, C3) in raster order.
        """
        if self.domain == 'image':
            signal = inputs
            if self.afdm_input == 'visible':
                signal = inputs * self._pixel_visibility(inputs, mask)
            filtered, response = self.afdm(signal, return_response=True)
            freq_tokens = self.embed(filtered)
        else:
            signal = self.embed(inputs)
            if self.afdm_input == 'visible':
                signal = signal * (1. - mask.to(signal.dtype)).unsqueeze(-1)
            filtered, response = self.afdm(signal, return_response=True)
            freq_tokens = filtered
        return dict(
            filtered=filtered, response=response, freq_tokens=freq_tokens)

    def per_visible_token(self, freq_tokens: torch.Tensor,
                          ids_keep: torch.Tensor) -> torch.Tensor:
        """(B, N, C3) raster frequency tokens -> (B, n, C3), one per visible
        token (``downsample``)."""
        if self.downsample == 'visible':
            return gather_tokens(freq_tokens, ids_keep)
        N, n = freq_tokens.shape[1], ids_keep.shape[1]
        if N // 4 != n:
            raise ValueError(
                f"downsample='conv' pools the {N} tokens to {N // 4}, but the "
                f'masks keep {n} visible tokens; keep a quarter of the tokens '
                f"or set {self.config_key}.downsample='visible'.")
        return self.token_pool(freq_tokens.transpose(1, 2)).transpose(1, 2)

    def forward(
        self, latent: torch.Tensor, images: torch.Tensor,
        ids_restore: Union[IAMMask, torch.Tensor]
    ) -> Tuple[torch.Tensor, Union[IAMMask, torch.Tensor]]:
        """Decoder tokens and their placement.

        Args:
            latent (torch.Tensor): (B, n, C3) encoder output for the visible
                tokens, in mask rank order.
            images (torch.Tensor): (B, C, H, W) normalised images.
            ids_restore (IAMMask | torch.Tensor): The masks, or their (B, N)
                un-shuffle ids alone (rank < n: visible).

        Returns:
            tuple: ``tokens`` (B, n', C3) for the decoder and the un-shuffle
            ids (B, N) that place them: the decoder appends N - n' mask
            tokens and gathers.
        """
        num_visible = latent.shape[1]
        restore, shuffle = shuffle_ids(ids_restore)
        ids_keep = shuffle[:, :num_visible]
        mask = (restore >= num_visible).to(images.dtype)
        freq = self.filter(images, mask)['freq_tokens']
        freq = self.per_visible_token(freq, ids_keep)
        return self.fusion(latent, freq.to(latent.dtype), ids_restore)

    def extra_repr(self) -> str:
        return (f'afdm_input={self.afdm_input}, domain={self.domain}, '
                f'downsample={self.downsample}')
