"""Clean scenes of the synthetic dataset: content types, material textures and object silhouettes.

Everything here works on float32 RGB arrays in [0, 1] of shape (H, W, 3) and is vectorised numpy (plus
Pillow for resampling and for drawing strokes); no loop runs over pixels. Sizes are given relative to the
long side ``L`` of the image or in pixels at 512 px multiplied by ``scale = L / 512``, so an item looks the
same at any resolution.

The four ARTeFACT content types are drawn so that they differ in the statistics a segmentation model sees:

* *Artistic depiction*: soft painted colour fields from a small palette, brush strokes and filled shapes.
* *Photographic depiction*: a horizon, sky and ground gradients, 1/f noise and blurred objects, toned
  black-and-white, sepia or colour.
* *Line art*: dark ink lines, hatching and circles on a light ground.
* *Geometric patterns*: periodic tilings (checks, stripes, diamonds, dots, plaid) in a few colours.

Each of the ten materials then adds its own texture (paper fibre, canvas weave, tesserae grid, wood grain,
parchment blotches, glass highlights and leading, lime plaster grain, film grain, textile weave, ceramic
glaze).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "smooth_noise",
    "fractal_noise",
    "luminance",
    "to_pil",
    "from_pil",
    "render_content",
    "apply_material",
    "object_silhouette",
]

_BICUBIC = Image.Resampling.BICUBIC


# ----------------------------------------------------------------------------------------- noise
@lru_cache(maxsize=2048)
def _cubic_matrix(n_out: int, n_in: int, transposed: bool = False) -> np.ndarray:
    """Weights (n_out, n_in) that resample n_in samples to n_out with Keys' cubic (a = -0.5), edges clamped.

    With ``transposed`` the (n_in, n_out) transpose, stored contiguously.

    Sample centres are aligned as in image resizing: output pixel ``i`` sits at input position
    ``(i + 0.5) n_in / n_out - 0.5``.
    """
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    left = np.floor(pos).astype(int)
    m = np.zeros((n_out, n_in), np.float64)
    rows = np.arange(n_out)
    for k in (-1, 0, 1, 2):
        d = np.abs(pos - (left + k))
        near = 1.5 * d ** 3 - 2.5 * d ** 2 + 1
        far = -0.5 * d ** 3 + 2.5 * d ** 2 - 4 * d + 2
        w = np.where(d <= 1, near, np.where(d < 2, far, 0.0))
        m[rows, np.clip(left + k, 0, n_in - 1)] += w  # one column per row and k: no repeated index
    return np.ascontiguousarray(m.T if transposed else m, dtype=np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells_y: float, cells_x: float | None = None
                 ) -> np.ndarray:
    """Band-limited noise: a coarse grid of normal samples upsampled bicubically to ``shape``.

    The upsampling is separable: two small matrix products, in the cheaper order, through ``np.einsum``
    (plain C loops: much faster than a round trip through Pillow, and it never starts BLAS threads, which
    spin and slow everything down on a busy machine).

    Args:
        rng: random generator.
        shape: output (H, W).
        cells_y: number of noise cells along the height (features are about H / cells_y px tall).
        cells_x: the same along the width; default keeps the cells square.

    Returns:
        float32 array of shape (H, W), roughly zero-mean with a standard deviation below 1.
    """
    h, w = shape
    if cells_x is None:
        cells_x = cells_y * w / max(h, 1)
    gy, gx = max(2, int(round(cells_y)) + 1), max(2, int(round(cells_x)) + 1)
    grid = rng.standard_normal((gy, gx), dtype=np.float32)
    ph, pw = -(-h // 16) * 16, -(-w // 16) * 16  # sizes rounded up to 16 px, so the weight cache hits often
    rows, cols_t = _cubic_matrix(ph, gy)[:h], _cubic_matrix(pw, gx, transposed=True)[:, :w]
    if h * gx * (gy + w) <= w * gy * (gx + h):  # multiply-adds of (rows @ grid) @ cols_t vs rows @ (grid @ cols_t)
        return np.einsum("ij,jk->ik", np.einsum("ij,jk->ik", rows, grid), cols_t)
    return np.einsum("ij,jk->ik", rows, np.einsum("ij,jk->ik", grid, cols_t))


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float, octaves: int,
                  persistence: float = 0.55) -> np.ndarray:
    """1/f-like noise: ``octaves`` octaves of :func:`smooth_noise`, each twice as fine, normalised to unit std.

    Args:
        rng: random generator.
        shape: output (H, W).
        cells: cells along the long side of the coarsest octave.
        octaves: number of octaves; the finest is capped at one cell per 2 px.
        persistence: amplitude ratio between successive octaves.

    Returns:
        float32 array of shape (H, W) with zero mean and unit standard deviation.
    """
    h, w = shape
    long = max(h, w)
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for o in range(octaves):
        c = min(cells * 2 ** o, long / 2)
        out += amp * smooth_noise(rng, shape, c * h / long, c * w / long)
        amp *= persistence
    out -= out.mean()
    return out / (out.std() + 1e-6)


# ---------------------------------------------------------------------------------------- colour
def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB values in [0, 1]; the last axis holds the channels."""
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # no BLAS: see smooth_noise


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB for arrays of equal shape (values in [0, 1]); returns shape (..., 3)."""
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, -1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return np.take_along_axis(table, i[None, ..., None].repeat(3, -1), 0)[0].astype(np.float32)


def _palette(rng: np.random.Generator, k: int, sat: tuple[float, float] = (0.25, 0.8),
             val: tuple[float, float] = (0.25, 0.95)) -> np.ndarray:
    """``k`` harmonious colours (a base hue, close hues and sometimes its complement) as (k, 3) float32."""
    hues = (rng.random() + rng.normal(0, 0.08, k) + rng.choice([0.0, 0.5], k, p=[0.75, 0.25])) % 1.0
    return _hsv_to_rgb(hues, rng.uniform(*sat, k), rng.uniform(*val, k))


def to_pil(img: np.ndarray) -> Image.Image:
    """Float RGB (H, W, 3) in [0, 1] -> 8-bit PIL image (rounded, clipped)."""
    return Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))


def from_pil(im: Image.Image) -> np.ndarray:
    """8-bit PIL RGB image -> float32 (H, W, 3) in [0, 1]."""
    return np.asarray(im, dtype=np.float32) * (1 / 255)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y (H, 1), x (1, W)) in px as float32."""
    h, w = shape
    return np.arange(h, dtype=np.float32)[:, None] + 0.5, np.arange(w, dtype=np.float32)[None, :] + 0.5


def _stroke(rng: np.random.Generator, shape: tuple[int, int], length_px: float, n: int = 8,
            turn_sd: float = 0.35) -> list[float]:
    """A smooth random polyline of about ``length_px`` px starting anywhere in ``shape``, as a flat xy list."""
    h, w = shape
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, turn_sd, n))
    steps = np.stack([np.cos(heading), np.sin(heading)], 1) * (length_px / n)
    start = rng.uniform([0, 0], [w, h])
    return np.vstack([start, start + np.cumsum(steps, 0)]).ravel().tolist()


# --------------------------------------------------------------------------------------- content
def _artistic(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    h, w = shape
    long = max(h, w)
    k = int(rng.integers(3, 7))
    pal = _palette(rng, k)
    small = (max(8, h // 4), max(8, w // 4))  # colour fields are smooth: mix them at 1/4 size
    fields = np.stack([smooth_noise(rng, small, rng.uniform(1.5, 5)) for _ in range(k)])
    fields *= rng.uniform(2.5, 6.0)
    fields = np.exp(fields - fields.max(0, keepdims=True))
    fields /= fields.sum(0, keepdims=True)
    base = np.einsum("khw,kc->hwc", fields, pal)
    pil = to_pil(base).resize((w, h), _BICUBIC)
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(2, 6))):  # figures: filled ellipses and polygons
        c = tuple(int(v) for v in (np.clip(pal[rng.integers(k)] + rng.normal(0, 0.08, 3), 0, 1) * 255))
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.04, 0.18) * long
        if rng.random() < 0.5:
            draw.ellipse([cx - r, cy - r * rng.uniform(0.5, 1.5), cx + r, cy + r * rng.uniform(0.5, 1.5)], fill=c)
        else:
            ang = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            rad = r * rng.uniform(0.5, 1.2, ang.size)
            draw.polygon(np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).ravel().tolist(), fill=c)
    for _ in range(int(rng.integers(10, 40))):  # brush strokes
        c = tuple(int(v) for v in (np.clip(pal[rng.integers(k)] + rng.normal(0, 0.1, 3), 0, 1) * 255))
        width = max(1, int(round(rng.uniform(2, 12) * scale)))
        draw.line(_stroke(rng, shape, rng.uniform(0.04, 0.3) * long), fill=c, width=width, joint="curve")
    img = from_pil(pil.filter(ImageFilter.BoxBlur(0.5)))  # soften stroke edges
    return _modulate(img, smooth_noise(rng, shape, h / max(2.0, 6 * scale), w / max(6.0, 40 * scale)), 0.04)


def _photographic(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    h, w = shape
    y, x = _grid(shape)
    yn, xn = y / h, x / w
    horizon = rng.uniform(0.3, 0.7) + 0.08 * smooth_noise(rng, (1, w), 1, rng.uniform(2, 8))
    sky_to_ground = np.clip((yn - horizon) * h / (3 + 4 * scale), 0, 1)
    sky = rng.uniform(0.6, 0.92) - rng.uniform(0.0, 0.3) * (1 - yn) + 0.04 * smooth_noise(rng, shape, 3)
    ground = rng.uniform(0.2, 0.5) + 0.13 * fractal_noise(rng, shape, 4, 5)
    lum = sky * (1 - sky_to_ground) + ground * sky_to_ground
    value, cover = Image.new("L", (w, h), 0), Image.new("L", (w, h), 0)
    draw_value, draw_cover = ImageDraw.Draw(value), ImageDraw.Draw(cover)
    for _ in range(int(rng.integers(2, 7))):  # blurred objects: trees, buildings, people
        bw, bh = rng.uniform(0.03, 0.25) * w, rng.uniform(0.1, 0.5) * h
        cx, base = rng.uniform(0, w), float(np.mean(horizon)) * h + rng.uniform(-0.05, 0.3) * h
        box = [cx - bw / 2, base - bh, cx + bw / 2, base]
        shape_name = "ellipse" if rng.random() < 0.5 else "rectangle"
        getattr(draw_value, shape_name)(box, fill=int(rng.uniform(0.05, 0.9) * 255))
        getattr(draw_cover, shape_name)(box, fill=255)
    blur = ImageFilter.BoxBlur(0.8 + 1.5 * scale)
    a_value = np.asarray(value.filter(blur), dtype=np.float32) / 255
    alpha = np.asarray(cover.filter(blur), dtype=np.float32) / 255
    lum = lum * (1 - alpha) + a_value  # premultiplied: soft edges without dark fringes
    lum = lum + 0.04 * fractal_noise(rng, shape, 24, 2)
    lum = lum * (1 - rng.uniform(0.1, 0.35) * ((xn - 0.5) ** 2 + (yn - 0.5) ** 2) * 2)  # vignette
    lum = np.clip(lum, 0, 1)[..., None]
    tone = rng.choice(3, p=[0.35, 0.35, 0.3])
    if tone == 0:  # black and white
        return np.repeat(lum, 3, -1)
    if tone == 1:  # sepia
        return np.concatenate([lum ** 0.85 * 1.04, lum * 0.93, lum ** 1.2 * 0.78], -1)
    sky_col = _hsv_to_rgb(np.array(rng.uniform(0.52, 0.65)), np.array(rng.uniform(0.2, 0.5)), np.array(1.0))
    ground_col = _hsv_to_rgb(np.array(rng.uniform(0.06, 0.3)), np.array(rng.uniform(0.3, 0.6)), np.array(1.0))
    t = sky_to_ground[..., None]
    return lum * (sky_col * (1 - t) + ground_col * t) * 1.1


def _line_art(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    h, w = shape
    long = max(h, w)
    ground = _hsv_to_rgb(np.array(rng.uniform(0.08, 0.14)), np.array(rng.uniform(0.02, 0.18)),
                         np.array(rng.uniform(0.86, 0.97)))
    ink_rgb = _hsv_to_rgb(np.array(rng.uniform(0.0, 0.7)), np.array(rng.uniform(0.0, 0.6)),
                          np.array(rng.uniform(0.05, 0.3)))
    ink = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(ink)
    for _ in range(int(rng.integers(6, 20))):  # contour lines
        width = max(1, int(round(rng.uniform(1, 3) * scale)))
        draw.line(_stroke(rng, shape, rng.uniform(0.1, 0.6) * long, n=16, turn_sd=0.3), fill=255, width=width,
                  joint="curve")
    for _ in range(int(rng.integers(1, 5))):  # hatched blocks
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        bw, bh = rng.uniform(0.05, 0.25) * long, rng.uniform(0.05, 0.25) * long
        gap = max(2.0, rng.uniform(3, 7) * scale)
        slope = rng.uniform(-1, 1)
        for off in np.arange(0, bw, gap):
            draw.line([x0 + off, y0, x0 + off + slope * bh, y0 + bh], fill=200, width=1)
    for _ in range(int(rng.integers(1, 5))):  # circles and arcs
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.2) * long
        draw.arc([cx - r, cy - r, cx + r, cy + r], rng.uniform(0, 360), rng.uniform(0, 360), fill=255,
                 width=max(1, int(round(rng.uniform(1, 2.5) * scale))))
    a = np.asarray(ink, dtype=np.float32)[..., None] / 255
    paper = ground + 0.015 * smooth_noise(rng, shape, 8)[..., None]
    return paper * (1 - a) + ink_rgb * a


def _geometric(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    h, w = shape
    y, x = _grid(shape)
    theta = rng.choice([0.0, np.pi / 4, rng.uniform(0, np.pi)])
    u, v = x * np.cos(theta) + y * np.sin(theta), -x * np.sin(theta) + y * np.cos(theta)
    period = max(6.0, rng.uniform(0.04, 0.16) * max(h, w))
    k = int(rng.integers(2, 5))
    pal = _palette(rng, k, sat=(0.3, 0.9), val=(0.2, 0.95))
    a, b = np.floor(u / period).astype(np.int64), np.floor(v / period).astype(np.int64)
    kind = rng.integers(5)
    if kind == 0:  # checks
        idx = (a + b) % k
    elif kind == 1:  # stripes
        idx = np.broadcast_to(a % k, shape)
    elif kind == 2:  # diamonds
        idx = (np.floor((u + v) / period) + np.floor((u - v) / period)).astype(np.int64) % k
    elif kind == 3:  # dots on a ground
        d = np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period)
        idx = (d > 0.45).astype(np.int64) + (d < -0.75) * min(2, k - 1)
    else:  # plaid
        idx = ((a % 3 == 0).astype(np.int64) + (b % 3 == 0)) % k
    img = pal[idx]
    border = (np.abs(((u / period) % 1) - 0.5) > 0.47) | (np.abs(((v / period) % 1) - 0.5) > 0.47)
    if kind in (0, 2) and rng.random() < 0.5:  # outlined tiles
        img = np.where(border[..., None], pal[(idx + 1) % k] * 0.6, img)
    return img + 0.02 * smooth_noise(rng, shape, 10)[..., None]


_CONTENT = {
    "Artistic depiction": _artistic,
    "Photographic depiction": _photographic,
    "Line art": _line_art,
    "Geometric patterns": _geometric,
}


def render_content(rng: np.random.Generator, content: str, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Draw a clean picture of an ARTeFACT content type.

    Args:
        rng: random generator.
        content: one of ``Artistic depiction``, ``Photographic depiction``, ``Line art``, ``Geometric patterns``.
        shape: (H, W) in px.
        scale: long side / 512, so stroke widths and periods scale with the image.

    Returns:
        float32 RGB array of shape (H, W, 3), values about [0, 1] (clipped later).
    """
    return _CONTENT[content](rng, shape, scale).astype(np.float32)


# -------------------------------------------------------------------------------------- material
def _tint(img: np.ndarray, rgb: tuple[float, float, float], amount: float) -> np.ndarray:
    """Multiply ``img`` in place towards a tint colour: amount 0 keeps it, 1 multiplies it by ``rgb``."""
    factor = (1 - amount + amount * np.asarray(rgb, np.float32)).astype(np.float32)
    img = np.ascontiguousarray(img, dtype=np.float32)  # so the reshape below is a view
    rows = img.reshape(img.shape[0], -1)  # a (H, 3W) view: one contiguous inner loop instead of length-3 ones
    rows *= np.tile(factor, img.shape[1])
    return img


def _modulate(img: np.ndarray, gain: np.ndarray, amount: float, offset: np.ndarray | None = None,
              offset_amount: float = 0.0) -> np.ndarray:
    """In place: ``img * (1 + amount * gain) + offset_amount * offset`` with (H, W) fields (both overwritten).

    Big temporaries are avoided on purpose: each one costs page faults that outweigh the arithmetic.
    """
    gain *= amount
    gain += 1
    img *= gain[..., None]
    if offset is not None:
        offset *= offset_amount
        img += offset[..., None]
    return img


def _paper(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    fibre = smooth_noise(rng, (h, w), h / max(2.0, 3 * scale), w / max(8.0, 30 * scale))
    fibre += smooth_noise(rng, (h, w), h / max(8.0, 30 * scale), w / max(2.0, 3 * scale))
    img = _tint(img, (1.0, 0.96, 0.86), rng.uniform(0.1, 0.4))
    return _modulate(img, fibre, 0.025, smooth_noise(rng, (h, w), 4), 0.02)


def _canvas(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    y, x = _grid(img.shape[:2])
    p = max(2.5, rng.uniform(3, 5) * scale)
    weave = np.cos(2 * np.pi * x / p) * np.cos(2 * np.pi * y / p)
    return _modulate(_tint(img, (0.95, 0.9, 0.78), 0.15), weave, 0.07)


def _tesserae(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = _grid((h, w))
    t = max(4.0, rng.uniform(0.012, 0.03) * max(h, w))
    row = np.floor(y / t)
    shift = (rng.random(int(row.max()) + 2) * t).astype(np.float32)[row.astype(int)]
    xs = x + shift
    col = np.floor(xs / t)
    cy = np.clip(((row + 0.5) * t).astype(int), 0, h - 1)
    cx = np.clip(((col + 0.5) * t - shift).astype(int), 0, w - 1)
    tiles = img[cy, cx] * (1 + 0.08 * rng.standard_normal((1, 1, 3)).astype(np.float32))
    jitter = 1 + 0.1 * np.sin(row * 12.9898 + col * 78.233)[..., None]  # per-tile brightness
    fy, fx = (y / t) % 1, (xs / t) % 1
    grout = (np.minimum(fy, 1 - fy) < 0.09) | (np.minimum(fx, 1 - fx) < 0.09)
    grout_rgb = np.array([0.55, 0.52, 0.47], np.float32) * rng.uniform(0.7, 1.1)
    return np.where(grout[..., None], grout_rgb, tiles * jitter)


def _wood(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = _grid((h, w))
    theta = rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.05)
    v = -x * np.sin(theta) + y * np.cos(theta)
    warp = 25 * scale * smooth_noise(rng, (h, w), 2, 6)
    period = max(4.0, rng.uniform(8, 20) * scale) * (1 + 0.3 * smooth_noise(rng, (h, w), 4))
    grain = np.sin(2 * np.pi * (v + warp) / period) ** 3  # sharp latewood lines, wide earlywood
    return _tint(img, (0.85, 0.68, 0.45), 0.25) * (1 + 0.05 * grain[..., None])


def _parchment(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    blotch = fractal_noise(rng, (h, w), 3, 4)
    img = _tint(img, (0.96, 0.86, 0.66), rng.uniform(0.3, 0.55))
    return _modulate(img, blotch, 0.06, smooth_noise(rng, (h, w), 30), 0.015)


def _glass(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = _grid((h, w))
    d = (x / w * np.cos(rng.uniform(0, np.pi)) + y / h * np.sin(rng.uniform(0, np.pi)))
    highlight = np.exp(-((d - rng.uniform(0.2, 0.8)) / 0.12) ** 2)
    ripple = np.sin(2 * np.pi * (x + 8 * scale * smooth_noise(rng, (h, w), 4)) / max(4.0, 20 * scale))
    img = img + 0.08 * highlight[..., None] + 0.015 * ripple[..., None]
    if rng.random() < 0.5:  # leading between panes
        lead = smooth_noise(rng, (h, w), 3) > 0
        edge = np.zeros((h, w), bool)
        edge[1:] |= lead[1:] != lead[:-1]
        edge[:, 1:] |= lead[:, 1:] != lead[:, :-1]
        edge = np.asarray(Image.fromarray(edge).filter(ImageFilter.MaxFilter(3)))
        img = np.where(edge[..., None], np.float32(0.12), img)
    return img


def _lime_plaster(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    grain = rng.standard_normal((h, w), dtype=np.float32)
    mottle = fractal_noise(rng, (h, w), 4, 3)
    lum = luminance(img)[..., None]
    img = 0.65 * img + 0.35 * lum  # matte, chalky colours
    img = img * 0.85 + 0.13
    return img * (1 + 0.035 * grain[..., None] + 0.05 * mottle[..., None])


def _film(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    grain = rng.standard_normal((h, w), dtype=np.float32)
    return img + rng.uniform(0.02, 0.05) * grain[..., None]


def _textile(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = _grid((h, w))
    p = max(2.5, rng.uniform(2.5, 4.5) * scale)
    ix, iy = np.floor(x / p), np.floor(y / p)
    over = ((ix + iy) % 2 == 0)
    thread = np.where(over, np.sin(np.pi * (y / p % 1)), np.sin(np.pi * (x / p % 1)))
    fuzz = smooth_noise(rng, (h, w), h / max(2.0, 2 * scale))
    return img * (0.82 + 0.2 * thread[..., None] + 0.02 * fuzz[..., None])


def _ceramic(rng: np.random.Generator, img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = _grid((h, w))
    lum = luminance(img)[..., None]
    img = lum + (img - lum) * 1.2  # glaze saturates colours
    cy, cx, r = rng.uniform(0.1, 0.5) * h, rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.3) * max(h, w)
    spec = np.exp(-(((y - cy) ** 2 + (x - cx) ** 2) / r ** 2))
    return img + 0.25 * spec[..., None] + 0.01 * smooth_noise(rng, (h, w), 6)[..., None]


_MATERIAL = {
    "Paper": _paper,
    "Parchment": _parchment,
    "Glass": _glass,
    "Tesserae": _tesserae,
    "Wood": _wood,
    "Canvas": _canvas,
    "Lime plaster": _lime_plaster,
    "Film emulsion": _film,
    "Textile": _textile,
    "Ceramic": _ceramic,
}


def apply_material(rng: np.random.Generator, img: np.ndarray, material: str, scale: float) -> np.ndarray:
    """Overlay the surface texture of an ARTeFACT material on a clean picture.

    Args:
        rng: random generator.
        img: float32 RGB of shape (H, W, 3).
        material: one of the ten ARTeFACT materials (``Paper``, ``Parchment``, ``Glass``, ``Tesserae``,
            ``Wood``, ``Canvas``, ``Lime plaster``, ``Film emulsion``, ``Textile``, ``Ceramic``).
        scale: long side / 512.

    Returns:
        float32 RGB of shape (H, W, 3) clipped to [0, 1].
    """
    return np.clip(_MATERIAL[material](rng, img, scale), 0, 1).astype(np.float32)


# ------------------------------------------------------------------------------------ silhouette
def object_silhouette(rng: np.random.Generator, shape: tuple[int, int], scale: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """An object outline on a scanning background, for items with a Background (255) region.

    The object is an ellipse (plates, roundels), a sheet with a torn, irregular edge, or a slightly rotated
    rectangle with a straight margin (a scan with its border).

    Args:
        rng: random generator.
        shape: (H, W) in px.
        scale: long side / 512.

    Returns:
        ``(obj, background)``: bool (H, W), True on the object; float32 (H, W, 3) background picture.
    """
    h, w = shape
    y, x = _grid(shape)
    yn, xn = (y / h - 0.5) * 2, (x / w - 0.5) * 2
    kind = rng.integers(3)
    if kind == 0:  # rounded object (plate, roundel): a superellipse
        p, r = rng.uniform(2.5, 5.0), rng.uniform(0.9, 1.0)
        obj = np.abs(xn / r) ** p + np.abs(yn / r) ** p < 1
    elif kind == 1:  # torn sheet
        edge = np.maximum(np.abs(xn) / rng.uniform(0.88, 0.97), np.abs(yn) / rng.uniform(0.88, 0.97))
        obj = edge + 0.04 * fractal_noise(rng, shape, 6, 4) < 1
    else:  # rotated rectangle with a margin
        t = rng.normal(0, 0.03)
        u, v = xn * np.cos(t) + yn * np.sin(t), -xn * np.sin(t) + yn * np.cos(t)
        obj = (np.abs(u) < rng.uniform(0.88, 0.96)) & (np.abs(v) < rng.uniform(0.88, 0.96))
    level = rng.choice([0.08, 0.5, 0.93])
    background = np.full((h, w, 3), level, np.float32) + 0.01 * smooth_noise(rng, shape, 5)[..., None]
    return obj, background
