# InfMix-style pre-training data (UNIP): infrared folders plus RGB folders,
# every image turned to gray (3 identical channels, UNIP's --rgb_gray),
# RandomResizedCrop 224 (scale 0.2-1, bicubic) and a horizontal flip; no
# masking. Fill `sources` with your folders: each is searched recursively
# (or give an `ann_file` list per source, e.g. a curation manifest or a
# subset such as UNIP's 200 ImageNet images per class). Gray images pass
# ConvertToGray unchanged.
#
# The official mix: 23 infrared sets (InfPre, `<dataset>/thermal/*`), an
# ImageNet-1K subset (200 per class) and COCO train2017; released as
# `casiatao/InfMix` on Hugging Face.
_base_ = './ir_image_folder.py'

train_pipeline = [
    dict(type='LoadThermalImage'),
    dict(type='ConvertToGray', to_channels=3),
    *_base_.mae_crop_flip,
    dict(type='PackInputs'),
]

# What every source shares; each adds its data_root (or ann_file).
source = dict(
    type='InfraredImageFolder',
    extensions=_base_.ir_extensions,
    pipeline=train_pipeline)
sources = [
    # the infrared sets (InfPre), one sub-folder each
    dict(source, data_root='data/InfMix/InfPre/'),
    # RGB sources, converted to gray by the pipeline
    dict(source, data_root='data/InfMix/ImageNet/'),
    dict(source, data_root='data/InfMix/COCO/train2017/'),
]

# UNIP draws uniformly from the concatenation (every image once an epoch).
# For fixed shares per source use the package's SourceWeightedSampler, as
# configs/pretrain/infmae_vit-base-p16_4xb64-amp-coslr-400e_ir-mixture.py.
train_dataloader = dict(
    _base_.pretrain_loader,
    batch_size=256,
    num_workers=10,
    dataset=dict(type='ConcatDataset', datasets=sources))
