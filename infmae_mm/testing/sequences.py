"""Video-like infrared sequences: one scene seen from a moving camera.

Frames of one video differ by camera motion, not by re-encoding: the view
shifts, a border is cropped, the lens zooms a little, and every frame has
new sensor noise and its own automatic gain. This module renders such
frames from one "world" temperature map (:mod:`infmae_mm.testing.synthetic`)
so that near-duplicate detection can be measured against a known truth:

* a *reference* frame per scene (the view at the centre of the world),
* *moved* frames of the same scene: shifted (up to ``max_shift`` of the
  frame size), cropped at a corner or a side (the frame becomes smaller by up
  to ``max_crop``) or zoomed (scale ``1 +- max_zoom`` about the centre, with
  a small shift), each with new noise,
* *distinct* frames: other scenes of the same kinds.

Only numpy, OpenCV and the standard library are imported.
"""
from __future__ import annotations
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.io import atomic_imwrite
from .synthetic import (IR_IMAGE_KINDS, add_surface_texture, camera_image,
                        check_size, image_rng, make_ir_image,
                        make_ir_temperature)

__all__ = [
    'MOTIONS', 'CameraView', 'SequenceSet', 'camera_views',
    'write_camera_sequences'
]

#: Kinds of camera motion of :func:`camera_views`, used in turn.
MOTIONS: Tuple[str, ...] = ('shift', 'crop', 'zoom')


@dataclass
class CameraView:
    """Where one frame looks in its world.

    Attributes:
        motion (str): ``'reference'`` or one of :data:`MOTIONS`.
        x0 (float): World x of the frame's top-left corner, in pixels of
            the reference frame.
        y0 (float): World y of that corner.
        scale (float): World pixels per frame pixel (< 1: zoomed in).
        height (int): Frame height in pixels.
        width (int): Frame width in pixels.
    """
    motion: str
    x0: float
    y0: float
    scale: float
    height: int
    width: int

    def offset(self, ref: 'CameraView') -> Tuple[float, float]:
        """Shift of the frame's centre from ``ref``'s, as fractions of
        ``ref``'s width and height."""
        cx = self.x0 + self.scale * self.width / 2
        cy = self.y0 + self.scale * self.height / 2
        rx = ref.x0 + ref.scale * ref.width / 2
        ry = ref.y0 + ref.scale * ref.height / 2
        return (cx - rx) / ref.width, (cy - ry) / ref.height


def _draw_view(rng: np.random.Generator, motion: str, height: int, width: int,
               margin_x: float, margin_y: float, max_shift: float,
               max_crop: float, max_zoom: float) -> CameraView:
    sign = rng.choice([-1.0, 1.0], size=2)
    if motion == 'shift':
        # At least a quarter of the largest shift along one axis.
        fx = sign[0] * rng.uniform(0.25, 1.0) * max_shift
        fy = sign[1] * rng.uniform(0.0, 1.0) * max_shift
        if rng.random() < 0.5:
            fx, fy = fy, fx
        return CameraView(motion, margin_x + fx * width,
                          margin_y + fy * height, 1.0, height, width)
    if motion == 'crop':
        # Cut a corner (both sides) or one side of the reference frame.
        cut = rng.uniform(0.03, max_crop)
        cut_x, cut_y = cut, cut
        if rng.random() < 0.4:
            cut_x, cut_y = (cut, 0.0) if rng.random() < 0.5 else (0.0, cut)
        h = int(round(height * (1 - cut_y)))
        w = int(round(width * (1 - cut_x)))
        left = margin_x + (width - w if sign[0] > 0 else 0)
        top = margin_y + (height - h if sign[1] > 0 else 0)
        return CameraView(motion, left, top, 1.0, h, w)
    if motion == 'zoom':
        zoom = 1.0 + sign[0] * rng.uniform(0.02, max_zoom)
        scale = 1.0 / zoom
        cx = margin_x + width / 2 + rng.uniform(-0.03, 0.03) * width
        cy = margin_y + height / 2 + rng.uniform(-0.03, 0.03) * height
        return CameraView(motion, cx - scale * width / 2,
                          cy - scale * height / 2, scale, height, width)
    raise ValueError(f'motion must be one of {MOTIONS}, got {motion!r}')


def camera_views(
        rng: np.random.Generator,
        height: int,
        width: int,
        num_moved: int,
        kind: Optional[str] = None,
        max_shift: float = 0.1,
        max_crop: float = 0.1,
        max_zoom: float = 0.08,
        motions: Sequence[str] = MOTIONS,
        bit_depth: int = 8) -> Tuple[List[np.ndarray], List[CameraView]]:
    """Render a reference frame and ``num_moved`` moved frames of one scene.

    The world is rendered once, larger than a frame by the largest motion on
    every side; each frame samples it (bilinear) and goes through the
    simulated camera with new noise and gain.

    Args:
        rng: Source of randomness.
        height: Reference frame height.
        width: Reference frame width.
        num_moved: Number of moved frames; their motions cycle through
            ``motions``.
        kind: Scene kind (:data:`~infmae_mm.testing.synthetic.
            IR_IMAGE_KINDS`) or None for a random one.
        max_shift: Largest shift, as a fraction of the frame size.
        max_crop: Largest cut of a cropped frame, as a fraction.
        max_zoom: Largest relative zoom in or out.
        motions: Motions used, in turn.
        bit_depth: 8 or 16.

    Returns:
        tuple: ``(frames, views)``; ``frames[0]`` is the reference frame
        (``(height, width)``), the others are ``(h, w)`` uint8/uint16 images
        described by ``views``.
    """
    height, width = check_size((height, width))
    for name, value in (('max_shift', max_shift), ('max_crop', max_crop),
                        ('max_zoom', max_zoom)):
        if not 0.0 < value < 0.5:
            raise ValueError(f'{name} must be in (0, 0.5), got {value}')
    bad = [m for m in motions if m not in MOTIONS]
    if bad or not motions:
        raise ValueError(f'motions must be taken from {MOTIONS}, got '
                         f'{tuple(motions)}')
    reach = max(max_shift, max_zoom) + 0.05
    margin_x, margin_y = reach * width, reach * height
    world_h = int(np.ceil(height + 2 * margin_y))
    world_w = int(np.ceil(width + 2 * margin_x))
    world = make_ir_temperature(rng, world_h, world_w, kind)
    # The surface texture belongs to the world, not to one picture of it.
    add_surface_texture(rng, world)
    views = [CameraView('reference', margin_x, margin_y, 1.0, height, width)]
    views += [
        _draw_view(rng, motions[i % len(motions)], height, width, margin_x,
                   margin_y, max_shift, max_crop, max_zoom)
        for i in range(int(num_moved))
    ]
    frames = []
    for view in views:
        matrix = np.float32([[view.scale, 0, view.x0],
                             [0, view.scale, view.y0]])
        temp = cv2.warpAffine(
            world,
            matrix, (view.width, view.height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT)
        frames.append(camera_image(rng, temp, bit_depth, texture=0.0))
    return frames, views


@dataclass
class SequenceSet:
    """What :func:`write_camera_sequences` wrote.

    Attributes:
        references (list[str]): The reference frame of each scene.
        moved (list[str]): Moved frames (near-duplicates of their scene's
            reference).
        distinct (list[str]): Frames of other scenes, one per scene.
        scene_of (dict[str, int]): Scene index of every reference and moved
            frame.
        views (dict[str, CameraView]): The view of every reference and moved
            frame.
    """
    references: List[str] = field(default_factory=list)
    moved: List[str] = field(default_factory=list)
    distinct: List[str] = field(default_factory=list)
    scene_of: Dict[str, int] = field(default_factory=dict)
    views: Dict[str, CameraView] = field(default_factory=dict)


def write_camera_sequences(root: str,
                           num_scenes: int = 4,
                           moved_per_scene: int = 10,
                           num_distinct: int = 20,
                           size: Tuple[int, int] = (192, 256),
                           seed: int = 0,
                           kinds: Sequence[str] = IR_IMAGE_KINDS,
                           **view_kwargs) -> SequenceSet:
    """Write video-like sequences plus distinct frames, with the truth.

    Layout: ``root/seq_<k>/frame_000.png`` (the reference),
    ``root/seq_<k>/frame_<i>_<motion>.png`` (moved frames) and
    ``root/distinct/frame_<j>.png``. The reference sorts first in its
    sequence, so curation keeps it as the anchor among same-size frames.

    Args:
        root: Output folder.
        num_scenes: Number of sequences.
        moved_per_scene: Moved frames per sequence.
        num_distinct: Frames of other scenes.
        size: Reference frame ``(H, W)``.
        seed: Random seed; scene ``k`` depends only on ``seed`` and ``k``.
        kinds: Scene kinds used in turn (streets, clouds, buildings, sea,
            ground by default).
        **view_kwargs: ``max_shift``, ``max_crop``, ``max_zoom``,
            ``motions``, ``bit_depth`` of :func:`camera_views`.

    Returns:
        SequenceSet: The paths written and the truth.
    """
    h, w = check_size(size)
    out = SequenceSet()
    for k in range(int(num_scenes)):
        rng = image_rng(seed, 30, k)
        frames, views = camera_views(
            rng,
            h,
            w,
            moved_per_scene,
            kind=kinds[k % len(kinds)],
            **view_kwargs)
        for i, (frame, view) in enumerate(zip(frames, views)):
            name = 'frame_000.png' if i == 0 else \
                f'frame_{i:03d}_{view.motion}.png'
            path = os.path.join(root, f'seq_{k:03d}', name)
            atomic_imwrite(path, frame)
            (out.moved if i else out.references).append(path)
            out.scene_of[path] = k
            out.views[path] = view
    bit_depth = view_kwargs.get('bit_depth', 8)
    for j in range(int(num_distinct)):
        rng = image_rng(seed, 31, j)
        img = make_ir_image(
            rng, h, w, bit_depth=bit_depth, kind=kinds[j % len(kinds)])
        path = os.path.join(root, 'distinct', f'frame_{j:03d}.png')
        atomic_imwrite(path, img)
        out.distinct.append(path)
    return out
