"""Generated data for tests, examples and the demo (as ``mmdet.testing``).

Nothing in the runtime package imports from here: training never depends on
generated data.
"""
from .batches import pipeline_batch
from .sequences import (MOTIONS, CameraView, SequenceSet, camera_views,
                        write_camera_sequences)
from .synthetic import (IR_IMAGE_KINDS, SCENE_BOX_CLASSES, SCENE_TO_M3FD,
                        add_surface_texture, camera_image, make_ir_image,
                        make_ir_scene, make_ir_temperature, make_irstd_sample)
from .tiny_arch import as_cfg_options, tiny_arch_cli, tiny_arch_options
from .writers import (IRSTD_LAYOUTS, write_irstd_layout, write_irstd_like,
                      write_m3fd_like, write_msrs_like, write_pretrain_folder)

__all__ = [
    'IR_IMAGE_KINDS', 'SCENE_BOX_CLASSES', 'SCENE_TO_M3FD', 'make_ir_image',
    'make_ir_scene', 'make_irstd_sample', 'write_pretrain_folder',
    'write_msrs_like', 'write_m3fd_like', 'write_irstd_like',
    'write_irstd_layout', 'IRSTD_LAYOUTS', 'tiny_arch_options',
    'tiny_arch_cli', 'as_cfg_options', 'make_ir_temperature', 'camera_image',
    'add_surface_texture', 'MOTIONS', 'CameraView', 'SequenceSet',
    'camera_views', 'write_camera_sequences', 'pipeline_batch'
]
