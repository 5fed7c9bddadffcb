# InfMAE-B as in the paper (section 5.1): encoder 256/384/768 with depths
# 2/2/11 and 12 heads; decoder 2 x 512-d blocks with 16 heads; MSE on raw
# (not per-patch normalised) pixels of the masked patches.
custom_imports = dict(imports=['infmae_mm'], allow_failed_imports=False)

# Infrared statistics of the official code: gray replicated to 3 channels,
# normalised with mean 0.425 and std 0.200 (x 255 for 8-bit input).
ir_mean = [0.425 * 255] * 3
ir_std = [0.200 * 255] * 3

model = dict(
    type='InfMAE',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=ir_mean, std=ir_std,
        to_rgb=False),
    backbone=dict(type='InfMAEViT', arch='base', img_size=224, in_channels=3),
    stage_fusion=dict(type='InfMAEStageFusion'),
    neck=dict(
        type='InfMAEPretrainDecoder',
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=2,
        decoder_num_heads=16,
        patch_size=16,
        in_channels=3,
        grid_size=14),
    head=dict(
        type='InfMAEReconstructionHead',
        norm_pix=False,
        patch_size=16,
        in_channels=3,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))
