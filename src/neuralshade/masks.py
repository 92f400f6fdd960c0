"""White-on-black sources: user images as masks, and random masks of letters and shapes.

A mask is a ``(H, W) float32`` array in [0, 1]; white (1) is shape, black (0) is background.

User images
    :func:`image_to_mask` accepts any image, so ordinary photos work too. It keeps grey levels
    (the luminance) rather than thresholding: the renderer thresholds at 0.5 later, and
    anti-aliased edges keep their sub-pixel position until then. A photo thus becomes a shape
    wherever it is brighter than mid-grey.

    - colour: Rec. 709 luma, ``0.2126 R + 0.7152 G + 0.0722 B`` (the weights sRGB shares),
      applied to the encoded values as stored, without linearising, so mid-grey 128 gives 0.5;
    - alpha: composited over black (value × alpha), so a transparent background is black;
    - bit depth: 8-bit values / 255, 16-bit / 65535; 32-bit integer images (PIL mode ``"I"``)
      / 65535 when their largest value fits in 16 bits (PIL opens some 16-bit files this way),
      else / their largest value, negatives clipped to 0; float images (mode ``"F"``) clipped
      to [0, 1]; float arrays taken as they are, and refused (not clipped) when they hold NaN
      or values outside [0, 1], which usually means 0..255 values not yet divided by 255;
    - palette, CMYK, YCbCr, HSV, LAB, ...: converted to RGB (RGBA when the image has
      transparency) by PIL first; premultiplied "La" and "RGBa" use their colour bands as they
      are (already composited over black).

Random masks
    :func:`random_mask` draws white letters, words and geometric shapes (discs, rectangles,
    polygons, thick strokes) on black, as configured by :class:`MaskConfig`. Sizes are
    fractions of the image's shorter side, so one config gives the same look at any resolution.

Example::

    >>> rng = np.random.default_rng(0)
    >>> random_mask(64, rng).shape
    (64, 64)
"""

from __future__ import annotations

import functools
import os
import string
from pathlib import Path
from typing import Literal

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field, model_validator

from neuralshade.config import Settings
from neuralshade.errors import ConfigError, InputError, NeuralShadeError
from neuralshade.imageio import DEFAULT_MAX_PIXELS, read_image

LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)
"""Rec. 709 luma weights for (R, G, B), applied to encoded (non-linear) values."""

# ---------------------------------------------------------------------------------------------
# User images to masks
# ---------------------------------------------------------------------------------------------

_ARRAY_SHAPES = "(H, W), (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB or (H, W, 4) RGBA"


def image_to_mask(image: Image.Image | np.ndarray) -> np.ndarray:
    """Turn an image into a mask by its luminance (see the module docstring for the rules).

    image: a PIL image of any mode, or an array of shape (H, W), (H, W, 1), (H, W, 2)
        (grey + alpha), (H, W, 3) (RGB) or (H, W, 4) (RGBA) with dtype uint8 (0..255),
        uint16 (0..65535), bool, or float already in [0, 1].
    Returns: (H, W) float32 in [0, 1], white = shape.

    Raises :class:`~neuralshade.errors.InputError` for an empty image, a wrong shape or dtype,
    NaN or infinite values, or float values outside [0, 1].

    >>> image_to_mask(np.array([[0, 255]], dtype=np.uint8))
    array([[0., 1.]], dtype=float32)
    """
    if isinstance(image, Image.Image):
        if image.width == 0 or image.height == 0:
            raise InputError(f"the image has zero size ({image.width} × {image.height} pixels)")
        image = _pil_to_array(image)
    return _array_to_mask(np.asarray(image))


def load_mask(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as a mask: ``image_to_mask(read_image(path, max_pixels))``.

    Returns: (H, W) float32 in [0, 1]. Raises :class:`~neuralshade.errors.InputError` naming
    the path for any unreadable or unusable file (see :func:`neuralshade.imageio.read_image`).
    """
    image = read_image(path, max_pixels)
    try:
        return image_to_mask(image)
    except InputError as err:
        raise InputError(f"{path}: {err}") from err


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """The image's pixels as an array :func:`_array_to_mask` reads, keeping the bit depth."""
    mode = image.mode
    if "transparency" in image.info and mode in ("1", "L", "P", "RGB"):
        # a palette entry or a colour marked transparent (PNG tRNS, GIF): make it an alpha band
        return np.asarray(image.convert("RGBA"))
    if mode in ("1", "L", "LA", "RGB", "RGBA") or mode.startswith("I;16"):
        return np.asarray(image)
    if mode in ("La", "RGBa"):
        # premultiplied alpha: the colour bands are already composited over black
        return np.asarray(image)[:, :, :-1]
    if mode == "I":
        values = np.asarray(image, dtype=np.float64)
        peak = values.max()
        return np.clip(values / (65535.0 if peak <= 65535 else peak), 0.0, 1.0)
    if mode == "F":
        return np.clip(np.asarray(image), 0.0, 1.0)
    target = "RGBA" if "A" in image.getbands() else "RGB"
    try:
        return np.asarray(image.convert(target))
    except ValueError as err:
        raise InputError(
            f"cannot convert a {mode!r} image to a mask ({err}); save it as RGB or greyscale"
        ) from err


def _array_to_mask(array: np.ndarray) -> np.ndarray:
    """(H, W[, C]) array of a supported dtype → (H, W) float32 luminance × alpha in [0, 1]."""
    values = array[:, :, None] if array.ndim == 2 else array
    if values.ndim != 3 or values.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"expected an image array of shape {_ARRAY_SHAPES}, got {array.shape}")
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise InputError(f"the image is empty: expected H, W ≥ 1, got shape {array.shape}")
    scale = np.float32(_full_scale(values))

    def band(index: int) -> np.ndarray:
        return values[:, :, index].astype(np.float32) / scale

    n_bands = values.shape[2]
    if n_bands <= 2:
        mask = band(0)
    else:
        red, green, blue = (np.float32(w) for w in LUMA_WEIGHTS)
        mask = red * band(0) + green * band(1) + blue * band(2)
    if n_bands in (2, 4):
        mask *= band(n_bands - 1)
    return np.clip(mask, 0.0, 1.0, out=mask)


def _full_scale(values: np.ndarray) -> float:
    """The value that means white for this array's dtype; checks float arrays' range."""
    kind, itemsize = values.dtype.kind, values.dtype.itemsize
    if kind == "b":
        return 1.0
    if kind == "u" and itemsize in (1, 2):
        return 255.0 if itemsize == 1 else 65535.0
    if kind == "f":
        if not np.isfinite(values).all():
            raise InputError("the image array holds NaN or infinite values")
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            raise InputError(
                f"float image arrays must hold values in [0, 1], this one spans "
                f"[{low:g}, {high:g}]; divide 8-bit values by 255, or clip with np.clip(a, 0, 1)"
            )
        return 1.0
    raise InputError(
        f"unsupported image array dtype {values.dtype}: expected uint8, uint16, bool or float "
        "in [0, 1]; for 0..255 integers use .astype(np.uint8)"
    )


# ---------------------------------------------------------------------------------------------
# Random masks
# ---------------------------------------------------------------------------------------------

_FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
)

# A small mix of lengths 1..10, so most text lengths can be a real word.
_WORDS = (
    "a", "I", "x",
    "ao", "go", "up", "on", "ok",
    "sun", "sky", "box", "ray", "fox", "cat", "map",
    "glow", "cube", "moon", "star", "leaf", "wave", "disc",
    "light", "shade", "stone", "cloud", "pixel", "frost", "ember", "river",
    "shadow", "render", "sphere", "planet", "marble", "photon", "canyon",
    "ambient", "lantern", "horizon", "diffuse", "glimmer", "occlude",
    "radiance", "specular", "emission", "mountain", "umbrella",
    "occlusion", "landscape", "spotlight",
    "reflection", "silhouette", "luminosity",
)  # fmt: skip
_WORDS_BY_LENGTH: dict[int, tuple[str, ...]] = {
    n: tuple(w for w in _WORDS if len(w) == n) for n in sorted({len(w) for w in _WORDS})
}
_CHARACTERS = string.ascii_letters + string.digits

SHAPES = ("disc", "rectangle", "polygon", "stroke")
"""Geometric shape kinds :func:`random_mask` can draw, and what their size means.

``disc``: diameter; ``rectangle``: each side, drawn independently; ``polygon``: outer
diameter (its vertices sit at jittered, evenly spaced angles); ``stroke``: half the length of
a thick poly-line with round caps and joins (a random walk turning at most 60° per joint).
"""

ShapeKind = Literal["disc", "rectangle", "polygon", "stroke"]

# Shapes are drawn at this many times the resolution and box-filtered down, so their edges are
# anti-aliased like the text's.
_SUPERSAMPLING = 4


@functools.cache
def _font_paths() -> tuple[Path, ...]:
    directory = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    found = tuple(directory / name for name in _FONT_FILES if (directory / name).is_file())
    if not found:
        raise NeuralShadeError(
            f"no TrueType fonts found in {directory} (looked for {', '.join(_FONT_FILES)}); "
            "matplotlib's installation is incomplete: reinstall it (pip install --force-reinstall "
            "matplotlib)"
        )
    return found


def fonts() -> list[Path]:
    """The TrueType fonts random masks use: a varied set shipped inside matplotlib.

    Sans, serif and monospace; regular, bold and italic (DejaVu and STIX families), those of
    them that exist. Raises :class:`~neuralshade.errors.NeuralShadeError` if none do.
    """
    return list(_font_paths())


@functools.lru_cache(maxsize=512)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


class MaskConfig(Settings):
    """How :func:`random_mask` draws: how many items, how many of them text, their sizes.

    Sizes are fractions of the image's shorter side and item counts are per square of that
    side (a 2:1 image gets twice as many items as a square one), so coverage does not depend
    on resolution or aspect ratio. The defaults give white letters, words and shapes on black
    covering on average 14-20 % of the image (``benchmarks/results/sdf_methods.json``:
    ``sizes[*].mean_inside_fraction``), mostly inside the frame.
    """

    items_min: int = Field(
        4, ge=0, description="fewest items (texts and shapes) per square of the shorter side"
    )
    items_max: int = Field(
        9, ge=0, description="most items (texts and shapes) per square of the shorter side"
    )
    text_probability: float = Field(
        0.5, ge=0.0, le=1.0, description="probability that an item is text rather than a shape"
    )
    text_length_min: int = Field(1, ge=1, description="fewest characters in a text item")
    text_length_max: int = Field(6, ge=1, description="most characters in a text item")
    word_probability: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="probability that a text is a built-in word (else random letters and digits)",
    )
    font_size_min: float = Field(
        0.1, gt=0.0, description="smallest font size (em), as a fraction of the shorter side"
    )
    font_size_max: float = Field(
        0.3, gt=0.0, description="largest font size (em), as a fraction of the shorter side"
    )
    rotation_min: float = Field(
        -30.0, ge=-180.0, le=180.0, description="smallest rotation of an item, degrees (ccw)"
    )
    rotation_max: float = Field(
        30.0, ge=-180.0, le=180.0, description="largest rotation of an item, degrees (ccw)"
    )
    shapes: list[ShapeKind] = Field(
        default_factory=lambda: list(SHAPES),
        description="geometric shape kinds to draw, each equally likely",
    )
    shape_size_min: float = Field(
        0.1,
        gt=0.0,
        description="smallest shape size, as a fraction of the shorter side (see SHAPES)",
    )
    shape_size_max: float = Field(
        0.35,
        gt=0.0,
        description="largest shape size, as a fraction of the shorter side (see SHAPES)",
    )
    polygon_vertices_min: int = Field(3, ge=3, description="fewest vertices of a polygon")
    polygon_vertices_max: int = Field(8, ge=3, description="most vertices of a polygon")
    stroke_width_min: float = Field(4.0, gt=0.0, description="thinnest stroke, pixels")
    stroke_width_max: float = Field(16.0, gt=0.0, description="thickest stroke, pixels")
    stroke_points_min: int = Field(2, ge=2, description="fewest points of a stroke's poly-line")
    stroke_points_max: int = Field(5, ge=2, description="most points of a stroke's poly-line")
    placement_tries: int = Field(
        4,
        ge=1,
        description="random positions tried per item; the one overlapping earlier items least wins",
    )
    outside_max: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="largest fraction of an item's width or height that may lie outside the frame",
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> MaskConfig:
        for name in (
            "items",
            "text_length",
            "font_size",
            "rotation",
            "shape_size",
            "polygon_vertices",
            "stroke_width",
            "stroke_points",
        ):
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if low > high:
                raise ValueError(f"{name}_min ({low}) must not exceed {name}_max ({high})")
        if not self.shapes and self.text_probability < 1.0:
            raise ValueError(
                "shapes is empty: list at least one shape kind, or set text_probability to 1"
            )
        return self


def random_mask(
    size: int | tuple[int, int], rng: np.random.Generator, config: MaskConfig | None = None
) -> np.ndarray:
    """Draw white letters, words and shapes on black.

    size: side of a square image, or (H, W).
    rng: the only source of randomness: the same generator state gives the same mask, bytes
        for bytes (on one machine: glyph rendering depends on the FreeType version).
    config: what to draw; the defaults when None.
    Returns: (H, W) float32 in [0, 1], anti-aliased edges.

    >>> mask = random_mask((32, 48), np.random.default_rng(1))
    >>> mask.shape, mask.dtype
    ((32, 48), dtype('float32'))
    """
    config = config or MaskConfig()
    height, width = _size_hw(size)
    short = min(height, width)
    aspect = max(height, width) / short
    canvas = np.zeros((height, width), np.uint8)
    count = int(
        rng.integers(round(config.items_min * aspect), round(config.items_max * aspect) + 1)
    )
    for _ in range(count):
        if rng.random() < config.text_probability:
            layer = _text_layer(rng, config, short, width)
        else:
            layer = _shape_layer(rng, config, short)
        _place(canvas, layer, rng, config)
    return canvas.astype(np.float32) / np.float32(255.0)


def _size_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    hw = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if len(hw) != 2 or min(hw) < 1:
        raise ConfigError(f"mask size must be a positive int or (H, W), got {size!r}")
    return int(hw[0]), int(hw[1])


def _random_text(rng: np.random.Generator, config: MaskConfig) -> str:
    length = int(rng.integers(config.text_length_min, config.text_length_max + 1))
    words = _WORDS_BY_LENGTH.get(length)
    if words and rng.random() < config.word_probability:
        word = words[rng.integers(len(words))]
        return (str.lower, str.upper, str.capitalize)[rng.integers(3)](word)
    return "".join(_CHARACTERS[i] for i in rng.integers(len(_CHARACTERS), size=length))


def _text_layer(rng: np.random.Generator, config: MaskConfig, short: int, width: int) -> np.ndarray:
    """A random text, rotated, on a tight black layer: (h, w) uint8."""
    text = _random_text(rng, config)
    paths = _font_paths()
    path = paths[rng.integers(len(paths))]
    size = max(1, round(short * rng.uniform(config.font_size_min, config.font_size_max)))
    font = _font(path, size)
    left, top, right, bottom = font.getbbox(text)
    fit = 0.9 * width / max(right - left, 1)
    if fit < 1.0:  # long texts shrink to fit the frame's width rather than run off it
        font = _font(path, max(1, int(size * fit)))
        left, top, right, bottom = font.getbbox(text)
    layer = Image.new("L", (right - left + 2, bottom - top + 2))
    ImageDraw.Draw(layer).text((1 - left, 1 - top), text, fill=255, font=font)
    angle = rng.uniform(config.rotation_min, config.rotation_max)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    box = layer.getbbox()
    return np.asarray(layer.crop(box) if box else layer)


def _shape_layer(rng: np.random.Generator, config: MaskConfig, short: int) -> np.ndarray:
    """A random geometric shape on a tight black layer: (h, w) uint8."""
    kind = config.shapes[rng.integers(len(config.shapes))]
    extent = short * rng.uniform(config.shape_size_min, config.shape_size_max)
    angle = np.deg2rad(rng.uniform(config.rotation_min, config.rotation_max))
    if kind == "disc":
        return _rasterise(np.zeros((1, 2)), radius=extent / 2)
    if kind == "rectangle":
        height = short * rng.uniform(config.shape_size_min, config.shape_size_max)
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [extent / 2, height / 2]
        cos, sin = np.cos(angle), np.sin(angle)
        return _rasterise(corners @ np.array([[cos, -sin], [sin, cos]]), polygon=True)
    if kind == "polygon":
        # vertices at jittered, evenly spaced angles: irregular but never self-intersecting
        n = int(rng.integers(config.polygon_vertices_min, config.polygon_vertices_max + 1))
        angles = angle + 2 * np.pi * (np.arange(n) + rng.uniform(-0.35, 0.35, n)) / n
        radii = extent / 2 * rng.uniform(0.5, 1.0, n)
        vertices = radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
        return _rasterise(vertices, polygon=True)
    # stroke: a random walk of n - 1 equal segments, 2 × extent long in all, turning at most 60°
    # at each joint so it stays open rather than curling into a blob
    n = int(rng.integers(config.stroke_points_min, config.stroke_points_max + 1))
    headings = angle + np.cumsum(rng.uniform(-np.pi / 3, np.pi / 3, n - 1))
    step = 2 * extent / (n - 1)
    points = np.cumsum(step * np.stack([np.cos(headings), np.sin(headings)], 1), 0)
    stroke_width = rng.uniform(config.stroke_width_min, config.stroke_width_max)
    return _rasterise(np.vstack([np.zeros((1, 2)), points]), radius=stroke_width / 2)


def _rasterise(points: np.ndarray, polygon: bool = False, radius: float = 0.0) -> np.ndarray:
    """Fill a polygon, or a poly-line of round dots joined by lines ``2 * radius`` wide.

    points: (N, 2) x, y in pixels, any origin. Returns the shape on a tight layer,
    (h, w) uint8, drawn supersampled and box-filtered.
    """
    origin = points.min(0) - radius - 1
    layer_w, layer_h = np.ceil(points.max(0) + radius + 1 - origin).astype(int)
    s = _SUPERSAMPLING
    layer = Image.new("L", (layer_w * s, layer_h * s))
    draw = ImageDraw.Draw(layer)
    xy = [(float(x), float(y)) for x, y in (points - origin) * s]
    if polygon:
        draw.polygon(xy, fill=255)
    else:
        r = radius * s
        if len(xy) > 1:
            draw.line(xy, fill=255, width=max(1, round(2 * r)))
        for x, y in xy:  # round caps and joins
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(layer.reduce(s))


def _place(
    canvas: np.ndarray, layer: np.ndarray, rng: np.random.Generator, config: MaskConfig
) -> None:
    """Paste ``layer`` on ``canvas`` (in place) where it overlaps the ink least, keeping the max.

    Tries ``config.placement_tries`` random positions, stopping at the first free one. At most
    ``config.outside_max`` of the layer's width (height) lies beyond the left or right (top or
    bottom) edge; a layer larger than the frame is cut on both sides.
    """
    best: tuple[int, tuple[slice, slice], tuple[slice, slice]] | None = None
    for _ in range(config.placement_tries):
        y0 = _position(rng, layer.shape[0], canvas.shape[0], config.outside_max)
        x0 = _position(rng, layer.shape[1], canvas.shape[1], config.outside_max)
        on_canvas, on_layer = _overlap_slices(canvas.shape, layer.shape, y0, x0)
        overlap = int(np.minimum(canvas[on_canvas], layer[on_layer]).sum(dtype=np.int64))
        if best is None or overlap < best[0]:
            best = (overlap, on_canvas, on_layer)
        if overlap == 0:
            break
    assert best is not None, "MaskConfig.placement_tries is at least 1"
    _, on_canvas, on_layer = best
    np.maximum(canvas[on_canvas], layer[on_layer], out=canvas[on_canvas])


def _position(rng: np.random.Generator, length: int, frame: int, outside: float) -> int:
    """A random start of an item ``length`` long on an axis ``frame`` long."""
    low, high = -outside * length, frame - length + outside * length
    return int(np.floor(rng.uniform(min(low, high), max(low, high))))


def _overlap_slices(
    frame: tuple[int, ...], layer: tuple[int, ...], y0: int, x0: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Where a layer with its top-left corner at (y0, x0) meets the frame: canvas and layer slices.

    The slices are empty when the layer lies entirely outside.
    """
    top, bottom = min(max(y0, 0), frame[0]), max(min(y0 + layer[0], frame[0]), 0)
    left, right = min(max(x0, 0), frame[1]), max(min(x0 + layer[1], frame[1]), 0)
    bottom, right = max(bottom, top), max(right, left)
    on_canvas = (slice(top, bottom), slice(left, right))
    on_layer = (slice(top - y0, bottom - y0), slice(left - x0, right - x0))
    return on_canvas, on_layer


def text_mask(
    text: str, font_size: int = 96, margin: int | None = None, font: str = "DejaVuSans-Bold.ttf"
) -> np.ndarray:
    """White text on black, sized to fit: ``(H, W) float32`` in [0, 1].

    One line per ``\\n``; ``margin`` (default: half the font size) leaves room for shadows.

    >>> text_mask("hi", font_size=32).shape[0] > 32
    True
    """
    if not text.strip():
        raise InputError("the text is empty: give some characters to draw")
    path = next((f for f in fonts() if f.name == font), fonts()[0])
    face = _font(path, font_size)
    margin = font_size // 2 if margin is None else margin
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=face, align="center")
    image = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 0)
    ImageDraw.Draw(image).multiline_text(
        (margin - left, margin - top), text, fill=255, font=face, align="center"
    )
    return np.asarray(image, dtype=np.float32) / 255.0
