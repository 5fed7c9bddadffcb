# The SIRST-v2 recipe with LightTargetHead instead of SmallTargetHead: per
# level a 1x1 projection to 32 channels with BatchNorm, summed at stride 4,
# GELU, a 1x1 classifier and a bilinear x4 to the input size. The same
# inputs (F1-F4 of InfMAEPyramidNeck), losses, threshold, data, schedule
# and metric; the head costs less than a nano encoder where SmallTargetHead
# costs several times it (FLOPs in configs/irstd/README.md). Its structure
# is the transfer benchmark's probe / fine-tune head.
_base_ = './irstd-head_infmae-base_1xb2-40k_sirst-v2-512x512.py'

model = dict(
    decode_head=dict(
        _base_.target_head,
        _delete_=True,
        type='LightTargetHead',
        input_stride=4,
        channels=32))
