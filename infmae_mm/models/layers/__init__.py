from .branch_attention_unit import BranchAttentionUnit
from .conv_block import DENSE, ConvFFN, DenseLayout, MaskedConvBlock, Pointwise
from .frequency_filter import AdaptiveFrequencyFilter
from .frequency_guided_block import FrequencyGuidedBlock
from .patch_embed import ConvPatchEmbed
from .pos_embed import (position_table_for, resize_pos_embed,
                        sincos_pos_embed_2d)
from .relative_position import (RelativePositionBias, relative_position_index,
                                visible_position_bias)
from .transformer_block import (FFN, MultiheadSelfAttention, TransformerBlock,
                                gather_tokens)
from .weight_init import mae_init_, xavier_init_flat_
from .window import run_in_windows, window_partition, window_unpartition

__all__ = [
    'gather_tokens', 'ConvFFN', 'MaskedConvBlock', 'ConvPatchEmbed',
    'Pointwise', 'DenseLayout', 'DENSE', 'resize_pos_embed',
    'sincos_pos_embed_2d', 'RelativePositionBias', 'relative_position_index',
    'FFN', 'MultiheadSelfAttention', 'TransformerBlock', 'BranchAttentionUnit',
    'AdaptiveFrequencyFilter', 'FrequencyGuidedBlock', 'mae_init_',
    'xavier_init_flat_', 'visible_position_bias', 'window_partition',
    'window_unpartition', 'run_in_windows'
]
