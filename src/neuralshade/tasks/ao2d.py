"""ao2d: a white-on-black mask → the shaded image of its extruded shapes (AO, shadow, Phong).

Source ``ao2d`` (:mod:`neuralshade.data.sources.ao2d`); input ``source`` (the mask), target
``target`` (the sRGB beauty render). One network, ``net`` (ResConv by default, ShadeUNet in the
bundled model). Baselines, run on the same images: ``taps``, the renderer's own shader
approximation of AO (a handful of screen-space taps, the classic real-time shortcut), and
``resconv``, the bundled ResConv of the post this task follows. The renderer it races is the
reference renderer itself and Mitsuba 3, by the number of AO rays at which each reaches the
network's error (:mod:`neuralshade.render.ladder`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from neuralshade.config import build
from neuralshade.data.sources.ao2d import LIGHT_INPUT
from neuralshade.errors import CheckpointError, ConfigError, NeuralShadeError
from neuralshade.render.params import RenderParams
from neuralshade.task import TASKS, ImageTask, Race, Renderer

MITSUBA_USUAL = 256  # the AO rays per pixel of the speed-ups quoted before equal quality
REFERENCE_SEED = 1 << 30


def rung_seed(index: int, samples: int) -> int:
    """A seed of its own for every (image, sample count): independent noise across rungs."""
    return (samples << 8) + index


def render_settings(info: Mapping[str, Any]) -> RenderParams:
    """The render settings a checkpoint's sidecar recorded from its dataset."""
    try:
        return build(RenderParams, info["render"], "render settings")
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(f"its sidecar has no usable render settings: {exc}") from None


CONDITIONS = ("light", "shape_height")
"""The derived per-image inputs that tell a network the scene (the ao2d source's)."""


def is_conditioned(info: Mapping[str, Any]) -> bool:
    """True for a checkpoint whose network takes the light or the shape height as inputs."""
    return any(name in CONDITIONS for name in info.get("inputs", ()))


def longest_reach(info: Mapping[str, Any]) -> float:
    """The renderer's reach (:meth:`RenderParams.reach`) for a checkpoint's render settings,
    the longest over every corner of the ranges its data varied (``vary`` in its sidecar)."""
    base = render_settings(info)
    ranges = [(k, v) for k, v in (info.get("vary") or {}).items() if k in REACH_KEYS]
    reach = base.reach()
    for corner in itertools.product(*(bounds for _, bounds in ranges)):
        update = {k: value for (k, _), value in zip(ranges, corner, strict=True)}
        reach = max(reach, base.model_copy(update=update).reach())
    return reach


REACH_KEYS = ("height", "ao_radius", "light_elevation", "softness")
"""The render settings a shape's reach depends on."""


@TASKS.register("ao2d")
class Ao2dTask(ImageTask):
    name = "ao2d"
    source = "ao2d"
    description = "mask → shaded image (AO, soft shadow, Phong) of its extruded shapes"
    inputs = ("source",)
    targets = ("target",)
    default_models = {"net": {"name": "resconv", "args": {}}}
    baselines = ("taps", "resconv")

    def checkpoint_meta(self, data_config: Any) -> dict[str, Any]:
        """The render settings, the ranges of the parameters that varied per sample (a
        light-conditioned network is valid inside them) and the meaning of the ``light`` input
        (:data:`~neuralshade.data.sources.ao2d.LIGHT_INPUT`)."""
        return {
            "render": data_config.render.model_dump(mode="json"),
            "vary": {k: list(v) for k, v in data_config.vary.items()},
            "light_input": LIGHT_INPUT,
        }

    def check_checkpoint(self, info: Mapping[str, Any]) -> None:
        """A network told the light must have learned it as this release gives it (the unit
        vector, :data:`~neuralshade.data.sources.ao2d.LIGHT_INPUT`): one trained before
        learned (cos a, sin a, sin e) and would read the vector as another light."""
        if "light" in info.get("inputs", ()) and info.get("light_input") != LIGHT_INPUT:
            raise CheckpointError(
                "this network was told the light as (cos a, sin a, sin e), the input of an "
                "earlier release; this one gives the unit vector towards the light (cos e cos "
                "a, cos e sin a, sin e): train it again (neuralshade train "
                "ao2d-unet-light-cpu), or use the bundled ao2d-unet-light-cpu"
            )

    def context(self, model: nn.Module, info: Mapping[str, Any]) -> int:
        """The smaller of the receptive radius and 1.25 × the renderer's reach (the farthest a
        shape changes the image, :meth:`RenderParams.reach`; the longest over the parameters'
        ranges where they varied): a network that sees farther than that has nothing more to
        learn there. For ResConv that is its radius, for ShadeUNet, which sees hundreds of
        pixels, the renderer's reach."""
        radius = model.receptive_field // 2
        if info.get("render") is None:
            return radius
        return min(radius, math.ceil(1.25 * longest_reach(info)))

    def baselines_for(self, info: Mapping[str, Any]) -> tuple[str, ...]:
        """Without ``resconv`` for a light-conditioned network: the bundled ResConv knows one
        light only."""
        if is_conditioned(info):
            return tuple(b for b in self.baselines if b != "resconv")
        return self.baselines

    def race(self, data: Any, info: Mapping[str, Any], device: Any) -> Race | None:
        """Our renderer and Mitsuba 3 (its AO and hard shadow traced, our shading) at n AO rays
        per pixel, against our renderer at 4096 (:mod:`neuralshade.render.ladder` says why
        that truth). None for the ``taps`` shader approximation, which does not sample."""
        from neuralshade.data.sources.ao2d import render_params
        from neuralshade.render import ladder

        if data.config.render.resolved_ao_mode() == "taps":
            return None

        @functools.cache
        def scene(i: int):  # read once, only for the images raced
            return data[i]["source"][0].numpy(), render_params(data.config, data.record(i))

        def truth(i: int):
            return ladder.render_reference(*scene(i), seed=REFERENCE_SEED + i)

        def ours(i: int, n: int):
            return ladder.render_ours(*scene(i), n, seed=rung_seed(i, n))

        renderers = {"ours": Renderer(ours, usual=data.config.render.ao_samples)}
        try:
            ladder.mitsuba_scene.load_mitsuba()
        except NeuralShadeError:  # no Mitsuba here: race our renderer alone
            reference = {"renderer": "ours", "ao_samples": ladder.REFERENCE_SAMPLES}
            return Race(truth, renderers, reference)
        prepared: dict[int, Any] = {}

        def mitsuba(i: int, n: int):
            if i not in prepared:  # the mesh and BVH, once per image, timed apart
                prepared[i] = ladder.prepare_mitsuba(*scene(i))
            return ladder.render_mitsuba(prepared[i], n, seed=rung_seed(i, n))

        def notes() -> dict[str, Any]:
            mi = ladder.mitsuba_scene.load_mitsuba()
            done = list(prepared.values())
            return {
                "variant": mi.variant(),
                "version": mi.__version__,
                "mesh_voxel": ladder.MESH_VOXEL,
                "triangles": [p.triangles for p in done],
                "build_seconds": [p.build_seconds for p in done],
                "our_buffers_seconds": [p.our_buffers_seconds for p in done],
                "jit_seconds": [p.jit_seconds for p in done],
                "shadow": "ours (soft)" if data.config.render.softness > 0 else "traced (hard)",
            }

        renderers["mitsuba"] = Renderer(mitsuba, usual=MITSUBA_USUAL, notes=notes)
        reference = {
            "renderer": "ours",
            "ao_mode": data.config.render.resolved_ao_mode(),
            "ao_samples": ladder.REFERENCE_SAMPLES,
        }
        return Race(truth, renderers, reference)

    def baseline(self, name: str, data: Any, i: int, info: Mapping[str, Any]) -> Tensor:
        batch = data[i]
        mask = batch["source"][0].numpy()
        if name == "taps":
            from neuralshade.data.sources.ao2d import render_params
            from neuralshade.render.heightfield import render

            params = render_params(data.config, data.record(i)).model_copy(
                update={"ao_mode": "taps"}
            )
            return render(mask, params).beauty[None].float().cpu()  # (1, 3, H, W)
        if name == "resconv":
            from neuralshade.shading import load_model, shade_mask

            model, _ = load_model("ao2d-resconv-cpu", "cpu")
            return torch.from_numpy(shade_mask(model, mask)).permute(2, 0, 1)[None]
        return super().baseline(name, data, i, info)
