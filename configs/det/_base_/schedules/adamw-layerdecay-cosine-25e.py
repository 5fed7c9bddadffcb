# The paper's detection schedule (section 5.3): 25 epochs with cosine decay,
# AdamW lr 1e-4 (the paper prints "10e-4"; MCMAE/ViTDet use 1e-4 / 8e-5),
# weight decay 0.1, batch 2, layer-wise lr decay over the hybrid backbone.
_base_ = '../../../_base_/check_finite_loss.py'

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    constructor='InfMAELayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        T_max=25,
        eta_min=0.,
        by_epoch=True,
        begin=0,
        end=25,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=25, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Total batch 2 (1 GPU x 2); mmdet's --auto-scale-lr rescales from it.
auto_scale_lr = dict(enable=False, base_batch_size=2)
