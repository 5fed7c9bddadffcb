"""Adaptive frequency-domain modulation (AFDM) of DuGI-MAE.

DuGI-MAE (AAAI-26, Eq. 3) filters a signal in the centred 2-D Fourier domain
with a radial Gaussian

    H(u, v) = alpha * exp(-beta * (D(u, v) / r) ** 2),

D the distance (in frequency bins) to the spectrum centre. The paper applies
it to the image (axes H, W); the released code applies it to the patch
embedding (axes token index x channel) and multiplies it by a gate computed
from the magnitudes of every sample in the batch. One module serves both: it
filters the last two axes of whatever it is given.

Parameterisation (constraints of the paper, values of the released code):

* ``alpha = sigmoid(a)`` in (0, 1); the code's effective value
  ``sigmoid(0.5) = 0.6225``;
* ``beta = exp(b)`` > 0; the code's ``exp(2) = 7.389``;
* ``r = sigmoid(c) * half_diagonal`` bins, where the half-diagonal of an
  (M, K) spectrum is ``sqrt(M**2 + K**2) / 2``; the code's ``freq_cut =
  0.5``, i.e. 198.15 bins for its (196, 768) spectrum.
"""
import math
from typing import Tuple

import torch
import torch.nn as nn

from infmae_mm.registry import register_in_hosts
from ..ops import autocast_disabled

RESPONSES = ('lowpass', 'highpass')

#: Effective constants of the released code (its filter module is rebuilt at
#: these values in every forward, so they never change there).
CODE_ALPHA = 1. / (1. + math.exp(-0.5))
CODE_BETA = math.exp(2.)
CODE_RADIUS = 0.5
CODE_GATE_WEIGHT = 0.01


def _logit(p: float) -> float:
    return math.log(p / (1. - p))


@register_in_hosts('MODELS', hosts=('mmpretrain', ))
class AdaptiveFrequencyFilter(nn.Module):
    """Radial Gaussian filter on the centred spectrum of the last two axes.

    Args:
        alpha (float): Initial gain, in (0, 1). Defaults to the released
            code's ``sigmoid(0.5)``.
        beta (float): Initial attenuation rate, > 0. Defaults to ``e**2``.
        radius (float): Initial cut-off as a fraction of the spectrum's
            half-diagonal, in (0, 1). Defaults to 0.5.
        learnable (bool): Register ``alpha``, ``beta`` and ``radius`` (and the
            gate weight) as trained parameters; False stores them as buffers
            fixed at their initial values, which is what the released code
            effectively runs. Defaults to True.
        response (str): ``'lowpass'`` uses H as written in Eq. 3 (and in the
            code); ``'highpass'`` uses 1 - H, the low-frequency suppressor
            the paper's text describes. Defaults to 'lowpass'.
        gate (bool): Multiply the response by the released code's
            batch-coupled gate ``sigmoid(w * sum_b |F_b|)``, identical for
            every sample of the batch (the code's all-0.01 1x1 conv over the
            batch axis). Defaults to False.
        gate_weight (float): Initial ``w``. Defaults to 0.01.
        config_key (str): Where this filter sits in the config, for error
            messages (``DualDomainGuidance`` passes e.g.
            ``'model.neck.guidance.afdm'``). Defaults to 'afdm'.
    """

    def __init__(self,
                 alpha: float = CODE_ALPHA,
                 beta: float = CODE_BETA,
                 radius: float = CODE_RADIUS,
                 learnable: bool = True,
                 response: str = 'lowpass',
                 gate: bool = False,
                 gate_weight: float = CODE_GATE_WEIGHT,
                 config_key: str = 'afdm') -> None:
        super().__init__()
        if response not in RESPONSES:
            raise ValueError(f'Unknown AFDM response {response!r}; set '
                             f'{config_key}.response to one of {RESPONSES}.')
        for name, value in (('alpha', alpha), ('radius', radius)):
            if not 0. < value < 1.:
                raise ValueError(f'AFDM {name} must lie in (0, 1), got '
                                 f'{value}; fix {config_key}.{name}.')
        if beta <= 0.:
            raise ValueError(f'AFDM beta must be > 0, got {beta}; fix '
                             f'{config_key}.beta.')
        self.learnable = learnable
        self.response_type = response
        self.use_gate = gate
        raw = dict(
            alpha_logit=_logit(alpha),
            beta_log=math.log(beta),
            radius_logit=_logit(radius))
        if gate:
            raw['gate_weight'] = float(gate_weight)
        for name, value in raw.items():
            tensor = torch.tensor(float(value))
            if learnable:
                self.register_parameter(name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)

    @property
    def alpha(self) -> torch.Tensor:
        """Gain in (0, 1), a 0-d tensor."""
        return torch.sigmoid(self.alpha_logit)

    @property
    def beta(self) -> torch.Tensor:
        """Attenuation rate > 0, a 0-d tensor."""
        return torch.exp(self.beta_log)

    @property
    def radius(self) -> torch.Tensor:
        """Cut-off as a fraction of the half-diagonal, in (0, 1)."""
        return torch.sigmoid(self.radius_logit)

    def radial_response(self, size: Tuple[int, int]) -> torch.Tensor:
        """The filter on a centred (M, K) spectrum, without the gate.

        The centre (DC after ``fftshift``) is index (M // 2, K // 2).

        Returns:
            torch.Tensor: (M, K) float32: H for ``'lowpass'``, 1 - H for
            ``'highpass'``.
        """
        rows, cols = size
        device = self.alpha_logit.device
        u = torch.arange(rows, device=device, dtype=torch.float32) - rows // 2
        v = torch.arange(cols, device=device, dtype=torch.float32) - cols // 2
        dist2 = u[:, None]**2 + v[None, :]**2
        r_bins = self.radius.float() * math.sqrt(rows**2 + cols**2) / 2.
        h = self.alpha.float() * torch.exp(
            -self.beta.float() * dist2 / r_bins.pow(2).clamp_min(1e-8))
        return h if self.response_type == 'lowpass' else 1. - h

    def batch_gate(self, spectrum: torch.Tensor) -> torch.Tensor:
        """The released code's gate from a centred (B, ..., M, K) spectrum.

        Returns:
            torch.Tensor: (1, ..., M, K) ``sigmoid(w * sum_b |F_b|)``, shared
            by every sample of the batch.
        """
        magnitude = spectrum.abs().sum(0, keepdim=True)
        return torch.sigmoid(self.gate_weight.float() * magnitude)

    def forward(self,
                x: torch.Tensor,
                return_response: bool = False) -> torch.Tensor:
        """Filter the last two axes of ``x``.

        Runs in float32 whatever the autocast state (FFT sizes here are not
        powers of two) and returns the input dtype.

        Args:
            x (torch.Tensor): (B, ..., M, K) real signal: an image
                (B, C, H, W) or patch tokens (B, N, C).
            return_response (bool): Also return the applied filter.

        Returns:
            torch.Tensor | tuple: the filtered (B, ..., M, K) real signal;
            with ``return_response`` also the (1 or B, ..., M, K) filter.
        """
        dims = (-2, -1)
        with autocast_disabled(x):
            spectrum = torch.fft.fftshift(
                torch.fft.fft2(x.float(), dim=dims), dim=dims)
            response = self.radial_response(tuple(x.shape[-2:]))
            if self.use_gate:
                response = response * self.batch_gate(spectrum)
            filtered = torch.fft.ifft2(
                torch.fft.ifftshift(spectrum * response, dim=dims),
                dim=dims).real.to(x.dtype)
        if return_response:
            return filtered, response
        return filtered

    def extra_repr(self) -> str:
        return (f'response={self.response_type}, learnable={self.learnable}, '
                f'gate={self.use_gate}')
