# What the classification configs share: the InfMAE-B encoder as a
# classification backbone (F3 tokens averaged, `out_type='avg_featmap'`),
# loaded from a pre-training checkpoint, and gray images normalised with the
# infrared statistics of pre-training. Variables only (no `model` or
# dataloaders), so that it combines with any mmpretrain base.
_base_ = '../../_base_/check_finite_loss.py'

pretrained_checkpoint = 'checkpoints/infmae_vit-base-p16_inf30.pth'
ir_mean = [0.425 * 255] * 3
ir_std = [0.200 * 255] * 3

ir_data_preprocessor = dict(mean=ir_mean, std=ir_std, to_rgb=False)

infmae_backbone = dict(
    _delete_=True,
    type='InfMAEViT',
    arch='base',
    img_size=224,
    out_indices=(2, ),
    out_type='avg_featmap',
    init_cfg=dict(
        type='Pretrained',
        checkpoint=pretrained_checkpoint,
        prefix='backbone.'))
# End-to-end fine-tuning: learned position table, stochastic depth 0.1.
finetune_backbone = dict(
    infmae_backbone, learnable_pos_embed=True, drop_path_rate=0.1)
# Linear probing: the whole encoder frozen (and in eval mode).
linear_probe_backbone = dict(infmae_backbone, frozen_stages=3)

# Every image gray (3 identical channels; gray input is kept exactly).
# Training: random resized crop 224 and flip (+ RandAugment and random
# erasing, filled with infrared statistics, for fine-tuning), as mmpretrain's
# MAE recipes; testing: short side to 256 (bicubic), centre crop 224.
load_gray = [dict(type='LoadImageFromFile'), dict(type='ConvertToGray')]
crop_flip = [
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
linear_probe_train_pipeline = load_gray + crop_flip + [dict(type='PackInputs')]
finetune_train_pipeline = load_gray + crop_flip + [
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[108, 108, 108], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=ir_mean,
        fill_std=ir_std),
    dict(type='PackInputs'),
]
gray_test_pipeline = load_gray + [
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
