# The paper's recipe on a mixture of sources, InfMix style: infrared sets plus
# visible-light sets converted to gray (3 identical channels), every epoch
# drawn from the sources in fixed shares by SourceWeightedSampler (a small
# source is repeated, a large one subsampled, a new draw each epoch). Put
# your folders in `sources` (each is searched recursively; a curation
# manifest works as `ann_file`) and their shares in `source_weights`.
# `tools/data/curate_pretrain_data.py --stats-only` on the sources prints
# the images, share and entropy of each.
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

ir_pipeline = _base_.train_pipeline
# Visible-light images: the same pipeline after a BT.601 gray conversion.
visible_pipeline = [
    ir_pipeline[0],
    dict(type='ConvertToGray', to_channels=3), *ir_pipeline[1:]
]
sources = [
    dict(
        type='InfraredImageFolder',
        data_root='data/Inf30/',
        pipeline=ir_pipeline),
    dict(
        type='InfraredImageFolder',
        data_root='data/ImageNet/train/',
        pipeline=visible_pipeline),
    dict(
        type='InfraredImageFolder',
        data_root='data/COCO/train2017/',
        pipeline=visible_pipeline),
]
source_weights = [0.7, 0.2, 0.1]

train_dataloader = dict(
    sampler=dict(
        _delete_=True, type='SourceWeightedSampler', weights=source_weights),
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=sources))
