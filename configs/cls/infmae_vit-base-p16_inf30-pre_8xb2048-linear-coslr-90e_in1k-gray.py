# Linear probing of InfMAE-B with the recipe mmpretrain uses for MAE ViT-B
# (mmpretrain::mae/benchmarks/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py):
# the encoder frozen, its F3 tokens after the pre-trained final norm averaged
# (InfMAE has no class token), a BatchNorm without affine parameters and a
# linear classifier; LARS lr 6.4 for a batch of 16384, 90 epochs, 10 warm-up.
# Images: ImageNet-1k turned gray (3 identical channels) and normalised with
# the infrared statistics of pre-training.
_base_ = [
    'mmpretrain::mae/benchmarks/'
    'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py',
    './_base_/infmae-base_gray.py',
]
custom_imports = dict(imports=['infmae_mm'], allow_failed_imports=False)

data_preprocessor = _base_.ir_data_preprocessor
model = dict(
    backbone=_base_.linear_probe_backbone,
    neck=dict(type='ClsBatchNormNeck', input_features=768),
    head=dict(in_channels=768))

train_dataloader = dict(
    dataset=dict(pipeline=_base_.linear_probe_train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=_base_.gray_test_pipeline))
test_dataloader = val_dataloader
# mmpretrain's 10 warm-up epochs (LinearLR from 1e-4) and cosine to 0 over
# the other 80, as one schedule that follows train_cfg.max_epochs (the
# base's pair has its ends written in).
param_scheduler = [
    dict(
        type='WarmupCosineLR',
        warmup_fraction=10 / 90,
        warmup_start_factor=1e-4,
        eta_min=0.,
        by_epoch=True,
        convert_to_iter_based=True),
]
