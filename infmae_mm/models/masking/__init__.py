from .iam import (SCORERS, SELECTIONS, IAMMask, IAMMasking, check_token_grid,
                  patch_scores, select_tokens, upsample_token_mask,
                  with_stage_masks)

__all__ = [
    'SCORERS', 'SELECTIONS', 'IAMMask', 'IAMMasking', 'check_token_grid',
    'patch_scores', 'select_tokens', 'upsample_token_mask', 'with_stage_masks'
]
