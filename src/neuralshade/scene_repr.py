"""A trained CNSR model from Python: a scene's representation, any view shaded from it, two
scenes composed, and where the network looks (the cnsr task's networks; its benchmark and the
viewer run these).

A **batch** is the cnsr task's flat dict (:mod:`neuralshade.tasks.cnsr`): ``observed/<buffer>``
(B, K, C, H, W), ``observed_pose`` (B, K, 16), ``query/<buffer>`` (B, C, H, W), ``query_pose``
(B, 16). ``info`` is the checkpoint's sidecar (its inputs, targets and config's options).

    >>> from neuralshade import checkpoint, scene_repr
    >>> model, info = checkpoint.load("cnsr.safetensors")  # doctest: +SKIP
    >>> rep = scene_repr.representation(model, batch, info)  # doctest: +SKIP
    >>> image = scene_repr.shade(model, batch, rep, info)    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralshade.tasks.cnsr import FACTORS, cnsr_options, observations, queries

SCENE_FIELDS = {"lighting": "lights", "geometry": "shapes", "material": "materials"}
"""Which field of a room :class:`~neuralshade.scenes.model.Scene` holds each factor."""


def representation(model, batch: Mapping[str, Tensor], info: Mapping[str, Any]) -> Tensor:
    """The scenes' representations (B, r, h, w) from their observed views (no factor rule)."""
    opts = cnsr_options(info["config"]["options"])
    b, k = batch["observed_pose"].shape[:2]
    views = model.encoder(observations(batch, opts.observation_passes).flatten(0, 1),
                          batch["observed_pose"].flatten(0, 1))  # fmt: skip
    return model.partition(views.unflatten(0, (b, k)))[0]


def shade(
    model, batch: Mapping[str, Tensor], rep: Tensor, info: Mapping[str, Any],
    pose: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """The query views' radiance (B, 3, H, W), linear, from the batch's query buffers, the
    query pose (``pose``, default the batch's) and representations ``rep`` (a chain of
    generators: its last link's)."""
    pose = batch["query_pose"] if pose is None else pose
    if model.generator is None:
        buffers = {n: batch[f"query/{n}"] for n in info["inputs"]}
        last = model.run_chain(buffers, pose, rep)[0][-1]
        return last if model.links[-1]["name"] == "sum" else torch.expm1(last).clamp(min=0)
    out = model.generator(queries(batch, info["inputs"]), pose, rep)
    out = out[0] if isinstance(out, tuple) else out
    return torch.expm1(out).clamp(min=0)


def predict(model, batch: Mapping[str, Tensor], info: Mapping[str, Any]) -> Tensor:
    """The query views shaded from their scenes' observed views (encoder, partition,
    generator): (B, 3, H, W) linear radiance."""
    return shade(model, batch, representation(model, batch, info), info)


def mixed(a, b, factor: str):
    """Room scene ``a`` with factor ``factor`` (its lights, shapes or materials) from ``b``:
    the scene a composed representation describes, for a renderer to draw."""
    if factor not in SCENE_FIELDS:
        raise ValueError(f"factor must be one of {', '.join(FACTORS)}, got {factor!r}")
    key = SCENE_FIELDS[factor]
    return a.model_copy(update={key: getattr(b, key)})


def render_view(
    source, config, scene, view: int, buffers: Sequence[str], seed: int,
    reference: bool = True,
) -> dict[str, Tensor]:  # fmt: skip
    """Buffers of camera ``view`` of any room ``scene`` as a room dataset of ``config``
    renders them (``source``: the room source): ``buffers`` from the noisy pass (spp), and with
    ``reference`` the converged beauty (reference_spp); (1, C, H, W) tensors named as a
    batch's query buffers (``query/<name>``, ``query/beauty_reference``)."""
    from neuralshade.render.mitsuba.gbuffer import render_gbuffers

    mi_scene, common = source.mitsuba_scene(config, scene, view)
    noisy = render_gbuffers(mi_scene, spp=config.spp, seed=seed, buffers=list(buffers), **common)
    out = {f"query/{n}": _chw(noisy[n]) for n in buffers}
    if reference:
        clean = render_gbuffers(mi_scene, spp=config.reference_spp, seed=seed + 1,
                                buffers=["beauty"], **common)  # fmt: skip
        out["query/beauty_reference"] = _chw(clean["beauty"])
    return out


def _chw(a: np.ndarray) -> Tensor:
    a = a if a.ndim == 3 else a[..., None]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()


def partition_attributions(model, batch: Mapping[str, Tensor], info: Mapping[str, Any]):
    """Where each partition shapes the predicted view: |∂y_p/∂r · r| summed over the
    partition's dimensions (weighted by its mask) and the colours, per pixel p (gradient ×
    input, y in log1p); (B, 3, H, W), lighting, geometry, material. One generator only."""
    if model.generator is None:
        raise ValueError("attributions need a single generator, not a chain")
    with torch.no_grad():
        rep = representation(model, batch, info)
    query, pose = queries(batch, info["inputs"]), batch["query_pose"]
    inside = (1 - torch.stack([model.partition.outside(f) for f in range(3)])).clamp(0, 1)
    maps = []
    for i in range(rep.shape[0]):  # one scene at a time: the Jacobian of its view

        def image(r: Tensor, i: int = i) -> Tensor:
            out = model.generator(query[i : i + 1], pose[i : i + 1], r)
            return (out[0] if isinstance(out, tuple) else out).sum(dim=1)[0]  # (H, W)

        jac = torch.autograd.functional.jacobian(image, rep[i : i + 1], vectorize=True)
        contrib = (jac.flatten(2) * rep[i].flatten()).abs()  # (H, W, r·h·w)
        contrib = contrib.unflatten(2, (rep.shape[1], -1)).sum(-1)  # (H, W, r)
        maps.append(torch.einsum("hwr,fr->fhw", contrib, inside))
    return torch.stack(maps)


def buffer_attributions(
    model, batch: Mapping[str, Tensor], info: Mapping[str, Any],
    patch: tuple[int, int, int, int],
) -> dict[str, Tensor]:  # fmt: skip
    """Where the input buffers shape a patch (top, left, height, width) of the predicted view:
    |∂(patch sum)/∂x · x| summed over each buffer's channels (gradient × input), per pixel:
    ``query <buffer>`` (B, H, W) on the query view, ``observed <buffer>`` (B, K, H, W) on
    each observed view. One generator only."""
    if model.generator is None:
        raise ValueError("attributions need a single generator, not a chain")
    opts = cnsr_options(info["config"]["options"])
    obs = observations(batch, opts.observation_passes).detach().clone().requires_grad_(True)
    query = queries(batch, info["inputs"]).detach().clone().requires_grad_(True)
    opose = batch["observed_pose"]
    b, k = opose.shape[:2]
    views = model.encoder(obs.flatten(0, 1), opose.flatten(0, 1))
    rep = model.partition(views.unflatten(0, (b, k)))[0]
    out = model.generator(query, batch["query_pose"], rep)
    out = out[0] if isinstance(out, tuple) else out
    top, left, h, w = patch
    out[..., top : top + h, left : left + w].sum().backward()
    maps, c = {}, 0
    for name in info["inputs"]:
        width = batch[f"query/{name}"].shape[1]
        maps[f"query {name}"] = (query.grad * query)[:, c : c + width].abs().sum(1).detach()
        c += width
    c = 0
    for name in opts.observation_passes:
        width = batch[f"observed/{name}"].shape[2]
        maps[f"observed {name}"] = (obs.grad * obs)[:, :, c : c + width].abs().sum(2).detach()
        c += width
    return maps
