from .entropy_scorers import softmax_entropy
from .iam import (IAM_MASK_KEY, SELECTIONS, IAMMask, IAMMasking,
                  check_masking_stride, check_token_grid, collate_masks,
                  inverse_permutation, masked_fraction, masks_from_order,
                  num_visible, refuse_mask_ratio, seeded_random_masks,
                  select_tokens, shuffle_ids, upsample_token_mask)
from .scorers import (PATCH_SCORERS, PatchScorer, get_scorer, patch_scores,
                      register_scorer)

__all__ = [
    'IAM_MASK_KEY', 'SELECTIONS', 'IAMMask', 'IAMMasking', 'check_token_grid',
    'check_masking_stride', 'masked_fraction', 'refuse_mask_ratio',
    'collate_masks', 'masks_from_order', 'num_visible', 'seeded_random_masks',
    'select_tokens', 'upsample_token_mask', 'inverse_permutation',
    'shuffle_ids', 'PATCH_SCORERS', 'PatchScorer', 'get_scorer',
    'patch_scores', 'register_scorer', 'softmax_entropy'
]
