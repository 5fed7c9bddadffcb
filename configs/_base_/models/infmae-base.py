# The InfMAE-B encoder as a dense-prediction backbone (segmentation, IRSTD,
# detection), loaded from a pre-training checkpoint (infmae_mm or converted
# official): learned position table, stochastic depth 0.1. A variable, not
# `model`, so that it combines with any host base; `_delete_` replaces the
# host's backbone whole. Bases set img_size and out_indices.
custom_imports = dict(imports=['infmae_mm'], allow_failed_imports=False)
# Point this at a pre-training checkpoint (infmae_mm or converted official).
pretrained_checkpoint = 'checkpoints/infmae_vit-base-p16_inf30.pth'
infmae_backbone = dict(
    _delete_=True,
    type='InfMAEViT',
    arch='base',
    learnable_pos_embed=True,
    drop_path_rate=0.1,
    init_cfg=dict(
        type='Pretrained',
        checkpoint=pretrained_checkpoint,
        prefix='backbone.'))
