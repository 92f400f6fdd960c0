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

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from neuralshade.config import build
from neuralshade.errors import CheckpointError, ConfigError
from neuralshade.render.params import RenderParams
from neuralshade.task import TASKS, ImageTask


def render_settings(info: Mapping[str, Any]) -> RenderParams:
    """The render settings a checkpoint's sidecar recorded from its dataset."""
    try:
        return build(RenderParams, info["render"], "render settings")
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(f"its sidecar has no usable render settings: {exc}") from None


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
        return {"render": data_config.render.model_dump(mode="json")}

    def context(self, model: nn.Module, info: Mapping[str, Any]) -> int:
        """The smaller of the receptive radius and 1.25 × the renderer's reach (the farthest a
        shape changes the image, :meth:`RenderParams.reach`): a network that sees farther
        than that has nothing more to learn there. For ResConv that is its radius, for
        ShadeUNet, which sees hundreds of pixels, the renderer's reach."""
        radius = model.receptive_field // 2
        if info.get("render") is None:
            return radius
        return min(radius, math.ceil(1.25 * render_settings(info).reach()))

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
