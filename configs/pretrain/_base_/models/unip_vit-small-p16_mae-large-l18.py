# UNIP (ICLR 2025): a ViT-S student distilled from the attention of layer 18
# of a frozen MAE-L (the official `mae-l_distill_unip-s.sh`). The student's
# last block has the teacher's 16 heads; only that block's pre-softmax
# attention is matched (row-wise KL, temperature 1).
custom_imports = dict(imports=['infmae_mm'], allow_failed_imports=False)

# InfMix statistics of the official code, on 3 identical gray channels.
unip_mean = [0.3801 * 255] * 3
unip_std = [0.1871 * 255] * 3

# The MAE-L encoder weights (`mae_pretrain_vit_large.pth` of facebookresearch
# /mae); any file with the ViT under `model`, `state_dict`, `teacher` or at
# the top level, timm or mmpretrain names, works. A missing key fails.
teacher_checkpoint = 'checkpoints/mae_pretrain_vit_large.pth'

model = dict(
    type='UNIP',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=unip_mean,
        std=unip_std,
        to_rgb=False),
    backbone=dict(
        type='UNIPViT',
        arch='small',
        img_size=224,
        patch_size=16,
        last_layer_heads=16,
        drop_path_rate=0.1),
    teacher=dict(
        vit=dict(
            type='VisionTransformer',
            arch='large',
            img_size=224,
            patch_size=16),
        layer=18,
        checkpoint=teacher_checkpoint),
    head=dict(type='AttentionDistillHead', temperature=1.0))
