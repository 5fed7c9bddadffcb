# The demo on a mixture (see infmae_vit-base-p16_4xb64-amp-coslr-400e_ir-
# mixture.py): the generated infrared sample folder and a folder of colour
# (visible-light) images converted to gray, drawn 3:1 in every epoch by
# SourceWeightedSampler.
_base_ = './infmae_vit-tiny-p16_1xb16-coslr-100e_ir-sample.py'

ir_pipeline = _base_.train_pipeline
visible_pipeline = [
    ir_pipeline[0],
    dict(type='ConvertToGray', to_channels=3), *ir_pipeline[1:]
]
sources = [
    dict(
        type='InfraredImageFolder',
        data_root='data/ir_sample/',
        pipeline=ir_pipeline),
    dict(
        type='InfraredImageFolder',
        data_root='data/vis_sample/',
        pipeline=visible_pipeline),
]
source_weights = [3, 1]

train_dataloader = dict(
    sampler=dict(
        _delete_=True, type='SourceWeightedSampler', weights=source_weights),
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=sources))
