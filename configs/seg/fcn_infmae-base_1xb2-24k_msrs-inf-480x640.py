# FCN + InfMAE-B on MSRS-inf (paper Table 1: 72.0 mIoU / 80.0 mAcc). The FCN
# head reads F3 (stride 16, 768-d), the auxiliary head F2, both straight from
# the encoder: no neck, since no head reads the pyramid's F4 and its unused
# parameters would stop DistributedDataParallel (which runs without
# find_unused_parameters).
_base_ = './upernet_infmae-base_1xb2-24k_msrs-inf-480x640.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)

# The decode head is the base's auxiliary FCNHead on F3 (256 channels,
# dropout 0.1, the base's classes and norm) with MCMAE's two convolutions,
# the input concatenated to their output and the full loss weight.
fcn_head = _base_.model.auxiliary_head
model = dict(
    neck=None,
    decode_head=dict(
        fcn_head,
        _delete_=True,
        num_convs=2,
        concat_input=True,
        loss_decode=dict(fcn_head.loss_decode, loss_weight=1.0)),
    auxiliary_head=dict(in_channels=384, in_index=1))
