"""The 15 ARTeFACT damage classes drawn onto a clean synthetic picture, each with its exact mask.

Every drawer builds a boolean mask first (restricted to the object, never the Background), then changes
the picture inside that mask and nowhere else, so the annotation marks exactly the pixels that changed.
Marks are coloured against what lies under them (dark on light, light on dark) so that each class is
visible wherever it is drawn and a model can learn it.

Shapes follow the physical damage: cracks are branching thin paths, scratches long thin lines, dust
specks, hair thin curves, material loss an irregular blob of exposed substrate, peel flakes of paint
showing the light ground, stains soft blobs with a tide line, a fold a straight band with one side lit and
one shaded, writing cursive scribbles, stamps inked rings, stickers opaque labels, punctures small holes,
burn marks scorched spots and a light leak a bright coloured band entering from an edge.

How often a class appears depends on the material (``AFFINITY``), and its size per occurrence is set so
that the pixel shares follow ARTeFACT's long tail (Peel and Material loss most frequent; Hair, Dust and
Burn marks rarest).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageDraw

from heritage_core.data._synth_scene import fractal_noise, luminance, smooth_noise

__all__ = ["Canvas", "DAMAGE_ORDER", "BASE_RATE", "AFFINITY", "draw_damage", "damage_presence"]


@dataclass
class Canvas:
    """The picture being damaged.

    Attributes:
        img: float32 RGB (H, W, 3) in [0, 1], changed in place.
        clean: float32 RGB (H, W, 3), the picture before any damage; marks are coloured against it, so
            each stays visible even where it covers an earlier damage.
        obj: bool (H, W), True on the object (damage is drawn only there).
        scale: long side / 512.
        material: ARTeFACT material name (sets the exposed substrate colour).
        min_mark_px: smallest width of a thin mark (scratch, hair, crack, writing and stamp strokes) and
            diameter of a speck (dust, puncture), px at the rendered size; 1 draws them at their
            ARTeFACT-like scale, a larger value keeps them visible to a model in a small rendering.
    """

    img: np.ndarray
    clean: np.ndarray
    obj: np.ndarray
    scale: float
    material: str
    min_mark_px: float = 1.0

    @cached_property
    def object_yx(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Row and column indices of the object pixels, or None when the object fills the picture."""
        return None if self.obj.all() else np.nonzero(self.obj)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in px."""
        return self.img.shape[:2]

    @property
    def long(self) -> int:
        """Long side in px."""
        return max(self.img.shape[:2])


# ------------------------------------------------------------------------------------ helpers
def _blank(c: Canvas) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("L", (c.shape[1], c.shape[0]), 0)
    return im, ImageDraw.Draw(im)


def _px(c: Canvas, px_at_512: float) -> int:
    """A stroke width given at 512 px, scaled to this image, at least ``c.min_mark_px``."""
    return int(max(c.min_mark_px, round(px_at_512 * c.scale)))


def _walk(rng: np.random.Generator, start: np.ndarray, heading: float, n: int, step: float, turn_sd: float
          ) -> np.ndarray:
    """A random walk of ``n`` steps with smoothly varying heading; returns (n + 1, 2) xy points."""
    headings = heading + np.cumsum(rng.normal(0, turn_sd, n))
    return np.vstack([start, start + np.cumsum(np.stack([np.cos(headings), np.sin(headings)], 1) * step, 0)])


def _on_object(rng: np.random.Generator, c: Canvas, k: int = 1) -> np.ndarray:
    """``k`` random (x, y) points on the object (uniform over its pixels); shape (k, 2)."""
    if c.object_yx is None:
        h, w = c.shape
        return rng.uniform([0, 0], [w, h], (k, 2))
    ys, xs = c.object_yx
    pick = rng.integers(0, ys.size, k)
    return np.stack([xs[pick], ys[pick]], 1).astype(np.float64) + rng.random((k, 2))


def _blob(rng: np.random.Generator, c: Canvas, centre: np.ndarray, ry: float, rx: float, rough: float
          ) -> np.ndarray:
    """Inside-ness of an irregular blob: float32 (H, W), > 0 inside, 1 at the centre, -1 far outside."""
    h, w = c.shape
    field = np.full((h, w), -1.0, np.float32)
    reach = (1 + rough) * max(ry, rx) + 2
    x0, x1 = int(max(0, centre[0] - reach)), int(min(w, centre[0] + reach + 1))
    y0, y1 = int(max(0, centre[1] - reach)), int(min(h, centre[1] + reach + 1))
    if x1 <= x0 or y1 <= y0:
        return field
    yy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - centre[1]
    xx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - centre[0]
    t = rng.uniform(0, np.pi)
    u, v = (xx * np.cos(t) + yy * np.sin(t)) / rx, (-xx * np.sin(t) + yy * np.cos(t)) / ry
    noise = fractal_noise(rng, (y1 - y0, x1 - x0), 3, 3) if min(y1 - y0, x1 - x0) > 3 else 0.0
    field[y0:y1, x0:x1] = 1 - np.sqrt(u * u + v * v) + rough * 0.35 * noise
    return field


def _paint(c: Canvas, mask: np.ndarray, colour: np.ndarray, alpha: float | np.ndarray) -> None:
    """Blend ``colour`` into the picture at ``mask`` only: img = img (1 - alpha) + colour alpha.

    ``colour`` is (3,) or (N, 3) for the N mask pixels; ``alpha`` a scalar or (N,).
    """
    a = np.asarray(alpha, np.float32)
    a = a[:, None] if a.ndim == 1 else a
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # index only the bounding box
    sub, m = c.img[box], mask[box]
    sub[m] = sub[m] * (1 - a) + np.asarray(colour, np.float32) * a


def _contrasting(pixels: np.ndarray, dark: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Per pixel ``dark`` where ``pixels`` (N, 3) are light and ``light`` where they are dark; shape (N, 3)."""
    return np.where(luminance(pixels)[:, None] > 0.5, np.asarray(dark, np.float32), np.asarray(light, np.float32))


def _away_from(colour: np.ndarray, pixels: np.ndarray, gap: float = 0.3) -> np.ndarray:
    """Shift ``colour`` in brightness so its luma differs from the mean luma of ``pixels`` by >= ``gap``."""
    colour = np.asarray(colour, np.float32)
    ref, own = float(luminance(pixels).mean()), float(luminance(colour))
    if abs(own - ref) >= gap:
        return colour
    target = ref - gap if ref > 0.5 else ref + gap
    return np.clip(colour + (target - own), 0, 1)


def _finish(c: Canvas, mask: np.ndarray) -> np.ndarray:
    return mask & c.obj


def _contrasting_mark(c: Canvas, im: Image.Image, dark: list[float], light: list[float], alpha: float) -> np.ndarray:
    """The mark drawn in ``im`` (on the object only), painted ``dark`` on light pixels and ``light`` on dark ones."""
    mask = _finish(c, np.asarray(im) > 0)
    if mask.any():
        _paint(c, mask, _contrasting(c.clean[mask], dark, light), alpha)
    return mask


def _box_noise(rng: np.random.Generator, mask: np.ndarray, cells_per_px: float, octaves: int = 1) -> np.ndarray:
    """Noise values at the pixels of ``mask`` (shape (N,)), generated only over the mask's bounding box."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    bh, bw = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    cells = max(2.0, max(bh, bw) * cells_per_px)
    field = fractal_noise(rng, (bh, bw), cells, octaves) if octaves > 1 else smooth_noise(rng, (bh, bw), cells)
    return field[mask[box]]


# ---------------------------------------------------------------------------- damage drawers
#: Colour of the support exposed by material loss, per material (RGB in [0, 1]).
_SUBSTRATE = {
    "Paper": (0.36, 0.31, 0.26), "Parchment": (0.45, 0.35, 0.25), "Glass": (0.06, 0.06, 0.07),
    "Tesserae": (0.66, 0.6, 0.5), "Wood": (0.6, 0.44, 0.27), "Canvas": (0.75, 0.68, 0.52),
    "Lime plaster": (0.68, 0.6, 0.5), "Film emulsion": (0.1, 0.08, 0.08), "Textile": (0.15, 0.13, 0.12),
    "Ceramic": (0.8, 0.7, 0.58),
}


def _material_loss(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    mask = np.zeros(c.shape, bool)
    h, w = c.shape
    for _ in range(int(rng.integers(1, 4))):
        r = np.sqrt(rng.uniform(0.015, 0.09) * h * w / np.pi)
        centre = _on_object(rng, c)[0]
        if rng.random() < 0.5:  # half of the losses start at an edge of the picture
            side = int(rng.integers(4))
            centre[side // 2] = (0.0, float(w), 0.0, float(h))[side]
        mask |= _blob(rng, c, centre, r * rng.uniform(0.6, 1.4), r * rng.uniform(0.6, 1.4), 1.2) > 0
    mask = _finish(c, mask)
    if mask.any():
        base = _away_from(_SUBSTRATE[c.material], c.clean[mask], 0.25)
        tex = 0.06 * _box_noise(rng, mask, 1 / (25 * c.scale), 3)[:, None]
        _paint(c, mask, np.clip(base + tex, 0, 1), 1.0)
        rim = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
        _paint(c, rim, base * 0.55, 0.8)
    return mask


def _peel(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    h, w = c.shape
    r = np.sqrt(rng.uniform(0.1, 0.6) * h * w / np.pi)
    region = _finish(c, _blob(rng, c, _on_object(rng, c)[0], r * rng.uniform(0.6, 1.3), r * rng.uniform(0.6, 1.3),
                              1.0) > 0)
    mask = np.zeros(c.shape, bool)
    if region.any():
        mask[region] = _box_noise(rng, region, 1 / (12 * c.scale)) > rng.uniform(-0.5, 0.1)  # flakes
    if mask.any():
        ground = _away_from(np.array([0.93, 0.89, 0.8]) * rng.uniform(0.85, 1.0), c.clean[mask], 0.25)
        _paint(c, mask, ground, rng.uniform(0.8, 0.95))
        lifted = mask & ~np.roll(mask, 1, 0)  # lifted upper edges cast a thin shadow
        _paint(c, lifted, ground * 0.45, 0.9)
    return mask


def _dust(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    for x, y in _on_object(rng, c, max(3, int(rng.integers(15, 120) * min(1.0, c.scale)))):
        r = max(0.5 * c.min_mark_px, rng.uniform(0.4, 1.8) * c.scale)
        draw.ellipse([x - r, y - r * rng.uniform(0.6, 1.2), x + r, y + r], fill=255)
    return _contrasting_mark(c, im, [0.12, 0.11, 0.1], [0.93, 0.93, 0.9], 0.9)


def _scratch(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    for start in _on_object(rng, c, int(rng.integers(1, 5))):
        n = 12
        pts = _walk(rng, start, rng.uniform(0, 2 * np.pi), n, rng.uniform(0.3, 1.0) * c.long / n, 0.03)
        draw.line(pts.ravel().tolist(), fill=255, width=_px(c, rng.uniform(1.5, 3.5)))
    return _contrasting_mark(c, im, [0.15, 0.14, 0.13], [0.96, 0.96, 0.94], 0.85)


def _hair(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    for start in _on_object(rng, c, int(rng.integers(1, 3))):
        n = 40
        pts = _walk(rng, start, rng.uniform(0, 2 * np.pi), n, rng.uniform(0.08, 0.3) * c.long / n, 0.18)
        draw.line(pts.ravel().tolist(), fill=255, width=_px(c, 1.0), joint="curve")
    return _contrasting_mark(c, im, [0.05, 0.04, 0.03], [0.9, 0.9, 0.88], 0.95)


def _dirt(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    mask = np.zeros(c.shape, bool)
    centre = _on_object(rng, c)[0]
    spread = rng.uniform(0.05, 0.2) * c.long
    for _ in range(int(rng.integers(4, 16))):
        p = centre + rng.normal(0, spread, 2)
        r = max(1.5, rng.uniform(0.008, 0.04) * c.long)
        mask |= _blob(rng, c, p, r * rng.uniform(0.5, 1.2), r, 0.8) > 0
    mask = _finish(c, mask)
    if mask.any():
        grime = _away_from(np.array([0.32, 0.26, 0.18]), c.clean[mask], 0.25)
        _paint(c, mask, grime, rng.uniform(0.65, 0.85))
    return mask


def _fold(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    h, w = c.shape
    y = np.arange(h, dtype=np.float32)[:, None] + 0.5
    x = np.arange(w, dtype=np.float32)[None, :] + 0.5
    mask = np.zeros(c.shape, bool)
    shade = np.zeros(c.shape, np.float32)
    for _ in range(1 + int(rng.random() < 0.3)):
        t = rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.1)
        through = _on_object(rng, c)[0]
        d = (x - through[0]) * -np.sin(t) + (y - through[1]) * np.cos(t)  # signed distance to the crease
        half = max(1.5, rng.uniform(0.006, 0.025) * c.long)
        band = np.abs(d) < half
        profile = np.sign(d) * (0.45 + 0.55 * (1 - np.abs(d) / half))  # lit on one side, shaded on the other
        profile = np.where(np.abs(d) < 0.75, -1.2, profile)  # the crease itself
        shade = np.where(band, profile * rng.uniform(0.18, 0.3) * rng.choice([-1, 1]), shade)
        mask |= band
    mask = _finish(c, mask)
    if mask.any():
        pixels, s = c.img[mask], shade[mask]
        lum = luminance(c.clean[mask])
        s = np.where((lum > 0.75) & (s > 0), -0.6 * s, s)  # nothing to lighten on white: shade it instead
        s = np.where((lum < 0.25) & (s < 0), -0.6 * s, s)  # nothing to darken on black: light it instead
        c.img[mask] = np.clip(pixels + s[:, None], 0, 1)
    return mask


def _writing(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    size = max(4.0, rng.uniform(0.015, 0.04) * c.long)  # letter height in px
    x0, y0 = _on_object(rng, c)[0]
    for line in range(int(rng.integers(1, 5))):
        x = x0
        for _ in range(int(rng.integers(1, 5))):
            letters = int(rng.integers(2, 8))
            t = np.linspace(0, letters, letters * 10)
            heights = rng.uniform(0.5, 1.3, letters + 1)[t.astype(int)]
            xs = x + t * size * 0.7 + 0.3 * size * np.cos(2 * np.pi * t)
            ys = y0 + line * size * 2 - size * heights * (0.5 + 0.5 * np.sin(2 * np.pi * t + rng.uniform(0, 6)))
            draw.line(np.stack([xs, ys], 1).ravel().tolist(), fill=255, width=_px(c, rng.uniform(1, 2.5)),
                      joint="curve")
            x = float(xs[-1]) + size * rng.uniform(0.8, 1.5)
    mask = _finish(c, np.asarray(im) > 0)
    if mask.any():
        inks = np.array([[0.08, 0.08, 0.1], [0.1, 0.15, 0.45], [0.35, 0.2, 0.1], [0.4, 0.4, 0.42]])
        _paint(c, mask, _away_from(inks[rng.integers(4)], c.clean[mask], 0.35), 0.9)
    return mask


def _cracks(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    step = max(1.5, 3 * c.scale)
    paths = []
    for start in _on_object(rng, c, int(rng.integers(2, 7))):
        n = max(4, int(rng.uniform(0.3, 1.0) * c.long / step))
        paths.append((_walk(rng, start, rng.uniform(0, 2 * np.pi), n, step, 0.22), 0))
    for pts, depth in paths:  # grows while iterating: branches of branches, two levels deep
        width = _px(c, rng.uniform(2, 4)) if depth == 0 else _px(c, rng.uniform(1, 2.5))
        draw.line(pts.ravel().tolist(), fill=255, width=width, joint="curve")
        if depth < 2:
            for i in rng.integers(0, len(pts), int(rng.poisson(2.5))):
                n = max(3, int(len(pts) * rng.uniform(0.15, 0.5)))
                turn = rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
                heading = np.arctan2(*(pts[min(i + 1, len(pts) - 1)] - pts[max(i - 1, 0)])[::-1]) + turn
                paths.append((_walk(rng, pts[i], heading, n, step, 0.25), depth + 1))
    return _contrasting_mark(c, im, [0.08, 0.07, 0.06], [0.85, 0.84, 0.8], 0.9)


def _staining(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    h, w = c.shape
    alpha = np.zeros(c.shape, np.float32)
    for _ in range(int(rng.integers(1, 3))):
        r = np.sqrt(rng.uniform(0.015, 0.1) * h * w / np.pi)
        f = _blob(rng, c, _on_object(rng, c)[0], r * rng.uniform(0.5, 1.2), r * rng.uniform(0.7, 1.3), 1.0)
        alpha = np.maximum(alpha, np.clip(f * 2.5, 0, 1))
    mask = _finish(c, alpha > 0.15)
    if mask.any():
        a = alpha[mask]
        tide = 0.25 * np.exp(-((a - 0.2) / 0.08) ** 2)  # darker tide line near the edge
        stain = _away_from(np.array([0.62, 0.47, 0.22]) * rng.uniform(0.7, 1.1), c.clean[mask], 0.2)
        _paint(c, mask, stain * (1 - tide[:, None]), 0.3 + 0.45 * a)
    return mask


def _stamp(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    x, y = _on_object(rng, c)[0]
    r = max(5.0, rng.uniform(0.04, 0.09) * c.long)
    width = _px(c, rng.uniform(2, 3.5))
    if rng.random() < 0.6:
        draw.ellipse([x - r, y - r, x + r, y + r], outline=255, width=width)
        draw.ellipse([x - 0.75 * r, y - 0.75 * r, x + 0.75 * r, y + 0.75 * r], outline=255, width=_px(c, 1.5))
    else:
        draw.rectangle([x - 1.4 * r, y - 0.7 * r, x + 1.4 * r, y + 0.7 * r], outline=255, width=width)
    for k in range(int(rng.integers(2, 5))):  # lettering inside
        yy = y - 0.4 * r + k * 0.25 * r
        draw.line([x - 0.5 * r, yy, x + rng.uniform(-0.1, 0.5) * r, yy], fill=255, width=_px(c, 1.5))
    mask = _finish(c, np.asarray(im) > 0)
    if mask.any():
        inks = np.array([[0.72, 0.1, 0.15], [0.15, 0.22, 0.62], [0.42, 0.15, 0.5]])
        patchy = 0.6 + 0.3 * np.clip(_box_noise(rng, mask, 1 / (15 * c.scale)), -1, 1)
        _paint(c, mask, _away_from(inks[rng.integers(3)], c.clean[mask], 0.3), patchy)
    return mask


def _sticker(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    x, y = _on_object(rng, c)[0]
    sw, sh = rng.uniform(0.05, 0.16) * c.long, rng.uniform(0.03, 0.1) * c.long
    t = rng.normal(0, 0.2)
    corners = np.array([[-sw, -sh], [sw, -sh], [sw, sh], [-sw, sh]]) / 2
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    draw.polygon((corners @ rot.T + [x, y]).ravel().tolist(), fill=255)
    mask = _finish(c, np.asarray(im) > 0)
    if mask.any():
        papers = np.array([[0.97, 0.96, 0.92], [0.98, 0.9, 0.5], [0.85, 0.92, 0.97]])
        _paint(c, mask, _away_from(papers[rng.integers(3)], c.clean[mask], 0.25), 1.0)
        lines, ldraw = _blank(c)
        for k in range(int(rng.integers(1, 4))):  # printed text on the label
            off = (np.array([[-0.35 * sw, (k - 1) * 0.25 * sh], [0.3 * sw, (k - 1) * 0.25 * sh]])) @ rot.T + [x, y]
            ldraw.line(off.ravel().tolist(), fill=255, width=_px(c, 1.5))
        text = mask & (np.asarray(lines) > 0)
        _paint(c, text, _contrasting(c.clean[text], [0.1, 0.1, 0.1], [0.9, 0.9, 0.9]), 0.9)
    return mask


def _puncture(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    im, draw = _blank(c)
    for x, y in _on_object(rng, c, int(rng.integers(1, 7))):
        r = max(1.0, 0.5 * c.min_mark_px, rng.uniform(2, 7) * c.scale)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return _contrasting_mark(c, im, [0.03, 0.03, 0.03], [0.97, 0.97, 0.97], 1.0)


def _burn(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    alpha = np.zeros(c.shape, np.float32)
    for _ in range(int(rng.integers(1, 3))):
        r = max(2.0, rng.uniform(0.006, 0.02) * c.long)
        alpha = np.maximum(alpha, np.clip(_blob(rng, c, _on_object(rng, c)[0], r, r * rng.uniform(0.6, 1.4), 0.8)
                                          * 1.5, 0, 1))
    mask = _finish(c, alpha > 0.1)
    if mask.any():
        a = alpha[mask][:, None]
        scorch = np.array([0.5, 0.28, 0.1]) * (1 - a) + np.array([0.08, 0.05, 0.03]) * a
        _paint(c, mask, scorch, 0.6 + 0.4 * a[:, 0])
    return mask


def _lightleak(rng: np.random.Generator, c: Canvas) -> np.ndarray:
    h, w = c.shape
    y = np.arange(h, dtype=np.float32)[:, None] + 0.5
    x = np.arange(w, dtype=np.float32)[None, :] + 0.5
    side = rng.integers(4)
    dist = [x, w - x, y, h - y][side]  # distance from the edge the light enters through
    along = [y / h, y / h, x / w, x / w][side]
    reach = rng.uniform(0.08, 0.3) * (w if side < 2 else h)
    centre, spread = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.5)
    alpha = np.exp(-dist / reach) * np.exp(-((along - centre) / spread) ** 2)
    alpha = alpha * (1 + 0.25 * smooth_noise(rng, c.shape, 3))
    mask = _finish(c, alpha > 0.25)
    if mask.any():
        glows = np.array([[1.0, 0.45, 0.12], [1.0, 0.78, 0.25], [1.0, 0.3, 0.4], [1.0, 0.95, 0.85]], np.float32)
        under = c.clean[mask].mean(0)
        glow = glows[np.argmax(np.abs(glows - under).sum(1) + 0.1 * rng.random(len(glows)))]  # the one that shows
        _paint(c, mask, glow, np.clip(alpha[mask] * 1.2, 0.35, 0.95))
    return mask


#: Class id -> drawer.
_DRAWERS: dict[int, Callable[[np.random.Generator, Canvas], np.ndarray]] = {
    1: _material_loss, 2: _peel, 3: _dust, 4: _scratch, 5: _hair, 6: _dirt, 7: _fold, 8: _writing,
    9: _cracks, 10: _staining, 11: _stamp, 12: _sticker, 13: _puncture, 14: _burn, 15: _lightleak,
}
#: Drawing order: discolouration and losses of the image layer first, surface marks and deposits last.
DAMAGE_ORDER = (15, 10, 14, 2, 1, 7, 9, 6, 8, 11, 12, 13, 4, 5, 3)
#: Probability that an item shows a class, before the material's affinity.
BASE_RATE = {1: 0.34, 2: 0.36, 3: 0.2, 4: 0.22, 5: 0.1, 6: 0.17, 7: 0.12, 8: 0.12, 9: 0.25, 10: 0.15,
             11: 0.08, 12: 0.08, 13: 0.1, 14: 0.09, 15: 0.035}
#: Multiplier of ``BASE_RATE`` per material and class (1 where absent): where each damage is common or rare.
AFFINITY: dict[str, dict[int, float]] = {
    "Paper": {2: 0.4, 7: 2.2, 8: 2.0, 9: 0.4, 11: 2.2, 12: 2.2, 13: 1.5, 15: 0.3},
    "Parchment": {1: 1.3, 7: 1.5, 8: 2.0, 9: 0.5, 10: 1.5, 15: 0.1},
    "Glass": {2: 1.5, 3: 1.5, 4: 1.5, 7: 0.0, 9: 2.0, 13: 0.1, 15: 1.5},
    "Tesserae": {1: 1.8, 4: 0.5, 5: 0.3, 6: 1.5, 7: 0.0, 8: 0.2, 11: 0.1, 12: 0.1, 13: 0.1, 15: 0.0},
    "Wood": {1: 1.3, 2: 2.2, 7: 0.0, 9: 2.0, 13: 0.3, 15: 0.0},
    "Canvas": {2: 2.2, 7: 0.3, 9: 2.2, 15: 0.0},
    "Lime plaster": {1: 2.0, 2: 2.2, 7: 0.0, 9: 1.5, 10: 1.5, 11: 0.1, 12: 0.1, 13: 0.2, 15: 0.0},
    "Film emulsion": {1: 0.5, 2: 0.3, 3: 3.0, 4: 2.5, 5: 3.0, 6: 1.5, 7: 0.3, 8: 0.2, 11: 0.1, 12: 0.2,
                      14: 2.0, 15: 6.0},
    "Textile": {1: 1.5, 2: 0.1, 7: 1.5, 9: 0.1, 10: 2.0, 15: 0.0},
    "Ceramic": {1: 2.0, 2: 0.5, 7: 0.0, 8: 0.3, 9: 2.5, 12: 0.5, 15: 0.0},
}


def damage_presence(rng: np.random.Generator, material: str, index: int) -> list[int]:
    """Draw which damage classes item ``index`` of ``material`` shows (at least one), in drawing order.

    Each class is drawn with probability ``BASE_RATE x AFFINITY``; in addition item ``index`` always shows
    class ``index % 15 + 1`` unless its material never has it (affinity 0), so the rarest classes appear
    in small datasets too (every class is in the first 48 items, whatever the seed).
    """
    rates = np.array([min(0.95, BASE_RATE[k] * AFFINITY[material].get(k, 1.0)) for k in DAMAGE_ORDER])
    present = rng.random(rates.size) < rates
    present[DAMAGE_ORDER.index(index % 15 + 1)] |= rates[DAMAGE_ORDER.index(index % 15 + 1)] > 0
    if not present.any():
        present[rng.choice(rates.size, p=rates / rates.sum())] = True
    return [k for k, p in zip(DAMAGE_ORDER, present) if p]


def draw_damage(rng: np.random.Generator, c: Canvas, classes: list[int]) -> np.ndarray:
    """Draw ``classes`` (in the given order) onto ``c.img`` and return the annotation.

    Later classes overwrite earlier ones where they overlap, in the picture and in the annotation alike.

    Args:
        rng: random generator.
        c: the picture and object mask; ``c.img`` is changed in place.
        classes: fine class ids in 1..15.

    Returns:
        uint8 (H, W): 0 on clean object pixels, the class id where damage was drawn, 255 off the object.
    """
    ann = np.where(c.obj, np.uint8(0), np.uint8(255))
    for k in classes:
        mask = _DRAWERS[k](rng, c)
        ann[mask] = k
    return ann
