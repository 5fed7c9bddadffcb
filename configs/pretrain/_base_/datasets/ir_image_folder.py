# What the pre-training data bases share (InfMAE's Inf30, UNIP's InfMix, MAE
# with DDG): folders of images searched recursively (InfraredImageFolder; no
# labels), MAE's augmentation (random resized crop 224 of 20-100% of the
# image, bicubic, horizontal flip) and a shuffled training loader. Variables
# only, named so that they combine with any host base (mmpretrain's
# `dataset_type`, `train_pipeline`, ... are left to the bases that use them).
ir_extensions = ('.jpg', '.jpeg', '.png', '.bmp', '.pgm', '.tif', '.tiff')
ir_image_folder = dict(
    type='InfraredImageFolder',
    data_prefix='',
    with_label=False,
    extensions=ir_extensions)
mae_crop_flip = [
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
]
pretrain_loader = dict(
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'))
