# InfMAE's test loop, and what mmpretrain's model APIs read from it (the
# loader of test_loader.py: gray, short side 224, centre crop 224; see
# there). `mim test mmpretrain CONFIG --checkpoint CKPT` measures held-out
# reconstruction quality (ReconstructionMetric: masked-patch MSE / PSNR
# beside trivial fills) on the images under test_root, under the masks of
# the IAMMaskGenerator step (keep it equal to the training pipeline's).
_base_ = './test_loader.py'

test_pipeline = [
    *_base_.gray_center_crop,
    dict(type='IAMMaskGenerator', scorer='intensity', stride=4),
    dict(
        type='PackInputs',
        algorithm_keys=['iam_mask'],
        meta_keys=_base_.test_meta_keys),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_evaluator = dict(type='ReconstructionMetric')
