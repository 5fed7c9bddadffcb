# The official code's formulation, for use with converted official weights
# (tools/model_converters/infmae_official_to_mm.py): tokens are ranked in
# ascending order by the channel mean of a stored Conv(3->768, k16 s16)
# embedding of the normalised image, and every 4th rank stays visible. The
# masks are computed inside the model, so the pipeline has no
# IAMMaskGenerator.
_base_ = './infmae_vit-base-p16_4xb64-amp-coslr-400e_inf30.py'

model = dict(
    mask_generator=dict(
        scorer='linear', stride=4, selection='stride', descending=False))

train_dataloader = dict(
    dataset=dict(pipeline=[
        *_base_.train_pipeline[:-2],
        dict(type='PackInputs'),
    ]))
