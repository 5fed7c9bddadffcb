# The paper's Inf30 pre-training recipe (section 5.1): 400 epochs, cosine
# schedule after 40 warm-up epochs (10% of the run), AdamW (betas 0.9/0.95,
# weight decay 0.05, none on norms and biases), base lr 1.5e-4 for a batch of
# 256 (4 GPUs x 64), AMP. Put the images under data/Inf30/ (any folder
# layout) or set train_dataloader.dataset.data_root.
_base_ = [
    './_base_/models/infmae_vit-base-p16.py',
    './_base_/datasets/inf30_bs64_infmae.py',
    './_base_/feature_extraction.py',
    './_base_/schedules/adamw-amp-warmup-coslr.py',
]

optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4 * 256 / 256),
    # The official parameter groups: no decay on 1-D tensors and biases.
    paramwise_cfg=dict(custom_keys={
        'norm': dict(decay_mult=0.),
        '.bias': dict(decay_mult=0.),
    }))

# Warm-up over the first 10% of the run (the paper's 40 of 400 epochs), then
# cosine to 0 at the end.
param_scheduler = [dict(_base_.param_scheduler[0], warmup_fraction=0.1)]

train_cfg = dict(max_epochs=400)
default_hooks = dict(checkpoint=dict(interval=1))
# lr = 1.5e-4 x total batch / 256 when run on another number of GPUs.
auto_scale_lr = dict(base_batch_size=256)
