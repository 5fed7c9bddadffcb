# InfMAE-B fine-tuned end to end for image classification with the recipe
# mmpretrain uses for MAE ViT-B (mmpretrain::mae/benchmarks/
# vit-base-p16_8xb128-coslr-100e_in1k.py): 100 epochs, 5 warm-up, AdamW lr
# 2e-3 for a batch of 1024 (8 x 128), weight decay 0.05, layer decay 0.65,
# label smoothing 0.1, Mixup 0.8 / CutMix 1.0, RandAugment, random erasing.
# Only the backbone changes (InfMAEViT, features averaged over F3's tokens)
# and the images: ImageNet-1k turned gray (3 identical channels, as infrared
# images are read) and normalised with the infrared statistics of
# pre-training. For an infrared class-folder dataset, point the dataloaders
# at mmpretrain's CustomDataset and set model.head.num_classes.
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    './_base_/infmae-base_gray.py',
]
custom_imports = dict(imports=['infmae_mm'], allow_failed_imports=False)

data_preprocessor = _base_.ir_data_preprocessor
model = dict(backbone=_base_.finetune_backbone, head=dict(in_channels=768))

train_dataloader = dict(dataset=dict(pipeline=_base_.finetune_train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=_base_.gray_test_pipeline))
test_dataloader = val_dataloader

# Layer decay from the backbone's own depths (stem and conv stages deepest,
# stage-3 block i at depth i + 1); no decay on norms, biases, position table.
optim_wrapper = dict(
    constructor='InfMAELayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.65))
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
# mmpretrain's 5 warm-up epochs (LinearLR from 1e-4) and cosine to 1e-6
# over the other 95, as one schedule that follows train_cfg.max_epochs (the
# base's pair has its ends written in).
param_scheduler = [
    dict(
        type='WarmupCosineLR',
        warmup_fraction=0.05,
        warmup_start_factor=1e-4,
        eta_min=1e-6,
        by_epoch=True,
        convert_to_iter_based=True),
]
