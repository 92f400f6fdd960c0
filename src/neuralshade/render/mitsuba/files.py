"""Rendering a 3D scene file to a folder of G-buffers (``neuralshade render SCENE``).

:func:`render_scene_file` reads a Mitsuba 3 XML scene or one of this package's scene JSONs
(:func:`neuralshade.scenes.model.load_scene`), renders every buffer of
:mod:`neuralshade.render.mitsuba.gbuffer` from its first sensor, and writes them to a folder:

- ``<buffer>.exr`` for each buffer (float32; Y or RGB channels), and, with ``reference_spp``,
  ``<buffer>_reference.exr`` for each of ``reference_buffers`` (default: the beauty), from a
  converged pass at that many samples;
- ``beauty.png``: the linear beauty through the sRGB curve, clipped at 1;
- ``contact_sheet.png``: every buffer labelled and shown by its kind (:data:`SHEET_KINDS`);
- ``params.json``: every setting used, the scene file and its SHA-256, the camera (its
  world-to-camera matrix in Mitsuba's axes, x left, y up, z forward, and its horizontal field
  of view, so that camera-space buffers can be derived from the world-space ones), Mitsuba's
  version and variant, and the seconds taken. It is written last, so its presence marks a
  finished render.

Every file is written atomically, after all the rendering: an error leaves no file behind,
and outputs that could not be written (a file in the way, an output that would replace the
scene or a file it reads) are refused before any rendering.

**Film size** (``size``). An XML scene is read with Mitsuba's own parser
(``mi.parser.parse_file``), and before it is instantiated every film's ``width`` and
``height`` in the parsed scene are set to ``size``: this works for any file, whether it gives
numbers or ``$resx``-style parameters, gives the film a size where it had none, and gives a
sensor without a film an ``hdrfilm``; the film's crop window, if any, is dropped. The result
is the scene as if the file had said that size (a ``fov`` is kept along its ``fov_axis``).
(``mi.load_file(path, resx=…)`` only works for files that declare those parameters: for the
others Mitsuba refuses the unused parameter; and resizing a loaded film through
``mi.traverse`` keeps the horizontal field of view, so a ``fov_axis="y"`` camera would change.)
A scene JSON gets ``Film(width, height)``.

**XML scenes** are loaded as they are written: shapes are neither merged nor deduplicated
(Mitsuba's loader merges meshes that share a BSDF, and their ids are lost), relative file
names are looked up beside the XML file, and the file's integrator is unused (the G-buffer
integrator replaces it). Roughness comes from each shape's BSDF; a scene JSON gives its
materials' roughness per shape (:func:`~neuralshade.scenes.model.surface_table`).

Every problem with the scene file (missing, unreadable, malformed, an unknown plugin or
property, a missing mesh, a NaN or infinite value, no sensor, a film of zero size) raises
InputError naming the file and what is wrong; a bad setting raises ConfigError.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import neuralshade
from neuralshade.errors import ConfigError, InputError, NeuralShadeError
from neuralshade.imageio import write_exr, write_json, write_png
from neuralshade.outputs import check_outputs
from neuralshade.render.mitsuba.gbuffer import BUFFERS, VARIANCES, render_gbuffers
from neuralshade.render.mitsuba.gbuffer import _check as check_gbuffer_settings
from neuralshade.sheets import contact_sheet, display

SCENE_SUFFIXES = (".xml", ".json")

#: how the contact sheet shows each buffer (:func:`neuralshade.sheets.display`'s kinds):
#: radiance and reflectance through the sRGB curve, directions from [-1, 1], positions from
#: their own range, scalars in [0, 1] or scaled by their maximum (depth).
SHEET_KINDS: dict[str, str] = {
    "beauty": "linear",
    "beauty_reference": "linear",
    "beauty_variance": "linear",
    "position": "vector",
    "normal": "vector",
    "depth": "scalar",
    "id": "id",
    "albedo": "linear",
    "roughness": "scalar",
    "direct": "linear",
    "indirect": "linear",
    "diffuse": "linear",
    "specular": "linear",
    "mirror": "vector",
    "mirror_hit": "vector",
    "mirror_normal": "vector",
    "shadows": "scalar",
    "ao": "scalar",
}
SHEET_KINDS.update({n: "linear" if VARIANCES[n] != "depth" else "scalar" for n in VARIANCES})
SHEET_KINDS.update(
    {
        f"{n}_reference": k
        for n, k in list(SHEET_KINDS.items())
        if n in BUFFERS and n not in VARIANCES
    }
)

_MAX_SIDE = 16384  # as neuralshade.scenes.model.Film
_SHEET_COLUMNS = 6
_SHEET_PANEL = 128  # small renders are enlarged to at least this width, so labels fit


def render_scene_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    spp: int = 64,
    reference_spp: int | None = None,
    size: tuple[int, int] | None = None,
    buffers: Sequence[str] | None = None,
    ao_radius: float = 1.0,
    seed: int = 0,
    device: str = "cpu",
    max_depth: int = 5,
    reference_buffers: Sequence[str] | None = None,
) -> dict:
    """Render the scene at ``path`` (Mitsuba 3 ``.xml`` or scene ``.json``) into ``out_dir``.

    spp: samples per pixel of the G-buffers. reference_spp: with a value, also a converged pass
    at that many samples (seed ``seed + 1``: independent of the noisy one), written as
    ``<name>_reference`` for each of ``reference_buffers`` (default ``["beauty"]``; any buffer
    but the variances). size: (width, height) in pixels, overriding the file's film (see the
    module docs). buffers: names from :data:`~neuralshade.render.mitsuba.gbuffer.BUFFERS`
    (default: all but the features' variances; a variance needs ``spp >= 2``). ao_radius: AO
    ray length in world units. device: ``cpu`` (Mitsuba's ``llvm_ad_rgb``), ``cuda``
    (``cuda_ad_rgb``) or ``auto``. max_depth: path length as Mitsuba counts it (1: emitters
    only, 2: direct light, ...).

    Returns what params.json holds. Each buffer is float32 (H, W, C) in its EXR file, with the
    units of :mod:`neuralshade.render.mitsuba.gbuffer`.

    Example::

        info = render_scene_file("examples/spheres.xml", "out", spp=16, size=(64, 48))
        info["size"]  # [64, 48]
    """
    src, out = Path(path), Path(out_dir)
    variant = mitsuba_variant(device)
    names, reference_names = _check_settings(
        src,
        spp,
        reference_spp,
        reference_buffers,
        size,
        buffers,
        ao_radius,
        seed,
        max_depth,
        variant,
    )
    from neuralshade.render.mitsuba_scene import load_mitsuba

    mi = load_mitsuba(variant)
    start = time.perf_counter()
    sha256 = hashlib.sha256(src.read_bytes()).hexdigest()
    source = _parse_xml(mi, src, size) if src.suffix.lower() == ".xml" else _parse_json(src, size)
    order = _with_reference(names, reference_names)
    written = [f"{n}.exr" for n in order]
    written += ["beauty.png"] * ("beauty" in names) + ["contact_sheet.png", "params.json"]
    check_outputs(out, [out / n for n in written], [src, *source.files])

    scene = source.load()
    width, height = _film_size(scene, src)
    loaded = time.perf_counter()
    common = _render_settings(source, ao_radius, max_depth)
    result = render_gbuffers(scene, spp=spp, seed=seed, buffers=names, **common)
    rendered = time.perf_counter()
    if reference_names:
        reference = render_gbuffers(
            scene, spp=reference_spp, seed=seed + 1, buffers=reference_names, **common
        )
        result.update({f"{n}_reference": v for n, v in reference.items()})
    done = time.perf_counter()

    panels = [(name, result[name], SHEET_KINDS[name]) for name in order]
    sheet = contact_sheet(panels, columns=_SHEET_COLUMNS, scale=math.ceil(_SHEET_PANEL / width))
    info = {
        "scene": str(src),
        "scene_format": source.format,
        "scene_sha256": sha256,
        "size": [width, height],
        "size_override": None if size is None else list(size),
        "sensor": 0,
        "spp": spp,
        "reference_spp": reference_spp,
        "reference_seed": None if reference_spp is None else seed + 1,
        "buffers": names,
        "reference_buffers": reference_names,
        "camera": camera_record(scene.sensors()[0]),
        "ao_radius": ao_radius,
        "seed": seed,
        "max_depth": max_depth,
        "roughness_from": "BSDFs" if source.roughness is None else "scene materials",
        "device": "cuda" if variant.startswith("cuda") else "cpu",
        "mitsuba_variant": variant,
        "mitsuba_version": mi.__version__,
        "neuralshade_version": neuralshade.__version__,
        "seconds": round(done - start, 4),
        "seconds_by_step": {
            "load": round(loaded - start, 4),
            "render": round(rendered - loaded, 4),
            "reference": None if reference_spp is None else round(done - rendered, 4),
        },
        "outputs": written,
    }
    for name in order:
        write_exr(out / f"{name}.exr", result[name])
    if "beauty" in result:
        write_png(out / "beauty.png", display(result["beauty"], "linear"))
    write_png(out / "contact_sheet.png", sheet)
    write_json(out / "params.json", info)
    return info


def mitsuba_variant(device: str) -> str:
    """The Mitsuba variant for ``device``: ``cpu`` → ``llvm_ad_rgb``, ``cuda`` or ``cuda:0`` →
    ``cuda_ad_rgb``, ``auto`` → CUDA when torch sees a GPU (ConfigError for anything else)."""
    if device == "cpu":
        return "llvm_ad_rgb"
    from neuralshade.devices import resolve_device

    chosen = resolve_device(device)
    if chosen.type == "cpu":
        return "llvm_ad_rgb"
    if chosen.index not in (None, 0):
        raise ConfigError(
            f"device {device!r}: Mitsuba renders on the first visible GPU; "
            f"set CUDA_VISIBLE_DEVICES={chosen.index} and use --device cuda"
        )
    return "cuda_ad_rgb"


def _with_reference(names: Sequence[str], reference: Sequence[str]) -> list[str]:
    """The buffers written, in order: each ``<name>_reference`` right after ``<name>`` (at the
    end where ``<name>`` itself is not rendered)."""
    out = list(names)
    for name in reference:
        out.insert(out.index(name) + 1 if name in out else len(out), f"{name}_reference")
    return out


def camera_record(sensor: Any) -> dict[str, Any]:
    """A sensor's pose and field of view as params.json records them: ``world_to_camera``, the
    4×4 matrix (row-major, 16 numbers; Mitsuba's camera axes: x left, y up, z forward), and
    ``fov``, the horizontal field of view in degrees (``fov_axis`` "x"; None for a camera
    without one, such as an orthographic one)."""
    import mitsuba as mi

    to_world = np.asarray(sensor.world_transform().matrix, np.float64).reshape(4, 4)
    params = mi.traverse(sensor)
    fov = float(params["x_fov"][0]) if "x_fov" in params else None
    return {
        "type": sensor.class_name(),
        "world_to_camera": np.linalg.inv(to_world).reshape(16).tolist(),
        "fov": fov,
        "fov_axis": "x",
    }


def load_scene_file(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    ao_radius: float = 1.0,
    max_depth: int = 5,
    device: str = "cpu",
) -> tuple[Any, dict[str, Any]]:
    """A scene file loaded as :func:`render_scene_file` loads it, to render again and again.

    Returns (the Mitsuba scene, the keyword arguments of
    :func:`~neuralshade.render.mitsuba.gbuffer.render_gbuffers` besides spp, seed and buffers):
    ``render_gbuffers(scene, spp=n, seed=s, buffers=["ao"], **common)`` renders what
    ``neuralshade render`` would, at n samples (a race against the renderer times exactly that).
    """
    src = Path(path)
    variant = mitsuba_variant(device)
    _check_settings(src, 1, None, None, size, ["ao"], ao_radius, 0, max_depth, variant)
    from neuralshade.render.mitsuba_scene import load_mitsuba

    mi = load_mitsuba(variant)
    source = _parse_xml(mi, src, size) if src.suffix.lower() == ".xml" else _parse_json(src, size)
    return source.load(), _render_settings(source, ao_radius, max_depth)


def _check_settings(
    src: Path,
    spp: int,
    reference_spp: int | None,
    reference_buffers: Sequence[str] | None,
    size: tuple[int, int] | None,
    buffers: Sequence[str] | None,
    ao_radius: float,
    seed: int,
    max_depth: int,
    variant: str,
) -> tuple[list[str], list[str]]:
    """The buffer names to render and those of the converged pass, after refusing every bad
    setting (before any work)."""
    if src.suffix.lower() not in SCENE_SUFFIXES:
        raise InputError(f"{src}: a scene file is Mitsuba 3 .xml or neuralshade .json")
    if not src.is_file():
        raise InputError(f"{src}: no such scene file; check the path")
    if buffers is not None and not list(buffers):
        raise ConfigError(f"no buffers asked for; known: {', '.join(BUFFERS)}")
    if not (isinstance(ao_radius, (int, float)) and math.isfinite(ao_radius)):
        raise ConfigError(f"ao_radius must be a finite number, got {ao_radius!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"the seed must be an integer >= 0, got {seed!r}")
    if size is not None:
        if len(size) != 2 or not all(
            isinstance(v, (int, np.integer)) and 1 <= v <= _MAX_SIDE for v in size
        ):
            raise ConfigError(
                f"size must be (width, height), each 1 to {_MAX_SIDE} pixels, got {size!r}"
            )
    reference: list[str] = []
    if reference_spp is None and reference_buffers is not None:
        raise ConfigError("reference buffers need a reference pass: give its reference_spp")
    if reference_spp is not None:
        reference = list(reference_buffers if reference_buffers is not None else ["beauty"])
        if not reference or set(reference) & set(VARIANCES):
            raise ConfigError(
                f"reference buffers: give one or more of {', '.join(BUFFERS)} but the "
                f"variances, got {reference}"
            )
        reference = check_gbuffer_settings(reference_spp, reference, ao_radius, max_depth, variant)
    return check_gbuffer_settings(spp, buffers, ao_radius, max_depth, variant), reference


# ------------------------------------------------------------------------------------------------
# reading the scene: parsed first (cheap, checked), loaded once the outputs are known to be safe


@dataclass(frozen=True)
class _Parsed:
    """A scene file, read and checked but not yet loaded."""

    format: str  # "mitsuba-xml" or "neuralshade-json"
    files: list[Path]  # the other files it reads: meshes, textures, envmaps, includes
    roughness: dict[str, float] | None  # per shape id, where the file says it
    load: Callable[[], Any]  # → mi.Scene
    hide_emitters: bool = False  # camera rays pass through lights (the file's integrator says)
    ids: dict[str, float] | None = None  # the id buffer per shape id, where materials have indices


def _parse_json(src: Path, size: tuple[int, int] | None) -> _Parsed:
    from neuralshade.render.mitsuba.scene_dict import to_mitsuba
    from neuralshade.scenes.model import (
        EnvmapLight,
        Film,
        Mesh,
        load_scene,
        surface_ids,
        surface_table,
    )

    try:
        scene = load_scene(src)  # InputError for bad JSON, bad values, missing meshes
    except InputError as exc:
        if str(src) in str(exc):
            raise
        raise InputError(f"{src}: {exc}") from None
    if size is not None:
        scene = scene.model_copy(update={"film": Film(width=size[0], height=size[1])})
    table = surface_table(scene)
    items = [*scene.shapes, *scene.lights]
    files = [item.file() for item in items if isinstance(item, (Mesh, EnvmapLight))]

    def load() -> Any:
        with _mitsuba_errors(src):
            return to_mitsuba(scene)

    roughness = dict(zip(table.shape_ids, table.roughness.tolist(), strict=True))
    return _Parsed("neuralshade-json", files, roughness, load, scene.lights_hidden,
                   surface_ids(table))  # fmt: skip


def _parse_xml(mi: Any, src: Path, size: tuple[int, int] | None) -> _Parsed:
    parser = mi.parser
    config = parser.ParserConfig(mi.variant())
    config.merge_equivalent = False  # one Mitsuba shape per shape, each with its id
    config.merge_meshes = False
    with _mitsuba_errors(src):
        state = parser.parse_file(config, str(src))
        parser.transform_all(config, state)  # upgrades old versions, resolves references
    _check_values(mi, state)
    if size is not None:
        _set_film_size(mi, state, size)
    folder = src.resolve().parent
    files = [Path(str(f)) for f in state.files[1:]]  # includes
    for node in state.nodes:
        if "filename" in node.props.keys():
            files.append(folder / str(_values(mi, node)["filename"]))

    def load() -> Any:
        with _mitsuba_errors(src), _files_beside(mi, folder):
            scene = parser.instantiate(config, state)
        if not isinstance(scene, mi.Scene):
            raise InputError(f"{src}: its root is a {type(scene).__name__}, not a <scene>")
        return scene

    hide = any(
        "hide_emitters" in node.props.keys() and bool(_values(mi, node)["hide_emitters"])
        for node in state.nodes
    )
    return _Parsed("mitsuba-xml", files, None, load, hide)


def _render_settings(source: _Parsed, ao_radius: float, max_depth: int) -> dict[str, Any]:
    """render_gbuffers' keyword arguments for a parsed scene file."""
    return {"ao_radius": ao_radius, "max_depth": max_depth, "roughness": source.roughness,
            "hide_emitters": source.hide_emitters, "ids": source.ids}  # fmt: skip


def _check_values(mi: Any, state: Any) -> None:
    """InputError naming the place of a non-finite value, a zero-sized film, or no sensor."""
    sensors = 0
    for node in state.nodes:
        values = _values(mi, node)
        where = f"{mi.parser.file_location(state, node)}: {node.props.plugin_name()}"
        for key, value in values.items():
            if not _finite(value):
                raise InputError(f"{where} {key!r} is {value}: use finite numbers")
        if node.type == mi.ObjectType.Film:
            for key in ("width", "height"):
                if key in values and values[key] < 1:
                    raise InputError(f"{where} {key} is {values[key]}: a film needs >= 1 pixel")
        sensors += node.type == mi.ObjectType.Sensor
    if not sensors:
        raise InputError(
            f"{state.files[0]}: the scene has no <sensor> (camera) to render from; add one"
        )


def _values(mi: Any, node: Any) -> dict[str, Any]:
    """A parsed node's properties, read from a copy: reading one marks it used, and Mitsuba
    refuses a scene with unused properties (a misspelt name), which must still be refused."""
    props = mi.Properties(node.props)
    return {key: props[key] for key in props.keys()}


def _finite(value: Any) -> bool:
    """False where a property's value holds NaN or an infinity (numbers, colours, points,
    spectra, transforms); True for values without numbers (strings, references)."""
    if isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if hasattr(value, "wavelengths"):  # Properties.Spectrum
        numbers = [*value.values, *value.wavelengths]
    elif hasattr(value, "inverse_transpose"):  # a transform
        numbers = np.asarray(value.matrix, np.float64).ravel().tolist()
    else:
        try:
            numbers = [float(v) for v in value]  # Dr.Jit scalar arrays: colours, points
        except (TypeError, ValueError):
            return True
    return all(math.isfinite(v) for v in numbers)


def _set_film_size(mi: Any, state: Any, size: tuple[int, int]) -> None:
    """Give every sensor's film ``size`` (W, H), adding an ``hdrfilm`` where there is none."""
    films = {i for i, node in enumerate(state.nodes) if node.type == mi.ObjectType.Film}
    sensors = [i for i, node in enumerate(state.nodes) if node.type == mi.ObjectType.Sensor]
    for index in sensors:
        children = _values(mi, state.nodes[index]).values()
        if not any(_refers(mi, child, films) for child in children):
            film = mi.parser.SceneNode()
            film.type = mi.ObjectType.Film
            film.props.set_plugin_name("hdrfilm")
            film.file_index, film.offset = state.nodes[index].file_index, state.nodes[index].offset
            # (appending may move the nodes: no reference into the list is held across it)
            state.nodes.append(film)
            films.add(len(state.nodes) - 1)
            state.nodes[index].props["film"] = mi.Properties.ResolvedReference(len(state.nodes) - 1)
    for index in films:
        props = state.nodes[index].props
        for key in ("crop_offset_x", "crop_offset_y", "crop_width", "crop_height"):
            if key in props.keys():
                del props[key]
        props["width"], props["height"] = int(size[0]), int(size[1])


def _refers(mi: Any, value: Any, indices: set[int]) -> bool:
    """Whether a property's value is a reference to one of the nodes ``indices``."""
    return isinstance(value, mi.Properties.ResolvedReference) and value.index() in indices


@contextlib.contextmanager
def _files_beside(mi: Any, folder: Path) -> Iterator[None]:
    """Mitsuba looks up relative file names in ``folder`` first (as ``mi.load_file`` does)."""
    saved = mi.file_resolver()
    resolver = mi.FileResolver(saved)
    resolver.prepend(str(folder))
    mi.set_file_resolver(resolver)
    try:
        yield
    finally:
        mi.set_file_resolver(saved)


@contextlib.contextmanager
def _mitsuba_errors(src: Path) -> Iterator[None]:
    """Mitsuba's exceptions (RuntimeError and others, with a message) as InputError."""
    try:
        yield
    except NeuralShadeError:
        raise
    except Exception as exc:
        message = re.sub(r"\[[\w.]+\.cpp:\d+\]\s*", "", str(exc)).strip()
        raise InputError(f"{src}: Mitsuba cannot load this scene: {message}") from None


def _film_size(scene: Any, src: Path) -> tuple[int, int]:
    """(W, H) of the first sensor's film, refused outside 1 … 16384 pixels a side."""
    width, height = (int(v) for v in scene.sensors()[0].film().crop_size())
    if not (1 <= width <= _MAX_SIDE and 1 <= height <= _MAX_SIDE):
        raise InputError(
            f"{src}: the film is {width}x{height} pixels; each side must be 1 to {_MAX_SIDE} "
            "(--size overrides it)"
        )
    return width, height
