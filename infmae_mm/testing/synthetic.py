"""Deterministic renderer of infrared-like images, for tests and the demo.

Nothing here needs the network or real data: every picture is drawn from a
seeded :class:`numpy.random.Generator`, so the same seed always gives the same
bytes. The images are meant to *look* thermal, not to be physically exact:

* the scene is first rendered as a float32 "temperature" map (roughly 0 = cold
  sky, 1 = hot engine / lamp): a cool smooth background (sky and ground
  gradients with low-frequency noise, clouds, a skyline of buildings and
  trees), a road in perspective with lane marks and curbs, and warm objects
  (people as bright capsules/ellipses, vehicles as rounded rectangles with hot
  wheels and engines, poles with hot lamps, cones, guard rails ...);
* then a simple camera model is applied: mild blur, vignetting, column
  (fixed-pattern) and temporal noise, and either an 8-bit automatic gain
  control or 16-bit "radiometric" counts (14-bit values around 6000-12000).

:mod:`infmae_mm.testing.writers` lays the images out like the public datasets
the project uses; :mod:`infmae_mm.testing.sequences` renders video-like
sequences with camera motion. Class names come from
:mod:`infmae_mm.datasets.metainfo`.

Only numpy, OpenCV and the standard library are imported.
"""
from __future__ import annotations
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'SCENE_BOX_CLASSES',
    'SCENE_TO_M3FD',
    'IR_IMAGE_KINDS',
    'make_ir_image',
    'make_ir_temperature',
    'camera_image',
    'add_surface_texture',
    'make_ir_scene',
    'make_irstd_sample',
    'image_rng',
    'check_size',
    'pick_size',
]

#: Class names used in the boxes returned by :func:`make_ir_scene`.
SCENE_BOX_CLASSES: Tuple[str, ...] = ('person', 'car', 'bus', 'truck', 'bike',
                                      'lamp', 'color_cone')
#: Mapping from scene box names to M3FD names (other names are dropped).
SCENE_TO_M3FD: Dict[str, str] = {
    'person': 'People',
    'car': 'Car',
    'bus': 'Bus',
    'truck': 'Truck',
    'bike': 'Motorcycle',
    'lamp': 'Lamp'
}
#: Scene kinds accepted by :func:`make_ir_image`.
IR_IMAGE_KINDS: Tuple[str,
                      ...] = ('street', 'clouds', 'buildings', 'sea', 'ground')

# MSRS label ids.
_UNL, _CAR, _PERSON, _BIKE, _CURVE, _CAR_STOP, _GUARDRAIL, _CONE, _BUMP = \
    range(9)

Box = Tuple[int, int, int, int, str]
SizeSpec = Union[Tuple[int, int], Tuple[Tuple[int, int], Tuple[int, int]]]


# --------------------------------------------------------------------------
# Low-level helpers
# --------------------------------------------------------------------------
def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _lowfreq(rng: np.random.Generator,
             h: int,
             w: int,
             cells: float,
             octaves: int = 3,
             persistence: float = 0.5,
             aspect: float = 1.0) -> np.ndarray:
    """Smooth fractal-like noise, roughly zero mean and unit amplitude.

    ``cells`` is the number of noise cells along the longer side for the
    coarsest octave; ``aspect`` > 1 stretches the structures horizontally.
    """
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    side = max(h, w)
    for o in range(octaves):
        c = cells * (2**o)
        gh = max(2, int(math.ceil(c * h / side)) + 1)
        gw = max(2, int(math.ceil(c * w / side / aspect)) + 1)
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    out /= total
    return out


def _i(v: float) -> int:
    return int(round(v))


def _rounded_rect_pts(x1: float, y1: float, x2: float, y2: float,
                      r: float) -> np.ndarray:
    """Polygon (N, 2) of a rounded rectangle."""
    r = max(0.0, min(r, (x2 - x1) / 2.0, (y2 - y1) / 2.0))
    pts = []
    for cx, cy, a0 in ((x2 - r, y1 + r, -90.0), (x2 - r, y2 - r, 0.0),
                       (x1 + r, y2 - r, 90.0), (x1 + r, y1 + r, 180.0)):
        for a in np.radians(np.linspace(a0, a0 + 90.0, 5)):
            pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return np.asarray(pts, np.float64)


class _Painter:
    """Draws the same shapes into the temperature, label and instance maps.

    Drawing happens in a region of interest (the object's generous bounds,
    clipped to the image) so that a per-object mask, and from it a tight box,
    costs only the size of the object.
    """

    def __init__(self, temp: np.ndarray, label: Optional[np.ndarray],
                 inst: Optional[np.ndarray], inst_id: int,
                 bounds: Tuple[float, float, float, float]) -> None:
        h, w = temp.shape
        x0, y0, x1, y1 = bounds
        self.truncated = x0 < 0 or y0 < 0 or x1 > w or y1 > h
        x0 = max(0, int(math.floor(x0)) - 2)
        y0 = max(0, int(math.floor(y0)) - 2)
        x1 = min(w, int(math.ceil(x1)) + 2)
        y1 = min(h, int(math.ceil(y1)) + 2)
        self.empty = x1 <= x0 or y1 <= y0
        self.ox, self.oy = x0, y0
        self.inst_id = inst_id
        self.canvases = []
        if not self.empty:
            self.mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            self.canvases = [(temp[y0:y1, x0:x1], None), (self.mask, 1)]
            if label is not None:
                self.canvases.append((label[y0:y1, x0:x1], 'cls'))
            if inst is not None:  # id 0 (e.g. a pole) hides what is behind
                self.canvases.append((inst[y0:y1, x0:x1], ('id', inst_id)))

    def _pt(self, x: float, y: float) -> Tuple[int, int]:
        return _i(x - self.ox), _i(y - self.oy)

    def _draw(self, fn, t: float, cls: int) -> None:
        for canvas, val in self.canvases:
            if val is None:
                color = float(t)
            elif val == 'cls':
                color = int(cls)
            elif isinstance(val, tuple):
                color = int(val[1])
            else:
                color = int(val)
            fn(canvas, color)

    def ellipse(self,
                cx: float,
                cy: float,
                ax: float,
                ay: float,
                t: float,
                cls: int,
                angle: float = 0.0) -> None:
        if self.empty:
            return
        c = self._pt(cx, cy)
        axes = (max(1, _i(ax)), max(1, _i(ay)))
        self._draw(
            lambda im, col: cv2.ellipse(im, c, axes, angle, 0, 360, col, -1,
                                        cv2.LINE_8), t, cls)

    def circle(self,
               cx: float,
               cy: float,
               r: float,
               t: float,
               cls: int,
               thickness: int = -1) -> None:
        if self.empty:
            return
        c = self._pt(cx, cy)
        rr = max(1, _i(r))
        th = thickness if thickness < 0 else max(1, thickness)
        self._draw(lambda im, col: cv2.circle(im, c, rr, col, th, cv2.LINE_8),
                   t, cls)

    def line(self, x1: float, y1: float, x2: float, y2: float,
             thickness: float, t: float, cls: int) -> None:
        if self.empty:
            return
        p, q = self._pt(x1, y1), self._pt(x2, y2)
        th = max(1, _i(thickness))
        self._draw(lambda im, col: cv2.line(im, p, q, col, th, cv2.LINE_8), t,
                   cls)

    def poly(self, pts: Union[np.ndarray, Sequence[Tuple[float, float]]],
             t: float, cls: int) -> None:
        if self.empty:
            return
        arr = np.asarray(pts, np.float64)
        arr = np.round(arr - (self.ox, self.oy)).astype(np.int32)[None]
        self._draw(lambda im, col: cv2.fillPoly(im, arr, col, cv2.LINE_8), t,
                   cls)

    def rrect(self, x1: float, y1: float, x2: float, y2: float, r: float,
              t: float, cls: int) -> None:
        self.poly(_rounded_rect_pts(x1, y1, x2, y2, r), t, cls)

    def box(self) -> Optional[Tuple[int, int, int, int]]:
        """Tight (x1, y1, x2, y2) in image coords; x2, y2 exclusive."""
        if self.empty:
            return None
        ys = np.flatnonzero(self.mask.any(axis=1))
        xs = np.flatnonzero(self.mask.any(axis=0))
        if ys.size == 0:
            return None
        return (self.ox + int(xs[0]), self.oy + int(ys[0]),
                self.ox + int(xs[-1]) + 1, self.oy + int(ys[-1]) + 1)

    def area(self) -> int:
        return 0 if self.empty else int(np.count_nonzero(self.mask))


def _finish(rng: np.random.Generator,
            temp: np.ndarray,
            bit_depth: int = 8,
            blur: Tuple[float, float] = (0.6, 1.1),
            texture: float = 0.015) -> np.ndarray:
    """Camera model: texture, blur, vignetting, noise and digitisation."""
    if bit_depth not in (8, 16):
        raise ValueError(f'bit_depth must be 8 or 16, got {bit_depth}')
    h, w = temp.shape
    t = temp
    if texture > 0:
        add_surface_texture(rng, t, texture)
    sigma = _u(rng, *blur)
    if sigma > 0.05:
        t = cv2.GaussianBlur(t, (0, 0), sigma)
    # vignetting: a little darker towards the corners
    yy = (np.arange(h, dtype=np.float32) - (h - 1) / 2.0) / (h / 2.0)
    xx = (np.arange(w, dtype=np.float32) - (w - 1) / 2.0) / (w / 2.0)
    r2 = (yy[:, None]**2 + xx[None, :]**2) * 0.5
    t -= np.float32(_u(rng, 0.02, 0.08)) * r2
    # column / row fixed-pattern noise of uncooled micro-bolometers
    t += (_u(rng, 0.002, 0.007) *
          rng.standard_normal(w).astype(np.float32))[None, :]
    t += (_u(rng, 0.0, 0.003) *
          rng.standard_normal(h).astype(np.float32))[:, None]
    # temporal noise
    t += _u(rng, 0.004, 0.012) * rng.standard_normal((h, w), np.float32)
    if bit_depth == 16:
        base, span = _u(rng, 6000.0, 8000.0), _u(rng, 1800.0, 4000.0)
        out = t * np.float32(span) + np.float32(base)
        np.clip(out, 0, 16383, out=out)  # 14-bit radiometric counts
        return (out + 0.5).astype(np.uint16)
    # 8-bit: automatic gain control from robust percentiles
    lo, hi = np.percentile(t[::3, ::3], [0.3, 99.9])
    if hi - lo < 1e-3:
        hi = lo + 1e-3
    out_lo, out_hi = _u(rng, 0.0, 24.0), _u(rng, 228.0, 255.0)
    out = (t - np.float32(lo)) * np.float32((out_hi - out_lo) / (hi - lo))
    out += np.float32(out_lo)
    np.clip(out, 0, 255, out=out)
    return (out + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------
# Street scene (drives MSRS, M3FD and most pre-training images)
# --------------------------------------------------------------------------
class _Street:
    """Perspective helper: row of a ground point and its scale."""

    def __init__(self, h: int, w: int, y_h: float, vx: float) -> None:
        self.h, self.w, self.y_h, self.vx = h, w, y_h, vx
        self.D = float(h - y_h)  # rows between horizon and image bottom

    def y(self, s: float) -> float:
        """Image row of a ground point at scale ``s`` (1 = bottom row)."""
        return self.y_h + s * self.D

    def x(self, s: float, off: float) -> float:
        """Image column of a ground point at lateral offset ``off``.

        ``off`` is measured in pixels at the bottom row (s = 1).
        """
        return self.vx + off * s


def _draw_skyline(rng: np.random.Generator, temp: np.ndarray, y_h: float,
                  pal: Dict[str, float]) -> None:
    h, w = temp.shape
    x = _u(rng, -0.1, 0.05) * w
    base = _i(y_h + 2)
    while x < w:
        kind = rng.choice(3, p=(0.55, 0.3, 0.15))
        bw = _u(rng, 0.04, 0.18) * w
        if kind == 0:  # building
            bh = _u(rng, 0.05, 0.55) * y_h
            tb = pal['building'] + _u(rng, -0.06, 0.06)
            x1, x2, top = _i(x), _i(x + bw), _i(y_h - bh)
            cv2.rectangle(temp, (x1, top), (x2, base), tb, -1)
            if bw > 14 and bh > 14 and rng.random() < 0.7:
                ww = max(2, _i(bw * _u(rng, 0.05, 0.09)))
                wh = max(2, _i(ww * _u(rng, 1.0, 1.6)))
                gx, gy = ww * 2, wh * 2
                lit_p = _u(rng, 0.1, 0.5)
                for yy in range(top + gy // 2, base - wh, gy):
                    for xx in range(x1 + gx // 2, x2 - ww, gx):
                        if rng.random() < lit_p:
                            tw = tb + _u(rng, 0.1, 0.3)
                        else:
                            tw = tb - _u(rng, 0.02, 0.08)
                        cv2.rectangle(temp, (xx, yy),
                                      (xx + ww - 1, yy + wh - 1), tw, -1)
        elif kind == 1:  # trees: a cluster of cool blobs on a trunk
            th = _u(rng, 0.08, 0.4) * y_h
            tt = pal['tree'] + _u(rng, -0.04, 0.04)
            cx = x + bw / 2
            cv2.line(temp, (_i(cx), base), (_i(cx), _i(y_h - th * 0.5)),
                     tt + 0.03, max(1, _i(bw * 0.08)))
            for _ in range(int(rng.integers(3, 7))):
                ex = cx + _u(rng, -0.35, 0.35) * bw
                ey = y_h - th * _u(rng, 0.45, 0.85)
                cv2.ellipse(temp, (_i(ex), _i(ey)),
                            (max(1, _i(bw * _u(rng, 0.2, 0.4))),
                             max(1, _i(th * _u(rng, 0.2, 0.35)))), 0, 0, 360,
                            tt + _u(rng, -0.03, 0.03), -1)
        x += bw * (_u(rng, 0.9, 1.0) if kind != 2 else _u(rng, 0.5, 1.5))


def _draw_person(temp,
                 label,
                 inst,
                 iid,
                 x,
                 yb,
                 ph,
                 t,
                 rng,
                 cls=_PERSON,
                 seated=False):
    """A standing (or seated) person with feet at (x, yb), height ph."""
    bounds = (x - 0.3 * ph, yb - ph - 2, x + 0.3 * ph, yb + 2)
    p = _Painter(temp, label, inst, iid, bounds)
    if ph < 14:  # far away: a bright vertical ellipse is enough
        p.ellipse(x, yb - ph / 2, max(1.0, ph * 0.16), ph / 2, t, cls)
        p.ellipse(x, yb - ph * 0.9, max(1.0, ph * 0.08), max(1.0, ph * 0.08),
                  t + 0.08, cls)
        return p
    lean = _u(rng, -0.04, 0.04) * ph
    hip_y = yb - 0.5 * ph
    sh_y = yb - 0.8 * ph
    stride = _u(rng, 0.0, 0.12) * ph
    if seated:
        knee_x = x + 0.22 * ph
        p.line(x, hip_y, knee_x, hip_y + 0.02 * ph, 0.1 * ph, t - 0.05, cls)
        p.line(knee_x, hip_y, knee_x - 0.02 * ph, yb, 0.08 * ph, t - 0.06, cls)
    else:
        for side in (-1, 1):
            p.line(x + side * 0.04 * ph, hip_y,
                   x + side * (0.04 * ph + stride), yb - 0.03 * ph, 0.085 * ph,
                   t - 0.05, cls)
    # arms
    for side in (-1, 1):
        p.line(x + lean + side * 0.1 * ph, sh_y,
               x + side * (0.13 * ph + _u(rng, 0, 0.05) * ph),
               hip_y + 0.03 * ph, 0.06 * ph, t - 0.03, cls)
    # torso as a capsule, head as an ellipse
    p.line(x + lean, sh_y + 0.03 * ph, x, hip_y + 0.02 * ph, 0.2 * ph, t, cls)
    p.ellipse(x + lean, yb - 0.92 * ph, 0.065 * ph, 0.08 * ph, t + 0.1, cls)
    return p


def _draw_vehicle(temp, label, inst, iid, x, yb, s, st: _Street, kind: str,
                  pal, rng):
    """Car / bus / truck seen from the side or from behind."""
    D = st.D
    dims = {
        'car': (0.94, 2.8, 1.12),
        'bus': (2.0, 7.5, 1.6),
        'truck': (2.2, 5.5, 1.55)
    }[kind]
    vh = dims[0] * s * D * _u(rng, 0.9, 1.1)
    side_view = rng.random() < 0.4
    vw = (dims[1] if side_view else dims[2]) * s * D * _u(rng, 0.9, 1.1)
    body = pal['car'] + _u(rng, -0.05, 0.05)
    hot = pal['hot']
    x1, x2, top = x - vw / 2, x + vw / 2, yb - vh
    p = _Painter(temp, label, inst, iid, (x1 - 2, top - 2, x2 + 2, yb + 2))
    glass = body - _u(rng, 0.06, 0.12)
    if side_view:
        direction = 1 if rng.random() < 0.5 else -1
        r_wheel = 0.17 * vh if kind == 'car' else 0.13 * vh
        wheel_y = yb - r_wheel
        if kind == 'car':
            p.rrect(x1, yb - 0.62 * vh, x2, wheel_y, 0.12 * vh, body, _CAR)
            c1, c2 = x - 0.3 * vw, x + 0.22 * vw
            if direction < 0:
                c1, c2 = x - 0.22 * vw, x + 0.3 * vw
            p.poly([(c1, yb - 0.6 * vh), (c1 + 0.1 * vw, top),
                    (c2 - 0.12 * vw, top), (c2, yb - 0.6 * vh)], body, _CAR)
            p.poly([(c1 + 0.05 * vw, yb - 0.62 * vh),
                    (c1 + 0.12 * vw, top + 0.1 * vh),
                    (c2 - 0.13 * vw, top + 0.1 * vh),
                    (c2 - 0.04 * vw, yb - 0.62 * vh)], glass, _CAR)
            ex = x + direction * 0.38 * vw
            p.ellipse(ex, yb - 0.42 * vh, 0.1 * vw, 0.14 * vh, hot, _CAR)
        elif kind == 'bus':
            p.rrect(x1, top, x2, wheel_y + 0.05 * vh, 0.08 * vh, body, _CAR)
            n_win = max(2, int(vw / (0.35 * vh)))
            ww = vw / n_win
            for k in range(n_win):
                p.rrect(x1 + k * ww + 0.1 * ww, top + 0.12 * vh,
                        x1 + (k + 0.85) * ww, top + 0.45 * vh, 0.02 * vh,
                        glass + _u(rng, -0.02, 0.05), _CAR)
            p.ellipse(x - direction * 0.42 * vw, yb - 0.3 * vh, 0.06 * vw,
                      0.12 * vh, hot, _CAR)
        else:  # truck: cab + cargo box
            cab_w = 0.25 * vw
            cab_x1 = x2 - cab_w if direction > 0 else x1
            cargo_x1 = x1 if direction > 0 else x1 + cab_w + 0.02 * vw
            cargo_x2 = x2 - cab_w - 0.02 * vw if direction > 0 else x2
            cargo = pal['cargo'] + _u(rng, -0.03, 0.03)
            p.rrect(cargo_x1, top, cargo_x2, wheel_y, 0.03 * vh, cargo, _CAR)
            p.rrect(cab_x1, top + 0.25 * vh, cab_x1 + cab_w, wheel_y, 0.1 * vh,
                    body, _CAR)
            p.rrect(cab_x1 + 0.15 * cab_w, top + 0.32 * vh,
                    cab_x1 + 0.85 * cab_w, top + 0.5 * vh, 0.03 * vh, glass,
                    _CAR)
            p.ellipse(cab_x1 + cab_w / 2, yb - 0.3 * vh, 0.3 * cab_w, 0.1 * vh,
                      hot, _CAR)
        for wx in ((x1 + 0.18 * vw, x2 - 0.18 * vw) if kind != 'truck' else
                   (x1 + 0.12 * vw, x - 0.05 * vw, x2 - 0.12 * vw)):
            p.circle(wx, wheel_y, r_wheel, pal['wheel'], _CAR)
            p.circle(wx, wheel_y, r_wheel * 0.45, pal['wheel'] + 0.08, _CAR)
    else:  # rear (or front) view
        ww = 0.16 * vw
        for wx in (x1 + ww / 2, x2 - ww / 2):
            p.rrect(wx - ww / 2, yb - 0.22 * vh, wx + ww / 2, yb, 0.03 * vh,
                    pal['wheel'], _CAR)
        if kind == 'car':
            p.rrect(x1, yb - 0.62 * vh, x2, yb - 0.1 * vh, 0.12 * vh, body,
                    _CAR)
            p.poly([(x1 + 0.06 * vw, yb - 0.6 * vh), (x1 + 0.18 * vw, top),
                    (x2 - 0.18 * vw, top), (x2 - 0.06 * vw, yb - 0.6 * vh)],
                   body, _CAR)
            p.poly([(x1 + 0.12 * vw, yb - 0.62 * vh),
                    (x1 + 0.21 * vw, top + 0.08 * vh),
                    (x2 - 0.21 * vw, top + 0.08 * vh),
                    (x2 - 0.12 * vw, yb - 0.62 * vh)], glass, _CAR)
        else:
            p.rrect(x1, top, x2, yb - 0.1 * vh, 0.06 * vh,
                    body if kind == 'bus' else pal['cargo'], _CAR)
            if kind == 'bus':
                p.rrect(x1 + 0.08 * vw, top + 0.1 * vh, x2 - 0.08 * vw,
                        top + 0.4 * vh, 0.03 * vh, glass, _CAR)
        for lx in (x1 + 0.1 * vw, x2 - 0.1 * vw):  # tail lights
            p.ellipse(lx, yb - 0.45 * vh, 0.05 * vw, 0.04 * vh, body + 0.12,
                      _CAR)
        p.ellipse(x + _u(rng, -0.25, 0.25) * vw, yb - 0.1 * vh, 0.07 * vw,
                  0.05 * vh, hot, _CAR)  # exhaust
    return p


def _draw_bike(temp, label, inst, iid, x, yb, s, st: _Street, pal, rng):
    """A two-wheeler (bike class) with a hot engine; no rider."""
    D = st.D
    r = 0.2 * s * D * _u(rng, 0.9, 1.1)
    side_view = rng.random() < 0.6
    tire = pal['wheel'] - 0.08
    if side_view:
        L = 3.3 * r
        p = _Painter(temp, label, inst, iid,
                     (x - L / 2 - r, yb - 2.6 * r, x + L / 2 + r, yb + 2))
        th = max(1, _i(0.25 * r))
        for wx in (x - L / 2, x + L / 2):
            p.circle(wx, yb - r, r, tire, _BIKE, thickness=th)
        p.line(x - L / 2, yb - r, x, yb - 1.9 * r, 0.2 * r, pal['car'], _BIKE)
        p.line(x, yb - 1.9 * r, x + L / 2, yb - r, 0.2 * r, pal['car'], _BIKE)
        p.line(x + L / 2, yb - r, x + L / 2 - 0.3 * r, yb - 2.4 * r, 0.15 * r,
               pal['car'], _BIKE)
        p.ellipse(x, yb - 1.2 * r, 0.5 * r, 0.35 * r, pal['hot'], _BIKE)
        seat = (x - 0.2 * L, yb - 1.9 * r)
    else:
        p = _Painter(temp, label, inst, iid,
                     (x - 0.6 * r, yb - 2.6 * r, x + 0.6 * r, yb + 2))
        p.rrect(x - 0.18 * r, yb - 2 * r, x + 0.18 * r, yb, 0.1 * r, tire,
                _BIKE)
        p.rrect(x - 0.45 * r, yb - 1.9 * r, x + 0.45 * r, yb - 0.9 * r,
                0.15 * r, pal['car'], _BIKE)
        p.ellipse(x + 0.25 * r, yb - 0.8 * r, 0.15 * r, 0.12 * r, pal['hot'],
                  _BIKE)
        seat = (x, yb - 1.6 * r)
    return p, seat


def _draw_pole(temp, label, inst, iid, x, yb, s, st, pal, rng, toward):
    """A street lamp: a cool pole (unlabelled) and a hot lamp head."""
    D = st.D
    ph = _u(rng, 3.1, 5.0) * s * D
    arm = _u(rng, 0.3, 0.8) * s * D * toward
    top = yb - ph
    pole = _Painter(
        temp, label, inst, 0,
        (min(x, x + arm) - 3, top - 3, max(x, x + arm) + 3, yb + 2))
    th = max(1.0, 0.05 * s * D)
    pole.line(x, yb, x, top, th, pal['pole'], _UNL)
    pole.line(x, top, x + arm, top, th * 0.8, pal['pole'], _UNL)
    lr = max(1.0, 0.07 * s * D)
    lamp = _Painter(
        temp, label, inst, iid,
        (x + arm - 2 * lr, top - lr, x + arm + 2 * lr, top + 2 * lr))
    lamp.ellipse(x + arm, top + 0.7 * lr, 1.6 * lr, lr * 0.8, pal['lamp'],
                 _UNL)
    return lamp


def _render_street(
    rng: np.random.Generator,
    h: int,
    w: int,
    night: Optional[bool] = None,
    n_objects: Optional[int] = None
) -> Tuple[np.ndarray, np.ndarray, List[Box]]:
    """Temperature map, MSRS label map and boxes of a street scene."""
    if night is None:
        night = bool(rng.random() < 0.6)
    if night:
        pal = dict(
            sky_top=_u(rng, 0.0, 0.06),
            sky_gain=_u(rng, 0.06, 0.14),
            ground=_u(rng, 0.2, 0.28),
            road=_u(rng, 0.27, 0.36),
            building=_u(rng, 0.26, 0.4),
            tree=_u(rng, 0.14, 0.22),
            person=_u(rng, 0.72, 0.84),
            car=_u(rng, 0.52, 0.62),
            cargo=_u(rng, 0.42, 0.5),
            wheel=_u(rng, 0.8, 0.88),
            hot=_u(rng, 0.9, 0.97),
            lamp=_u(rng, 0.97, 1.05),
            pole=_u(rng, 0.14, 0.2))
    else:
        pal = dict(
            sky_top=_u(rng, 0.06, 0.12),
            sky_gain=_u(rng, 0.05, 0.1),
            ground=_u(rng, 0.3, 0.38),
            road=_u(rng, 0.38, 0.46),
            building=_u(rng, 0.32, 0.46),
            tree=_u(rng, 0.22, 0.3),
            person=_u(rng, 0.7, 0.8),
            car=_u(rng, 0.56, 0.66),
            cargo=_u(rng, 0.5, 0.56),
            wheel=_u(rng, 0.78, 0.86),
            hot=_u(rng, 0.88, 0.96),
            lamp=_u(rng, 0.6, 0.7),
            pole=_u(rng, 0.38, 0.46))
    y_h = _u(rng, 0.3, 0.45) * h
    vx = _u(rng, 0.35, 0.65) * w
    st = _Street(h, w, y_h, vx)
    D = st.D

    # --- background: sky and ground gradients with low-frequency noise
    rows = np.arange(h, dtype=np.float32)
    sky = pal['sky_top'] + pal['sky_gain'] * np.clip(rows / y_h, 0, 1)**1.6
    gnd = pal['ground'] + 0.05 * np.clip((rows - y_h) / D, 0, 1)
    prof = np.where(rows < y_h, sky, gnd).astype(np.float32)
    amp = np.where(rows < y_h, _u(rng, 0.02, 0.06), 0.03).astype(np.float32)
    lf = _lowfreq(rng, h, w, 4.0, octaves=4)
    temp = prof[:, None] + amp[:, None] * lf
    label = np.zeros((h, w), np.uint8)
    inst = np.zeros((h, w), np.uint16)
    _draw_skyline(rng, temp, y_h, pal)

    has_road = rng.random() < 0.85
    half = _u(rng, 0.6, 1.4) * w  # road half width at the bottom row
    shift = _u(rng, -0.3, 0.3) * w
    left_off, right_off = shift - half, shift + half
    z_far = 60.0

    def zs(z0: float, z1: float, n: int) -> np.ndarray:
        return 1.0 / np.geomspace(z0, z1, n)

    if has_road:
        road_poly = np.array([(vx, y_h), (st.x(1.15, left_off), st.y(1.15)),
                              (st.x(1.15, right_off), st.y(1.15))])
        rmask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(rmask, np.round(road_poly).astype(np.int32)[None], 1)
        rprof = pal['road'] + 0.04 * np.clip((rows - y_h) / D, 0, 1)
        temp = np.where(rmask > 0, rprof[:, None] + 0.02 * lf,
                        temp).astype(np.float32)
        # dashed lane marks (painted lines emit a little less)
        paint = pal['road'] - _u(rng, 0.03, 0.07)
        for lane_off in (shift + _u(rng, -0.1, 0.1) * half, ):
            for z in np.arange(0.9, 40.0, 2.2):
                sa, sb = 1.0 / z, 1.0 / (z + 1.0)
                th = max(1, _i(0.02 * w * sa))
                cv2.line(temp, (_i(st.x(sa, lane_off)), _i(st.y(sa))),
                         (_i(st.x(sb, lane_off)), _i(st.y(sb))), paint, th)
        # curbs ('curve') along both edges
        curb_t = pal['road'] + _u(rng, -0.06, 0.06)
        for off in (left_off, right_off):
            if rng.random() < 0.8:
                ss = zs(0.85, z_far, 24)
                for sa, sb in zip(ss[:-1], ss[1:]):
                    th = max(1, _i(0.05 * sa * D))
                    p, q = ((_i(st.x(sa,
                                     off)), _i(st.y(sa))), (_i(st.x(sb, off)),
                                                            _i(st.y(sb))))
                    cv2.line(temp, p, q, curb_t, th)
                    cv2.line(label, p, q, _CURVE, th)
        # a speed bump across the road
        if rng.random() < 0.3:
            sb = _u(rng, 0.3, 0.8)
            sb2 = sb * _u(rng, 0.93, 0.96)
            poly = np.round(
                np.array([(st.x(sb, left_off), st.y(sb)),
                          (st.x(sb, right_off), st.y(sb)),
                          (st.x(sb2, right_off), st.y(sb2)),
                          (st.x(sb2,
                                left_off), st.y(sb2))])).astype(np.int32)[None]
            cv2.fillPoly(temp, poly, pal['road'] + _u(rng, 0.06, 0.12))
            cv2.fillPoly(label, poly, _BUMP)
        # a guard rail beside the road
        if rng.random() < 0.5:
            side = -1 if rng.random() < 0.5 else 1
            goff = (left_off if side < 0 else right_off) + side * \
                _u(rng, 0.05, 0.25) * w
            gt = pal['ground'] + (-_u(rng, 0.05, 0.1) if night else _u(
                rng, 0.1, 0.2))
            ss = zs(0.9, z_far, 30)
            for sa, sb in zip(ss[:-1], ss[1:]):
                xa, xb = st.x(sa, goff), st.x(sb, goff)
                ya, yb_ = st.y(sa), st.y(sb)
                poly = np.round(
                    np.array([(xa, ya - 0.28 * sa * D),
                              (xb, yb_ - 0.28 * sb * D),
                              (xb, yb_ - 0.47 * sb * D),
                              (xa, ya - 0.47 * sa * D)
                              ])).astype(np.int32)[None]
                cv2.fillPoly(temp, poly, gt)
                cv2.fillPoly(label, poly, _GUARDRAIL)
                post = max(1, _i(0.03 * sa * D))
                cv2.line(temp, (_i(xa), _i(ya)),
                         (_i(xa), _i(ya - 0.47 * sa * D)), gt, post)
                cv2.line(label, (_i(xa), _i(ya)),
                         (_i(xa), _i(ya - 0.47 * sa * D)), _GUARDRAIL, post)
    # parking stops (car_stop) on the ground
    if rng.random() < 0.3:
        s0 = _u(rng, 0.3, 0.9)
        off0 = (right_off if rng.random() < 0.5 else left_off) * \
            _u(rng, 1.05, 1.4)
        for k in range(int(rng.integers(1, 4))):
            s = s0 / (1 + 0.25 * k)
            cx, cy = st.x(s, off0), st.y(s)
            hw, hh = 0.55 * s * D, max(1.0, 0.06 * s * D)
            pts = _rounded_rect_pts(cx - hw, cy - hh, cx + hw, cy, hh * 0.4)
            pts = np.round(pts).astype(np.int32)[None]
            cv2.fillPoly(temp, pts, pal['ground'] + _u(rng, 0.07, 0.12))
            cv2.fillPoly(label, pts, _CAR_STOP)

    # --- objects, drawn from far to near
    if n_objects is None:
        n_objects = int(rng.integers(2, 8 + (h * w) // 150000))
    things = []
    for _ in range(n_objects):
        kind = str(
            rng.choice(['person', 'car', 'bike', 'bus', 'truck', 'color_cone'],
                       p=[0.38, 0.32, 0.1, 0.06, 0.07, 0.07]))
        s = 1.0 / _u(rng, 0.95, 11.0)
        if kind in ('car', 'bus', 'truck', 'color_cone') and has_road:
            off = _u(rng, left_off * 0.85, right_off * 0.85)
        else:
            off = _u(rng, -1.6, 1.6) * w + shift
        x = st.x(s, off)
        if not (-0.1 * w < x < 1.1 * w):
            continue
        things.append((st.y(s), kind, s, x))
    if rng.random() < 0.6:
        for _ in range(int(rng.integers(1, 4))):
            s = 1.0 / _u(rng, 3.0, 16.0)
            side = -1 if rng.random() < 0.5 else 1
            off = (left_off if side < 0 else right_off) + side * \
                _u(rng, 0.02, 0.2) * w
            things.append((st.y(s), 'pole', s, st.x(s, off), -side))
    things.sort(key=lambda t: t[0])

    painted = []  # (painter, name)
    for thing in things:
        yb, kind, s, x = thing[:4]
        iid = len(painted) + 1
        if kind == 'person':
            ph = 1.06 * s * D * _u(rng, 0.9, 1.1)
            p = _draw_person(temp, label, inst, iid, x, yb, ph,
                             pal['person'] + _u(rng, -0.04, 0.04), rng)
            painted.append((p, 'person'))
        elif kind in ('car', 'bus', 'truck'):
            p = _draw_vehicle(temp, label, inst, iid, x, yb, s, st, kind, pal,
                              rng)
            painted.append((p, kind))
        elif kind == 'bike':
            p, seat = _draw_bike(temp, label, inst, iid, x, yb, s, st, pal,
                                 rng)
            painted.append((p, 'bike'))
            ph = 1.06 * s * D
            rp = _draw_person(
                temp,
                label,
                inst,
                iid + 1,
                seat[0],
                seat[1] + 0.5 * ph,
                ph,
                pal['person'] + _u(rng, -0.04, 0.04),
                rng,
                seated=True)
            painted.append((rp, 'person'))
        elif kind == 'color_cone':
            ch, cw = 0.45 * s * D, 0.25 * s * D
            p = _Painter(temp, label, inst, iid,
                         (x - cw, yb - ch - 2, x + cw, yb + 2))
            ct = pal['road'] + _u(rng, 0.08, 0.16)
            p.poly([(x - cw / 2, yb), (x - cw * 0.12, yb - ch),
                    (x + cw * 0.12, yb - ch), (x + cw / 2, yb)], ct, _CONE)
            p.rrect(x - cw * 0.65, yb - 0.1 * ch, x + cw * 0.65, yb, 0.03 * ch,
                    ct, _CONE)
            painted.append((p, 'color_cone'))
        else:  # pole with lamp
            lamp = _draw_pole(temp, label, inst, iid, x, yb, s, st, pal, rng,
                              thing[4])
            painted.append((lamp, 'lamp'))

    # boxes of objects that are still (mostly) visible
    boxes: List[Box] = []
    if painted:
        visible = np.bincount(inst.ravel(), minlength=len(painted) + 1)
        for k, (p, name) in enumerate(painted, start=1):
            b = p.box()
            area = p.area()
            if b is None or area == 0 or visible[k] < 0.1 * area:
                continue
            if b[2] - b[0] < 2 or b[3] - b[1] < 2:
                continue
            boxes.append((b[0], b[1], b[2], b[3], name))
    return temp, label, boxes


# --------------------------------------------------------------------------
# Cluttered backgrounds and small targets (IRSTD-like)
# --------------------------------------------------------------------------
def _render_clutter(rng: np.random.Generator, h: int, w: int,
                    kind: str) -> np.ndarray:
    rows = np.arange(h, dtype=np.float32)[:, None]
    if kind == 'clouds':
        base = _u(rng, 0.05, 0.2) + _u(rng, 0.05, 0.15) * rows / h
        lf = _lowfreq(
            rng, h, w, _u(rng, 2.0, 5.0), octaves=5, persistence=0.55)
        cover = _u(rng, -0.3, 0.6)
        clouds = np.clip(lf * 1.6 - cover, 0, None)
        temp = base + _u(rng, 0.15, 0.35) * clouds
        return temp.astype(np.float32)
    if kind == 'sea':
        y_h = _u(rng, 0.1, 0.45) * h
        sky = _u(rng, 0.05, 0.15) + 0.1 * np.clip(rows / y_h, 0, 1)**2
        sea_t = _u(rng, 0.25, 0.4)
        waves = _lowfreq(
            rng,
            h,
            w,
            _u(rng, 6.0, 14.0),
            octaves=3,
            aspect=_u(rng, 4.0, 10.0))
        depth = np.clip((rows - y_h) / (h - y_h), 0, 1)
        sea = sea_t + (0.02 + 0.05 * depth) * waves
        temp = np.where(rows < y_h, sky + 0.01 * _lowfreq(rng, h, w, 3.0),
                        sea).astype(np.float32)
        # sun glints: tiny bright specks that are *not* targets
        n = int(rng.integers(0, 40))
        if n:
            gy = rng.uniform(y_h + 2, h, n).astype(int)
            gx = rng.integers(0, w, n)
            ok = gy < h
            temp[gy[ok], gx[ok]] += rng.uniform(0.05, 0.25, ok.sum())
        return temp
    if kind == 'buildings':
        y_h = _u(rng, 0.5, 0.95) * h
        temp = (_u(rng, 0.05, 0.15) + 0.1 * rows / h +
                0.03 * _lowfreq(rng, h, w, 3.0)).astype(np.float32)
        temp = np.array(np.broadcast_to(temp, (h, w)), np.float32)  # writable
        pal = dict(building=_u(rng, 0.28, 0.45), tree=_u(rng, 0.16, 0.26))
        _draw_skyline(rng, temp, y_h, pal)
        yb = _i(y_h) + 2
        if yb < h:  # facades / streets below the skyline
            temp[yb:] = pal['building'] - 0.05 + 0.03 * _lowfreq(
                rng, h - yb, w, 6.0)
        # rooftop units and chimneys: small hot clutter
        for _ in range(int(rng.integers(0, 12))):
            cx, cy = int(rng.integers(0,
                                      w)), int(rng.integers(_i(y_h * 0.4), h))
            r = int(rng.integers(1, 4))
            cv2.rectangle(temp, (cx - r, cy - r), (cx + r, cy + r),
                          float(temp[cy, cx]) + _u(rng, 0.05, 0.2), -1)
        return temp
    if kind == 'ground':
        y_h = _u(rng, -0.2, 0.4) * h
        sky = _u(rng, 0.05, 0.15) + 0.08 * np.clip(rows / max(y_h, 1), 0, 1)
        terrain = _lowfreq(
            rng, h, w, _u(rng, 3.0, 8.0), octaves=5, persistence=0.6)
        # a ridge line instead of a straight horizon
        ridge = y_h + 0.08 * h * _lowfreq(rng, 1, w, 4.0, octaves=3)[0]
        gnd = (_u(rng, 0.25, 0.4) + 0.04 * terrain).astype(np.float32)
        # fields: large quadrilaterals a little warmer or cooler
        delta = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(3, 8))):
            cx, cy = _u(rng, 0, w), _u(rng, max(y_h, 0), h)
            rx, ry = _u(rng, 0.1, 0.4) * w, _u(rng, 0.05, 0.25) * h
            pts = [(cx + rx * math.cos(a) * _u(rng, 0.6, 1.0),
                    cy + ry * math.sin(a) * _u(rng, 0.6, 1.0))
                   for a in np.sort(rng.uniform(0, 2 * math.pi, 4))]
            cv2.fillPoly(delta,
                         np.round(np.array(pts)).astype(np.int32)[None],
                         _u(rng, -0.06, 0.06))
        gnd += cv2.GaussianBlur(delta, (0, 0), 1.5)
        # hedgerows (cool) and farm houses (warm)
        for _ in range(int(rng.integers(0, 5))):
            y = _u(rng, max(y_h, 0), h)
            cv2.line(
                gnd, (_i(_u(rng, -0.2, 0.6) * w), _i(y)),
                (_i(_u(rng, 0.4, 1.2) * w), _i(y + _u(rng, -0.1, 0.1) * h)),
                float(gnd.mean()) - _u(rng, 0.04, 0.1),
                int(rng.integers(2, max(3, h // 40))))
        for _ in range(int(rng.integers(0, 4))):
            cx, cy = _u(rng, 0, w), _u(rng, max(y_h, 0), h)
            bw, bh = _u(rng, 0.02, 0.06) * w, _u(rng, 0.02, 0.05) * h
            cv2.rectangle(gnd, (_i(cx), _i(cy)), (_i(cx + bw), _i(cy + bh)),
                          float(gnd.mean()) + _u(rng, 0.1, 0.25), -1)
        temp = np.where(rows < ridge[None, :], sky, gnd).astype(np.float32)
        if rng.random() < 0.5:  # a dirt road
            p = (int(rng.integers(0, w)), h)
            q = (int(rng.integers(0, w)), max(0, _i(y_h)))
            cv2.line(temp, p, q, _u(rng, 0.3, 0.45),
                     int(rng.integers(2, max(3, w // 20))))
        return temp
    raise ValueError(f'unknown kind {kind!r}; expected one of '
                     f'{IR_IMAGE_KINDS}')


def _stamp_target(rng: np.random.Generator, temp: np.ndarray, mask: np.ndarray,
                  cx: float, cy: float, area: int, amp: float) -> None:
    """Add a small Gaussian target and mark its ``area`` brightest pixels."""
    h, w = temp.shape
    r = math.sqrt(area / math.pi)
    sx = max(0.35, r * _u(rng, 0.5, 0.8))
    sy = max(0.35, sx * _u(rng, 0.6, 1.5))
    th = _u(rng, 0, math.pi)
    R = int(math.ceil(3.0 * max(sx, sy))) + 1
    ix, iy = int(math.floor(cx)), int(math.floor(cy))
    fx, fy = cx - ix, cy - iy
    yy, xx = np.mgrid[-R:R + 1, -R:R + 1].astype(np.float32)
    xx -= fx
    yy -= fy
    u = xx * math.cos(th) + yy * math.sin(th)
    v = -xx * math.sin(th) + yy * math.cos(th)
    g = np.exp(-0.5 * ((u / sx)**2 + (v / sy)**2)).astype(np.float32)
    order = np.argsort(-g, axis=None, kind='stable')[:area]
    m = np.zeros(g.size, bool)
    m[order] = True
    m = m.reshape(g.shape)
    x0, y0 = ix - R, iy - R
    sx0, sy0 = max(0, -x0), max(0, -y0)
    ex, ey = min(g.shape[1], w - x0), min(g.shape[0], h - y0)
    if ex <= sx0 or ey <= sy0:
        return
    sl = (slice(y0 + sy0, y0 + ey), slice(x0 + sx0, x0 + ex))
    temp[sl] += np.float32(amp) * g[sy0:ey, sx0:ex]
    mask[sl] |= m[sy0:ey, sx0:ex]


def _add_targets(rng: np.random.Generator, temp: np.ndarray,
                 n: int) -> np.ndarray:
    h, w = temp.shape
    mask = np.zeros((h, w), bool)
    placed = 0
    while placed < n:
        area = int(rng.integers(1, 61)) if rng.random() < 0.7 else \
            int(rng.integers(1, 12))
        if rng.random() < 0.2:  # near a border
            edge = int(rng.integers(4))
            d = _u(rng, 0.0, 4.0)
            along = _u(rng, 0, 1)
            cx, cy = [(d, along * (h - 1)), (w - 1 - d, along * (h - 1)),
                      (along * (w - 1), d), (along * (w - 1), h - 1 - d)][edge]
        else:
            cx, cy = _u(rng, 4, w - 5), _u(rng, 4, h - 5)
        amp = _u(rng, 0.1, 0.45)
        _stamp_target(rng, temp, mask, cx, cy, area, amp)
        placed += 1
        if placed < n and rng.random() < 0.3:  # a touching companion
            area2 = int(rng.integers(1, 40))
            r1, r2 = math.sqrt(area / math.pi), math.sqrt(area2 / math.pi)
            a = _u(rng, 0, 2 * math.pi)
            d = max(1.0, 0.9 * (r1 + r2))
            _stamp_target(rng, temp, mask, cx + d * math.cos(a),
                          cy + d * math.sin(a), area2, amp * _u(rng, 0.7, 1.2))
            placed += 1
    return mask


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def make_ir_image(rng: np.random.Generator,
                  height: int,
                  width: int,
                  bit_depth: int = 8,
                  kind: Optional[str] = None) -> np.ndarray:
    """Draw one infrared-like grayscale image.

    Args:
        rng: Source of randomness; the same generator state gives the same
            image.
        height: Image height in pixels.
        width: Image width in pixels.
        bit_depth: 8 for uint8 (automatic gain control) or 16 for uint16
            radiometric-looking counts (values roughly 6000-12000).
        kind: One of :data:`IR_IMAGE_KINDS` (``'street'``, ``'clouds'``,
            ``'buildings'``, ``'sea'``, ``'ground'``) or ``None`` to pick one
            at random (streets most often).

    Returns:
        np.ndarray: Gray image of shape ``(height, width)``, uint8 or uint16.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f'bit_depth must be 8 or 16, got {bit_depth}')
    return camera_image(rng, make_ir_temperature(rng, height, width, kind),
                        bit_depth)


def make_ir_temperature(rng: np.random.Generator,
                        height: int,
                        width: int,
                        kind: Optional[str] = None) -> np.ndarray:
    """Draw the scene of :func:`make_ir_image`, before the camera sees it.

    Args:
        rng: Source of randomness.
        height: Height in pixels.
        width: Width in pixels.
        kind: One of :data:`IR_IMAGE_KINDS` or ``None`` (random, streets
            most often).

    Returns:
        np.ndarray: float32 ``(height, width)`` "temperature" map, roughly
        0 (cold sky) to 1 (hot engine); :func:`camera_image` turns it into
        a picture.
    """
    if kind is None:
        kind = str(rng.choice(IR_IMAGE_KINDS, p=(0.6, 0.1, 0.1, 0.1, 0.1)))
    if kind not in IR_IMAGE_KINDS:
        raise ValueError(f'kind must be one of {IR_IMAGE_KINDS} or None, '
                         f'got {kind!r}')
    if kind == 'street':
        temp, _, _ = _render_street(rng, height, width)
    else:
        temp = _render_clutter(rng, height, width, kind)
        if rng.random() < 0.5:
            _add_targets(rng, temp, int(rng.integers(1, 4)))
    return temp


def camera_image(rng: np.random.Generator,
                 temp: np.ndarray,
                 bit_depth: int = 8,
                 texture: float = 0.015) -> np.ndarray:
    """Take a picture of a temperature map with the simulated camera.

    Surface texture, blur, vignetting, fixed-pattern and temporal noise,
    then an 8-bit automatic gain control or 16-bit radiometric counts; every
    call draws new noise, as consecutive frames of a real camera do.

    Args:
        rng: Source of randomness.
        temp: float32 ``(H, W)`` map from :func:`make_ir_temperature`
            (changed in place).
        bit_depth: 8 (uint8) or 16 (uint16 counts around 6000-12000).
        texture: Amplitude of the random surface texture drawn for this
            picture; 0 for frames of one world that already has its texture
            (:func:`add_surface_texture`).

    Returns:
        np.ndarray: ``(H, W)`` uint8 or uint16 image.
    """
    return _finish(rng, temp, bit_depth, texture=texture)


def add_surface_texture(rng: np.random.Generator,
                        temp: np.ndarray,
                        amount: float = 0.015) -> np.ndarray:
    """Add the fine surface texture :func:`camera_image` draws, in place.

    Args:
        rng: Source of randomness.
        temp: float32 ``(H, W)`` temperature map.
        amount: Texture amplitude.

    Returns:
        np.ndarray: ``temp``.
    """
    h, w = temp.shape
    temp += amount * _lowfreq(rng, h, w, max(h, w) / 24.0, octaves=2)
    return temp


def make_ir_scene(
        rng: np.random.Generator,
        height: int,
        width: int,
        night: Optional[bool] = None
) -> Tuple[np.ndarray, np.ndarray, List[Box]]:
    """Draw a street scene with its semantic label map and object boxes.

    The same drawing calls fill the image and the label map, so labels lie
    exactly where objects were drawn (before the mild camera blur); nearer
    objects occlude farther ones in both.

    Args:
        rng: Source of randomness.
        height: Image height in pixels.
        width: Image width in pixels.
        night: Night (cold background, high contrast) or day look; ``None``
            picks at random.

    Returns:
        tuple: ``(image, label, boxes)`` where ``image`` is (H, W) uint8,
        ``label`` is (H, W) uint8 with MSRS class ids 0..8 (see
        :data:`MSRS_CLASSES`) and ``boxes`` is a list of
        ``(x1, y1, x2, y2, class_name)`` with integer pixel coordinates,
        ``0 <= x1 < x2 <= W`` (x2, y2 exclusive) and names from
        :data:`SCENE_BOX_CLASSES`. Lamps are boxed but unlabelled in the map;
        heavily occluded objects (< 10 % visible) get no box.
    """
    temp, label, boxes = _render_street(rng, height, width, night=night)
    return _finish(rng, temp, 8), label, boxes


def make_irstd_sample(
        rng: np.random.Generator,
        height: int,
        width: int,
        num_targets: Optional[int] = None,
        kind: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Draw a small-target image on a cluttered background and its mask.

    Args:
        rng: Source of randomness.
        height: Image height in pixels.
        width: Image width in pixels.
        num_targets: Number of targets (each 1-60 pixels); ``None`` picks
            0 (about 10 % of images) to 4, some near the border and some
            touching each other.
        kind: Background, one of ``'clouds'``, ``'buildings'``, ``'sea'``,
            ``'ground'``; ``None`` picks at random.

    Returns:
        tuple: ``(image, mask)``, both (H, W) uint8; the mask is 0/255.
    """
    if kind is None:
        kind = str(rng.choice(IR_IMAGE_KINDS[1:]))
    temp = _render_clutter(rng, height, width, kind)
    if num_targets is None:
        num_targets = 0 if rng.random() < 0.1 else int(rng.integers(1, 5))
    mask = _add_targets(rng, temp, num_targets)
    img = _finish(rng, temp, 8, blur=(0.3, 0.6), texture=0.01)
    return img, mask.astype(np.uint8) * 255


def image_rng(seed: int, tag: int, index: int) -> np.random.Generator:
    """Independent stream per (seed, writer/split, image index)."""
    return np.random.default_rng([int(seed), int(tag), int(index)])


def check_size(size: Sequence[int], name: str = 'size') -> Tuple[int, int]:
    """``(H, W)`` as ints; refuses images under 8x8."""
    h, w = int(size[0]), int(size[1])
    if h < 8 or w < 8:
        raise ValueError(f'{name} must be at least 8x8, got {(h, w)}')
    return h, w


def pick_size(rng: np.random.Generator, size: SizeSpec) -> Tuple[int, int]:
    """A fixed ``(H, W)``, or one drawn from ``((h0, h1), (w0, w1))``."""
    a, b = size
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        return check_size((a, b))
    (h0, h1), (w0, w1) = a, b
    return check_size(
        (int(rng.integers(h0, h1 + 1)), int(rng.integers(w0, w1 + 1))))
