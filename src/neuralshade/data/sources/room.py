"""The room source: PrimitiveRoom scenes rendered by Mitsuba 3, every G-buffer, several views.

A sample is one **view** of one scene: sample i is view ``i % views`` of scene ``i // views``
(:func:`neuralshade.scenes.room.random_room`). Each view is rendered twice by the one-pass
G-buffer integrator (:mod:`neuralshade.render.mitsuba.gbuffer`): a noisy pass at ``spp``
(beauty, its per-pixel variance and the G-buffers asked for) and a converged pass at
``reference_spp`` with the buffers of ``reference_buffers``, each stored as
``<name>_reference`` (by default the beauty, clean albedo and normal for denoisers, and the
converged ao, direct and indirect light that deep shading learns). Both passes trace the same
paths for all their buffers, so the reference's direct + indirect is its beauty. Every buffer
is an OpenEXR file. With ``spp_levels`` the noisy pass also stores each of its buffers at
lower sample counts, ``<name>_<n>spp``, the averages of its first n samples (a denoiser's
inputs at 1, 4, 16 spp beside the pass's own). ``pose`` (the view's
flattened 4×4 world-to-camera matrix, 16 numbers, CNSR's ``poses``) is derived from the
manifest's record of the view.

Factor-varied batches (CNSR's training batches): with ``factor_batch`` = B > 0 the scenes come
in groups of B; a training or validation group varies exactly one factor (lighting, geometry,
material, in turn by group) and shares the other two and the cameras; a test group is B fully
random scenes. Splits cut whole groups (whole scenes when B = 0), so no scene is in two splits.

Symmetries: a left-right mirror of a render is the render of the mirrored room from the
mirrored camera, true for colours and scalars; quarter turns are not (the room has an up).
World-space vectors (normal, position, mirror…) have no image axes, so a dataset that reads
one of them is never mirrored. Each has a derived camera-space twin, ``<name>_camera``, in
OpenGL's camera space (x right, y up, z toward the viewer: what is in front has z < 0, as in
Deep Shading's buffers); those turn with the image, so they may be mirrored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from neuralshade.config import Settings
from neuralshade.data.augment import D4, Symmetry
from neuralshade.data.schema import Buffer, schema_of
from neuralshade.data.sources import SOURCES, Source, check_split
from neuralshade.errors import ConfigError

# the noisy pass's G-buffers (mitsuba.gbuffer.BUFFERS but beauty) and how each reads
GBUFFERS: dict[str, tuple[int, str, str]] = {
    "beauty_variance": (3, "scalar", "per-pixel variance of the noisy beauty's mean"),
    "position": (3, "vector", "world position of the first hit, 0 on background"),
    "normal": (3, "vector", "world-space shading normal facing the camera, in [-1, 1]"),
    "depth": (1, "scalar", "distance along the camera ray to the first hit, 0 on background"),
    "id": (1, "id", "CNSR's material index / 11: floor 0, ceiling 1, walls 2-5, objects 7-11"),
    "albedo": (3, "linear", "diffuse reflectance at the first hit"),
    "roughness": (1, "scalar", "the first hit's roughness (CNSR: alpha = roughness²)"),
    "direct": (3, "linear", "emission + next-event estimation, at most one bounce"),
    "indirect": (3, "linear", "beauty - direct, from the same paths"),
    "diffuse": (3, "linear", "light reflected by the first hit's diffuse lobe"),
    "specular": (3, "linear", "beauty - diffuse, from the same paths"),
    "mirror": (3, "vector", "the camera ray reflected about the normal"),
    "mirror_hit": (3, "vector", "world position of the first hit along the mirror ray"),
    "mirror_normal": (3, "vector", "normal at the mirror ray's first hit"),
    "shadows": (1, "scalar", "fraction of the lights visible from the first hit"),
    "ao": (1, "scalar", "fraction of cosine-weighted rays free for ao_radius"),
}
DEFAULT_BUFFERS = list(GBUFFERS)  # every G-buffer but the features' variances (opt-in)
GBUFFERS.update(
    {
        f"{b}_variance": (GBUFFERS[b][0], "scalar", f"per-pixel variance of the noisy {b}'s mean")
        for b in ("diffuse", "specular", "albedo", "normal", "depth")
    }
)
VARIANCES = [n for n in GBUFFERS if n.endswith("_variance")]


# the buffers the converged pass can render (every one but the variance of its beauty), and
# the render through the view's thin lens
REFERENCE_BUFFERS: dict[str, tuple[int, str, str]] = {
    "beauty": (3, "linear", "the render, linear radiance"),
    **{n: v for n, v in GBUFFERS.items() if n not in VARIANCES},
    "dof": (3, "linear", "the render through the view's thin lens (its record's lens): depth "
            "of field"),
}  # fmt: skip
DEFAULT_REFERENCE = ["beauty", "albedo", "normal", "ao", "direct", "indirect"]

# world-space vectors with a camera-space twin: True for points (moved by the camera's
# translation too), False for directions
WORLD_VECTORS = {"position": True, "normal": False, "mirror": False, "mirror_hit": True,
                 "mirror_normal": False, "normal_reference": False}  # fmt: skip
# Mitsuba's camera space (x left, y up, z forward, as view_matrix gives) → OpenGL's
_TO_OPENGL = np.diag([-1.0, 1.0, -1.0, 1.0])


def _schema() -> dict[str, Buffer]:
    out = [
        Buffer(name="beauty", channels=3, kind="linear", file="beauty.exr",
               description="the noisy render at spp, linear radiance"),
        Buffer(name="pose", channels=16, kind="vector",
               description="constant: the flattened 4x4 world-to-camera matrix of the view"),
    ]  # fmt: skip
    out += [
        Buffer(name=n, channels=c, kind=k, file=f"{n}.exr", description=d)
        for n, (c, k, d) in GBUFFERS.items()
    ]
    out += [
        Buffer(name=f"{n}_reference", channels=c, kind=k, file=f"{n}_reference.exr",
               description=f"{d}, converged (reference_spp)")
        for n, (c, k, d) in REFERENCE_BUFFERS.items()
    ]  # fmt: skip
    out.append(
        Buffer(name="coc", channels=1, kind="scalar", needs=("position",),
               description="the view's thin-lens circle of confusion: its diameter in pixels, "
               "2·R·F·|1/z − 1/d| (lens radius R, focal length F in pixels, camera-space depth "
               "z, focus distance d; where nothing was hit, z is infinite)")
    )  # fmt: skip
    named = {b.name: b for b in out}
    out += [
        Buffer(name=f"{n}_camera", channels=3, kind="vector", image_axes=(0, 1), y_down=False,
               needs=(n,), description=f"{named[n].description}; in camera space (OpenGL's: "
               "x right, y up, z toward the viewer)")
        for n in WORLD_VECTORS
    ]  # fmt: skip
    return schema_of(*out)


SCHEMA = _schema()


class RoomConfig(Settings):
    """Everything that determines a room dataset's bytes."""

    count: int = Field(250, ge=1, description="Number of scenes.")
    views: int = Field(4, ge=1, description="Views per scene (each a sample).")
    size: int = Field(64, ge=8, le=4096, description="Side of the square views, pixels.")
    seed: int = Field(0, ge=0, description="Seed of every random choice in the dataset.")
    split: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1},
        description="Fractions of scenes (or factor groups) per split (sum to 1).",
    )
    spp: int = Field(4, ge=1, description="Samples per pixel of the noisy pass.")
    spp_levels: list[int] = Field(
        default_factory=list,
        description="Lower sample counts of the noisy pass also stored, each noisy buffer as "
        "<name>_<n>spp: the average of the pass's first n samples, as a progressive renderer "
        "gives it (denoising data: spp 64 with [1, 4, 16]); the variances from n >= 2.",
    )
    reference_spp: int = Field(1024, ge=1, description="Samples per pixel of the reference.")
    buffers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BUFFERS),
        description=f"G-buffers of the noisy pass to store: {list(GBUFFERS)} (default: all "
        "but the features' variances).",
    )
    reference_buffers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REFERENCE),
        description=f"Buffers of the converged pass to store as <name>_reference: "
        f"{list(REFERENCE_BUFFERS)}.",
    )
    factor_batch: int = Field(
        0, ge=0, description="Scenes per factor-varied group (0: every scene random)."
    )
    ao_radius: float = Field(1.0, gt=0, description="AO ray length, world units.")
    max_depth: int = Field(5, ge=1, description="Longest path, in vertices (Mitsuba's).")
    aperture_radius: tuple[float, float] = Field(
        (0.02, 0.15),
        description="Range of the thin lens's radius (world units; uniform) of a view's depth "
        "of field (reference buffer dof).",
    )
    focus_distance: tuple[float, float] = Field(
        (0.7, 6.0),
        description="Range of the thin lens's focus distance (world units along the view; "
        "log-uniform) of a view's depth of field.",
    )

    @field_validator("buffers")
    @classmethod
    def _known_buffers(cls, value: list[str]) -> list[str]:
        return _known(value, GBUFFERS)

    @field_validator("reference_buffers")
    @classmethod
    def _known_reference_buffers(cls, value: list[str]) -> list[str]:
        return _known(value, REFERENCE_BUFFERS)

    @model_validator(mode="after")
    def _check(self) -> RoomConfig:
        check_split(self.split)
        if self.factor_batch and self.count % self.factor_batch:
            raise ValueError(
                f"count {self.count} must be a multiple of factor_batch {self.factor_batch}"
            )
        variances = [b for b in self.buffers if b in VARIANCES]
        if variances and self.spp < 2:
            raise ValueError(f"{variances[0]} needs spp >= 2 (a variance of one sample)")
        levels = self.spp_levels
        if any(b <= a for a, b in zip(levels, levels[1:], strict=False)):
            raise ValueError(f"spp_levels must increase, got {levels}")
        if levels and not 1 <= levels[0] <= levels[-1] < self.spp:
            raise ValueError(f"spp_levels must lie in [1, spp = {self.spp}), got {levels}")
        for name, (lo, hi) in (("aperture_radius", self.aperture_radius),
                               ("focus_distance", self.focus_distance)):  # fmt: skip
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < low <= high, got {(lo, hi)}")
        return self


def view_matrix(origin: Sequence[float], target: Sequence[float], up: Sequence[float]):
    """The 4×4 world-to-camera matrix of a camera at ``origin`` looking at ``target``: the
    inverse of Mitsuba's ``look_at`` (camera x = left, y = up, z = forward)."""
    o, t, u = (np.asarray(v, dtype=np.float64) for v in (origin, target, up))
    forward = (t - o) / np.linalg.norm(t - o)
    left = np.cross(u, forward)
    left /= np.linalg.norm(left)
    new_up = np.cross(forward, left)
    to_world = np.eye(4)
    to_world[:3, 0], to_world[:3, 1], to_world[:3, 2], to_world[:3, 3] = left, new_up, forward, o
    return np.linalg.inv(to_world)


def _known(names: list[str], known: Mapping[str, Any]) -> list[str]:
    """``names`` once each in ``known``'s order; ValueError naming any it lacks."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown buffers {unknown}; known: {list(known)}")
    return sorted(set(names), key=list(known).index)


def world_to_camera(camera: Mapping[str, Any]) -> np.ndarray:
    """The 4×4 world-to-camera matrix (Mitsuba's axes) of a recorded camera: a scene camera
    (``origin``, ``target``, ``up``: the dataset manifest's) or a render's (``world_to_camera``:
    the params.json of ``neuralshade render``)."""
    if "world_to_camera" in camera:
        return np.asarray(camera["world_to_camera"], np.float64).reshape(4, 4)
    return view_matrix(camera["origin"], camera["target"], camera["up"])


def camera_space(world: np.ndarray, matrix: np.ndarray, point: bool) -> np.ndarray:
    """(3, H, W) world-space vectors in the camera space of the 4×4 world-to-camera ``matrix``:
    points rotated and moved, directions rotated. A pixel whose vector is 0 (nothing there)
    stays 0."""
    flat = world.reshape(3, -1).astype(np.float64)
    out = matrix[:3, :3] @ flat
    if point:
        out += matrix[:3, 3:]
    out[:, ~flat.any(axis=0)] = 0.0
    return out.reshape(world.shape).astype(np.float32)


def circle_of_confusion(
    position: np.ndarray,
    pose: np.ndarray,
    record: Mapping[str, Any],
    image_size: tuple[int, int],
) -> np.ndarray:
    """(1, h, w) thin-lens circle of confusion diameters in pixels of a view (or a crop of it):
    :func:`neuralshade.baselines.dof.circle_of_confusion` of the depth along the view of its
    world ``position`` (3, h, w), for its world-to-camera ``pose``, its record's camera (fov)
    and ``lens`` (radius, focus distance); sky (nothing hit) is infinitely far. ``image_size``:
    the whole view's (H, W), which with the fov gives the focal length in pixels."""
    import torch

    from neuralshade.baselines.camera import focal_pixels
    from neuralshade.baselines.dof import circle_of_confusion as coc

    lens = record.get("lens")
    if not lens:
        raise ConfigError(
            "coc needs the view's thin lens: a room dataset made with the dof buffer records "
            'one per view; for a render folder, add "lens": {"aperture_radius": R, '
            '"focus_distance": D} (world units) to its params.json'
        )
    camera = record["camera"]
    focal = focal_pixels(camera["fov"], camera.get("fov_axis", "x"), *image_size)
    z = camera_space(position, pose, point=True)[2]  # Mitsuba's axes: z forward; 0: no hit
    z = torch.from_numpy(np.maximum(z, 0.0))[None, None]
    out = coc(z, focus_distance=lens["focus_distance"],
              aperture_radius=lens["aperture_radius"], focal=focal)  # fmt: skip
    return out[0].numpy().astype(np.float32)


def _level_buffers(config: RoomConfig, n: int) -> list[str]:
    """The noisy buffers stored at the lower sample count ``n`` (``spp_levels``)."""
    return [b for b in ("beauty", *config.buffers) if n >= 2 or b not in VARIANCES]


def _seed(*key: int) -> int:
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


@SOURCES.register("room")
class RoomSource(Source):
    name = "room"
    Config = RoomConfig
    description = "PrimitiveRoom scenes → every G-buffer, noisy and converged, several views"
    revision = 2
    changes = {
        2: (
            ("id",),
            "id is each material's CNSR index / 11 (it was the renderer's numbering of the "
            "scene's BSDFs, which shifted with the objects present)",
        ),
    }

    def schema(self, config: RoomConfig) -> dict[str, Buffer]:
        out = dict(SCHEMA)
        if not config.spp_levels:
            return out
        for n in (*config.spp_levels, config.spp):
            for name in _level_buffers(config, n):
                base = SCHEMA[name]
                level = f"{name}_{n}spp"
                if n == config.spp:  # the pass's own level: its buffer under the level's name
                    out[level] = base.model_copy(
                        update={"name": level, "file": None, "needs": (name,),
                                "description": f"{name}, by the name of its level ({n} spp)"}
                    )  # fmt: skip
                else:
                    out[level] = base.model_copy(
                        update={"name": level, "file": f"{level}.exr", "description":
                                f"{base.description}; the noisy pass's first {n} spp"}
                    )  # fmt: skip
                if name in WORLD_VECTORS:  # read from the stored file of the level
                    twin = SCHEMA[f"{name}_camera"]
                    out[f"{level}_camera"] = twin.model_copy(
                        update={"name": f"{level}_camera", "needs": out[level].needs or (level,),
                                "description": f"{twin.description}; the first {n} spp"}
                    )  # fmt: skip
        return out

    def stored(self, config: RoomConfig) -> list[str]:
        levels = [f"{b}_{n}spp" for n in config.spp_levels for b in _level_buffers(config, n)]
        return ["beauty", *config.buffers, *levels,
                *(f"{n}_reference" for n in config.reference_buffers)]  # fmt: skip

    def sample_count(self, config: RoomConfig) -> int:
        return config.count * config.views

    def image_size(self, config: RoomConfig) -> tuple[int, int]:
        return (config.size, config.size)

    # ---- groups, splits and what each scene is made of
    def _groups(self, config: RoomConfig) -> tuple[int, dict[str, list[int]]]:
        """(scenes per group, the groups of each split)."""
        from neuralshade.data.generate import split_indices

        per = config.factor_batch or 1
        return per, split_indices(config.seed, config.count // per, config.split)

    def split(self, config: RoomConfig) -> dict[str, list[int]]:
        per, groups = self._groups(config)
        v = config.views
        return {
            name: [(g * per + m) * v + k for g in gs for m in range(per) for k in range(v)]
            for name, gs in groups.items()
        }

    def factors(self, config: RoomConfig, index: int) -> dict[str, Any]:
        scene, view = divmod(index, config.views)
        # scene: which scene this is; draw: the room whose streams it is drawn from
        base = {"scene": scene, "draw": scene, "view": view, "noise": index}
        base.update({f: 0 for f in ("lighting", "geometry", "material")})
        if not config.factor_batch:
            return base
        per, groups = self._groups(config)
        group, member = divmod(scene, per)
        if group in groups["test"]:  # fully random: every scene its own
            return base
        factor = ("lighting", "geometry", "material")[group % 3]
        return {**base, "draw": group * per, factor: member}  # the group's first room, varied

    def factor_names(self, config: RoomConfig) -> list[str]:
        return ["lighting", "geometry", "material", "view"]

    def vary(self, config: RoomConfig, index: int, factor: str, count: int) -> list[dict]:
        known = self.factor_names(config)
        if factor not in known:
            raise ConfigError(f"room cannot vary {factor!r}; it can vary {known}")
        base = self.factors(config, index)
        if factor == "view" and count > config.views:
            raise ConfigError(f"a scene has {config.views} views, not {count}")
        out = [base]
        k = 0
        while len(out) < count:
            k += 1
            value = (base["view"] + k) % config.views if factor == "view" else base[factor] + k
            out.append({**base, factor: value})
        return out

    def lens(self, config: RoomConfig, index: int) -> dict[str, float]:
        """View ``index``'s thin lens, drawn from its own stream (key 4; the renders' seeds
        are 1 noisy, 2 reference, 3 through the lens): ``aperture_radius`` uniform and
        ``focus_distance`` log-uniform in the config's ranges."""
        rng = np.random.default_rng(_seed(config.seed, index, 4))
        (r0, r1), (d0, d1) = config.aperture_radius, config.focus_distance
        radius = float(rng.uniform(r0, r1))
        focus = float(np.exp(rng.uniform(np.log(d0), np.log(d1))))
        return {"aperture_radius": radius, "focus_distance": focus}

    def record(self, config: RoomConfig, index: int) -> dict[str, Any]:
        """The view's factors, its factor (None: not a varied group) and its camera; with the
        ``dof`` reference buffer, its thin lens too (``lens``)."""
        f = self.factors(config, index)
        scene = self.scene(config, f)
        camera = scene.cameras[f["view"]]
        varied = [n for n in ("lighting", "geometry", "material") if f[n]]
        per, groups = self._groups(config)
        group = (index // config.views) // per
        group_factor = None
        if config.factor_batch and group not in groups["test"]:
            group_factor = ("lighting", "geometry", "material")[group % 3]
        out = {
            **f,
            "group": group,
            "factor": group_factor,
            "redrawn": varied,
            "camera": camera.model_dump(mode="json"),
        }
        if "dof" in config.reference_buffers:
            out["lens"] = self.lens(config, index)
        return out

    def scene(self, config: RoomConfig, factors: Mapping[str, Any]):
        from neuralshade.scenes.model import Film
        from neuralshade.scenes.room import drawn_room

        redraw = {n: factors[n] for n in ("lighting", "geometry", "material")}
        film = Film(width=config.size, height=config.size)
        return drawn_room(config.seed, factors["draw"], config.views, film=film, redraw=redraw)

    # ---- rendering
    def mitsuba_view(
        self,
        config: RoomConfig,
        factors: Mapping[str, Any],
        device: str = "cpu",
        lens: bool = False,
    ) -> tuple[Any, dict[str, Any]]:
        """The view's scene on Mitsuba and the :func:`render_gbuffers` settings the dataset
        renders it with (AO radius, path length, roughness, sensor, hidden lights). ``lens``:
        its camera through the view's thin lens (:meth:`lens`), as the ``dof`` buffer sees it."""
        scene = self.scene(config, factors)
        if lens:
            view = factors["view"]
            cameras = list(scene.cameras)
            thin = factors.get("lens") or self.lens(config, factors["noise"])
            cameras[view] = cameras[view].model_copy(update=thin)
            scene = scene.model_copy(update={"cameras": cameras})
        return self.mitsuba_scene(config, scene, factors["view"], device)

    def mitsuba_scene(
        self, config: RoomConfig, scene: Any, view: int, device: str = "cpu"
    ) -> tuple[Any, dict[str, Any]]:
        """Any room :class:`~neuralshade.scenes.model.Scene` (a mix of two rooms' factors, say)
        on Mitsuba, and the settings the dataset renders its camera ``view`` with: as
        :meth:`mitsuba_view`."""
        from neuralshade.render.mitsuba.scene_dict import to_mitsuba
        from neuralshade.scenes.model import surface_ids, surface_table

        variant = "cuda_ad_rgb" if str(device).startswith("cuda") else "llvm_ad_rgb"
        table = surface_table(scene)
        roughness = dict(zip(table.shape_ids, table.roughness.tolist(), strict=True))
        common = {"ao_radius": config.ao_radius, "max_depth": config.max_depth,
                  "roughness": roughness, "sensor": view,
                  "hide_emitters": scene.lights_hidden, "ids": surface_ids(table)}  # fmt: skip
        return to_mitsuba(scene, variant=variant), common

    def beauty_race(
        self,
        config: RoomConfig,
        record: Callable[[int], Mapping[str, Any]],
        truth: Callable[[int], np.ndarray],
        usual: int | None = None,
    ) -> Any:
        """Mitsuba 3's plain render of views at n samples per pixel, for time to equal
        quality (a :class:`~neuralshade.task.Race`): view i is the one ``record(i)`` records,
        ``truth(i)`` its converged beauty (H, W, 3); None where Mitsuba cannot load."""
        import functools
        import time

        from neuralshade.errors import NeuralShadeError
        from neuralshade.render.mitsuba.gbuffer import render_gbuffers
        from neuralshade.render.mitsuba_scene import load_mitsuba
        from neuralshade.task import Race, Renderer

        try:
            load_mitsuba()
        except NeuralShadeError:
            return None

        @functools.cache
        def prepared(i: int):  # the Mitsuba scene, once per view, not timed
            return self.mitsuba_view(config, record(i))

        def mitsuba(i: int, n: int):
            scene, common = prepared(i)
            start = time.perf_counter()
            out = render_gbuffers(scene, spp=n, seed=n, buffers=["beauty"], **common)["beauty"]
            return out, time.perf_counter() - start

        def notes() -> dict[str, Any]:
            mi = load_mitsuba()
            return {"variant": mi.variant(), "version": mi.__version__, "buffer": "beauty"}

        reference = {"renderer": "mitsuba", "buffer": "beauty", "samples": config.reference_spp}
        return Race(truth, {"mitsuba": Renderer(mitsuba, usual=usual, notes=notes)}, reference)

    def render(
        self, config: RoomConfig, factors: Mapping[str, Any], device: str
    ) -> dict[str, np.ndarray]:
        from neuralshade.render.mitsuba.gbuffer import render_gbuffer_levels, render_gbuffers

        mitsuba_scene, common = self.mitsuba_view(config, factors, device)
        noise = factors["noise"]
        levels = render_gbuffer_levels(
            mitsuba_scene, levels=[*config.spp_levels, config.spp],
            seed=_seed(config.seed, noise, 1), buffers=["beauty", *config.buffers], **common,
        )  # fmt: skip
        out = dict(levels[config.spp])
        for n in config.spp_levels:
            out.update({f"{b}_{n}spp": levels[n][b] for b in _level_buffers(config, n)})
        pinhole = [n for n in config.reference_buffers if n != "dof"]
        if pinhole:
            clean = render_gbuffers(
                mitsuba_scene, spp=config.reference_spp, seed=_seed(config.seed, noise, 2),
                buffers=pinhole, **common,
            )  # fmt: skip
            out.update({f"{n}_reference": v for n, v in clean.items()})
        if "dof" in config.reference_buffers:  # the same view through its thin lens
            thin, common = self.mitsuba_view(config, factors, device, lens=True)
            out["dof_reference"] = render_gbuffers(
                thin, spp=config.reference_spp, seed=_seed(config.seed, noise, 3),
                buffers=["beauty"], **common,
            )["beauty"]  # fmt: skip
        return out

    # ---- reading
    def derive(
        self,
        config: RoomConfig,
        name: str,
        record: Mapping[str, Any],
        size: tuple[int, int],
        read: Callable[[str], np.ndarray],
    ) -> np.ndarray:
        own = f"_{config.spp}spp"  # the pass's own level, read under its level's name
        if name.endswith(own):
            return read(name.removesuffix(own))
        pose = world_to_camera(record["camera"])
        if name == "coc":  # the focal length in pixels is the whole view's, not a crop's
            whole = record.get("size")  # a render folder's params.json: [W, H]
            whole = (whole[1], whole[0]) if whole else (config.size, config.size)
            return circle_of_confusion(read("position"), pose, record, whole)
        if name == "pose":
            values = pose.astype(np.float32).reshape(16)
            return np.broadcast_to(values[:, None, None], (16, *size))
        world = name.removesuffix("_camera")
        kind = re.sub(r"_\d+spp$", "", world)  # a level's twin: normal_4spp → normal
        assert name.endswith("_camera") and kind in WORLD_VECTORS, name
        stored = kind if world.endswith(own) else world
        return camera_space(read(stored), _TO_OPENGL @ pose, point=WORLD_VECTORS[kind])

    def symmetries(
        self, config: RoomConfig, records: Sequence[Mapping[str, Any]], names: Sequence[str]
    ) -> tuple[Symmetry, ...]:
        return (D4[0], next(s for s in D4 if s.name == "mirror90"))

    def toy_config(self) -> RoomConfig:
        return self.load_config(
            {"count": 3, "views": 5, "size": 16, "seed": 1, "spp": 2, "reference_spp": 8,
             "split": {"train": 1 / 3, "val": 1 / 3, "test": 1 / 3}, "factor_batch": 1}
        )  # fmt: skip
