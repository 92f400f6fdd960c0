"""deep-shading: a G-buffer → screen-space effects (ambient occlusion, indirect light, depth of
field), as Deep Shading (Nalbach et al. 2017) learns them, against the classic real-time methods.

Source ``room`` (:mod:`neuralshade.data.sources.room`). The defaults are Deep Shading's for
AO: the camera-space position and normal (``position_camera``, ``normal_camera``: OpenGL's
camera axes, derived from the stored world-space buffers and the view's pose) in, the
converged ray-traced AO (``ao_reference``: ``reference_spp`` cosine-weighted rays of
``ao_radius`` per pixel) out. Any buffers of the room's schema may be chosen instead
(``inputs``/``targets`` of the training config): indirect light, for one, from the G-buffer,
the albedo and the direct light (``configs/deepshade-gi-cpu.yaml``), or depth of field, the
view through its thin lens (``dof_reference``) from the pinhole render, its circle of
confusion and depth (``configs/deepshade-dof-cpu.yaml``). Radiance inputs are read as log1p
(the networks' ``log_inputs``).

Baselines, on the same images: for AO, SSAO, HBAO and GTAO (:mod:`neuralshade.baselines`) on
the same position and normal, with their radius set to the dataset's ``ao_radius``; for depth
of field, the real-time scatter-as-gather blur of the pinhole render
(:mod:`neuralshade.baselines.dof`). The renderer raced is Mitsuba 3 through the one-pass
G-buffer integrator: the target buffer at n samples per pixel (for AO, n rays; for depth of
field, the beauty through the view's thin lens), against the converged target the dataset
holds.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from neuralshade.data.datasets import with_buffers
from neuralshade.errors import ConfigError
from neuralshade.task import TASKS, ImageTask, Race, Renderer

# OpenGL's camera axes (the room's *_camera buffers) → Mitsuba's (x left, z forward), which
# the screen-space baselines take
_TO_MITSUBA = torch.tensor([-1.0, 1.0, -1.0]).view(1, 3, 1, 1)
AO_TARGETS = ("ao_reference", "ao")
INDIRECT_TARGET = "indirect_reference"  # light of two bounces or more: none off the scene
DOF_TARGET = "dof_reference"  # the view through its thin lens (the room's dof buffer)
DOF_BASELINE = {"samples": 48}  # scatter-as-gather, baselines/dof.py
#: the room's radiance buffers: as inputs, the network reads them as log1p (HDR: a
#: highlight of the direct light reaches 30 where most of the image is below 1)
LIGHT_BUFFERS = ("beauty", "direct", "indirect", "diffuse", "specular")
MITSUBA_USUAL = 256  # AO rays per pixel a production path tracer's AO pass might use
# the sample counts of the baselines, as their docstrings define them
BASELINE_SETTINGS = {
    "ssao": {"samples": 16},
    "hbao": {"directions": 8, "steps": 6},
    "gtao": {"slices": 4, "steps": 8},
}


@TASKS.register("deep-shading")
class DeepShadingTask(ImageTask):
    name = "deep-shading"
    source = "room"
    description = (
        "G-buffer → AO, indirect light, depth of field (Deep Shading), against SSAO, HBAO, "
        "GTAO and a real-time DoF"
    )
    inputs = ("position_camera", "normal_camera")
    targets = ("ao_reference",)
    default_models = {"net": {"name": "deepshading", "args": {}}}
    metrics = ("ssim", "dssim", "l1", "psnr")
    baselines = ("ssao", "hbao", "gtao", "gather")

    def check(self, config: Any) -> None:
        if any(t in AO_TARGETS for t in config.targets) and len(config.targets) > 1:
            raise ConfigError(
                f"targets {config.targets}: AO is learned alone (its baselines and its race "
                "are AO's); train other effects in a run of their own"
            )

    def model_args(self, network: str, config: Any, channels: Callable[[list[str]], int]) -> dict:
        """In and out channels, and the light among the inputs read in log space (log1p:
        ``log_inputs``), as the loss of a light target compares it."""
        from neuralshade.models import arguments

        args = super().model_args(network, config, channels)
        spec = config.models.get(network)
        takes = spec is None or "log_inputs" in arguments(spec.name)  # not ResConv, say
        start, logged = 0, []
        for name in config.inputs:
            c = channels([name])
            if name.removesuffix("_reference") in LIGHT_BUFFERS:
                logged.extend(range(start, start + c))
            start += c
        return {**args, "log_inputs": logged} if logged and takes else args

    def displayed(self, image: Tensor, info: Mapping[str, Any]) -> Tensor:
        """AO as it is; light (HDR) tone-mapped, x / (1 + x): SSIM and PSNR then see the
        image's range the way a viewer does, not highlights far above 1."""
        return _display(image, info)

    def rescales(self, info: Mapping[str, Any]) -> bool:
        """A depth-of-field model reads the circle of confusion in the view's own pixels: it
        runs on them. AO and light span a fixed world distance: resampled to the training
        scale."""
        return "coc" not in info["inputs"]

    def checkpoint_meta(self, data_config: Any) -> dict[str, Any]:
        from neuralshade.baselines.camera import focal_pixels
        from neuralshade.scenes.room import FOV

        size = data_config.size
        return {
            "ao_radius": data_config.ao_radius,
            "max_depth": data_config.max_depth,
            # the pixel scale the network learned: inference resamples a finer view to it
            "focal_pixels": focal_pixels(FOV, "x", size, size),
        }

    def baselines_for(self, info: Mapping[str, Any]) -> tuple[str, ...]:
        """SSAO, HBAO and GTAO approximate AO: the baselines of an AO target; the real-time
        scatter-as-gather blur (``gather``) is depth of field's."""
        if _is_ao(info):
            return ("ssao", "hbao", "gtao")
        return ("gather",) if list(info["targets"]) == [DOF_TARGET] else ()

    def predict(self, nets, batch, info: Mapping[str, Any]) -> Tensor:
        return self.finish(super().predict(nets, batch, info), batch, info)

    def finish(self, prediction: Tensor, batch, info: Mapping[str, Any]) -> Tensor:
        # where every camera sample missed the scene (sky: position and normal are zero) AO is 1
        # and indirect light 0 (no surface, no bounce) by the renderer's definitions, not
        # something to guess: the room has no sky to learn them from
        missed = background(batch, info)
        if _is_ao(info):  # a fraction
            pred = prediction.clamp(0, 1)
            return pred if missed is None else pred.masked_fill(missed, 1.0)
        pred = prediction.clamp_min(0)  # light is never negative
        if missed is None or list(info["targets"]) != [INDIRECT_TARGET]:
            return pred
        return pred.masked_fill(missed, 0.0)

    def panels(self, batch, prediction: Tensor, info: Mapping[str, Any]):
        shown = []  # the first normal, albedo or light input, in display range
        first = next(
            (n for n in info["inputs"] if n.startswith(("normal", "albedo", *LIGHT_BUFFERS))), None
        )
        if first is not None:
            image = batch[first][:, :3]
            if first.startswith("normal"):
                image = image * 0.5 + 0.5
            elif not first.startswith("albedo"):
                image = image / (1 + image)
            shown = [(first, image)]
        return [
            *shown,
            ("network", _display(prediction, info)),
            ("reference", _display(self.target(batch, info), info)),
        ]

    # ---- baselines and the renderer
    def baseline(self, name: str, data: Any, i: int, info: Mapping[str, Any]) -> Tensor:
        from neuralshade.baselines import SCREEN_SPACE_AO

        if name == "gather" and name in self.baselines_for(info):
            return depth_of_field(with_buffers(data, DOF_INPUTS)[i])
        if name not in SCREEN_SPACE_AO or not _is_ao(info):
            return super().baseline(name, data, i, info)
        batch = with_buffers(data, ("position_camera", "normal_camera"))[i]
        camera = data.record(i)["camera"]
        return screen_space_ao(
            name,
            batch["position_camera"][None],
            batch["normal_camera"][None],
            (camera["fov"], camera.get("fov_axis", "x")),
            data.config.ao_radius,
        )

    def race(self, data: Any, info: Mapping[str, Any], device: Any) -> Race | None:
        """Mitsuba 3 renders the target at n samples per pixel (AO: n rays, one per sample,
        as the dataset's reference does) against the dataset's converged target."""
        from neuralshade.errors import NeuralShadeError
        from neuralshade.render.mitsuba_scene import load_mitsuba

        target = info["targets"][0]
        if len(info["targets"]) != 1 or not target.endswith("_reference"):
            return None
        try:
            load_mitsuba()
        except NeuralShadeError:
            return None
        buffer = target.removesuffix("_reference")
        lens = buffer == "dof"  # depth of field: the beauty through the view's thin lens

        @functools.cache
        def prepared(i: int):  # the Mitsuba scene, once per image, not timed
            return data.source.mitsuba_view(data.config, data.record(i), lens=lens)

        def truth(i: int):
            return data[i][target].permute(1, 2, 0).numpy()

        def mitsuba(i: int, n: int):
            from neuralshade.render.mitsuba.gbuffer import render_gbuffers

            scene, common = prepared(i)
            rendered = "beauty" if lens else buffer
            start = time.perf_counter()
            out = render_gbuffers(scene, spp=n, seed=n, buffers=[rendered], **common)[rendered]
            return out, time.perf_counter() - start

        def notes() -> dict[str, Any]:
            mi = load_mitsuba()
            return {"variant": mi.variant(), "version": mi.__version__, "buffer": buffer}

        usual = MITSUBA_USUAL if buffer == "ao" else None
        reference = {
            "renderer": "mitsuba",
            "buffer": buffer,
            "samples": data.config.reference_spp,
        }
        return Race(truth, {"mitsuba": Renderer(mitsuba, usual=usual, notes=notes)}, reference)


def screen_space_ao(
    name: str,
    position: Tensor,
    normal: Tensor,
    fov: tuple[float, str],
    radius: float,
    method: Callable[..., Tensor] | None = None,
) -> Tensor:
    """Baseline ``name`` (SSAO, HBAO or GTAO at its BASELINE_SETTINGS) on a view's OpenGL
    camera-space ``position`` and ``normal`` (N, 3, H, W): (N, 1, H, W) AO.

    fov: (Mitsuba's fov in degrees, its axis). radius: the AO radius, world units. method: the
    function to call instead of the registered one (the same method compiled, say).
    """
    from neuralshade.baselines import SCREEN_SPACE_AO
    from neuralshade.baselines.camera import focal_pixels

    h, w = position.shape[-2:]
    return (method or SCREEN_SPACE_AO[name])(
        position * _TO_MITSUBA,
        normal * _TO_MITSUBA,
        focal=focal_pixels(*fov, h, w),
        radius=radius,
        **BASELINE_SETTINGS[name],
    )


DOF_INPUTS = ("beauty_reference", "coc", "position_camera")


def depth_of_field(view: Mapping[str, Tensor]) -> Tensor:
    """The real-time scatter-as-gather depth of field (:func:`neuralshade.baselines.dof.
    gather_dof`, DOF_BASELINE's taps) of one view's pinhole beauty, circle of confusion and
    camera-space position (C, H, W) each: (1, 3, H, W)."""
    from neuralshade.baselines.dof import gather_dof

    z = -view["position_camera"][None, 2:3]  # OpenGL: in front is z < 0; nothing hit: 0
    return gather_dof(view["beauty_reference"][None], view["coc"][None], z, **DOF_BASELINE)


def background(batch, info: Mapping[str, Any]) -> Tensor | None:
    """(B, 1, H, W) True where a normal input is zero (no sample hit anything); None when no
    input is a normal."""
    normal = next((n for n in info["inputs"] if n.startswith("normal")), None)
    if normal is None:
        return None
    return (batch[normal] == 0).all(dim=1, keepdim=True)


def _is_ao(info: Mapping[str, Any]) -> bool:
    return list(info["targets"]) in ([t] for t in AO_TARGETS)


def _display(image: Tensor, info: Mapping[str, Any]) -> Tensor:
    """AO as it is; light through a simple tone map (Reinhard) for a sheet."""
    return image if _is_ao(info) else image / (1 + image)
