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

DEFAULT_MODEL = "cnsr-cpu"
"""The bundled scene model the viewer runs by default."""
TASK = "cnsr"
SCENE_FIELDS = {"lighting": "lights", "geometry": "shapes", "material": "materials"}
"""Which field of a room :class:`~neuralshade.scenes.model.Scene` holds each factor."""


def load(name_or_path: str = DEFAULT_MODEL, device: str = "cpu"):
    """A scene model (a bundled model's name or a checkpoint of the task ``cnsr``) and its
    sidecar, in eval mode on ``device``."""
    from neuralshade import checkpoint
    from neuralshade.infer import model_path

    return checkpoint.load(str(model_path(name_or_path)), device, task=TASK)


def representation(model, batch: Mapping[str, Tensor], info: Mapping[str, Any]) -> Tensor:
    """The scenes' representations (B, r, h, w) from their observed views (no factor rule)."""
    opts = cnsr_options(info["config"]["options"])
    b, k = batch["observed_pose"].shape[:2]
    views = model.encoder(observations(batch, opts).flatten(0, 1),
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
    reference_spp: int | None = None,
) -> dict[str, Tensor]:  # fmt: skip
    """Buffers of camera ``view`` of any room ``scene`` as a room dataset of ``config``
    renders them (``source``: the room source): ``buffers`` from the noisy pass (spp), and the
    beauty at ``reference_spp`` (None: the dataset's converged reference_spp; 0: none);
    (1, C, H, W) tensors named as a batch's query buffers (``query/<name>``,
    ``query/beauty_reference``)."""
    from neuralshade.render.mitsuba.gbuffer import render_gbuffers

    mi_scene, common = source.mitsuba_scene(config, scene, view)
    noisy = render_gbuffers(mi_scene, spp=config.spp, seed=seed, buffers=list(buffers), **common)
    out = {f"query/{n}": _chw(noisy[n]) for n in buffers}
    reference_spp = config.reference_spp if reference_spp is None else reference_spp
    if reference_spp > 0:
        clean = render_gbuffers(mi_scene, spp=reference_spp, seed=seed + 1, buffers=["beauty"],
                                **common)  # fmt: skip
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
    with torch.no_grad():
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
    obs = observations(batch, opts).detach().clone().requires_grad_(True)
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


# ---- the viewer: random rooms, observed and shaded on demand --------------------------------

ORBIT = {"azimuth": (0.0, 360.0), "distance": (1.5, 3.0), "height": (1.0, 2.0)}
"""The query camera's orbit parameters and their ranges (the room's cameras': 1.5–3 from the
centre at height 1–2); it looks at ``ORBIT_TARGET``."""
ORBIT_TARGET = (0.5, 1.0, 0.5)


def room_config(info: Mapping[str, Any]):
    """The room dataset settings a checkpoint was trained on, as far as its sidecar records
    them (``room``: spp, max_depth, ao_radius; ``image_size``), else the room's defaults."""
    from neuralshade.data.sources import get_source

    values = {**dict(info.get("room") or {}), "size": int(info.get("image_size") or 64)}
    return get_source("room").load_config(values)


def orbit_camera(azimuth: float, distance: float, height: float):
    """A room camera on the orbit (degrees about the vertical, units from the centre, height),
    looking at ``ORBIT_TARGET`` with the room's field of view."""
    import math

    from neuralshade.scenes.model import Camera
    from neuralshade.scenes.room import FOV

    for key, value in (("azimuth", azimuth), ("distance", distance), ("height", height)):
        lo, hi = ORBIT[key]
        if not (lo <= value <= hi) or not math.isfinite(value):
            raise ValueError(f"{key} must be in [{lo:g}, {hi:g}], got {value}")
    a = math.radians(azimuth)
    origin = (distance * math.sin(a), height, distance * math.cos(a))
    return Camera(origin=origin, target=ORBIT_TARGET, fov=FOV, near=0.01, far=100.0)


def random_room(seed: int, index: int, views: int, size: int):
    """Room ``index`` of ``seed`` (the room source's draw) with ``views`` of its cameras."""
    from neuralshade.scenes.model import Film
    from neuralshade.scenes.room import drawn_room

    return drawn_room(seed, index, views, film=Film(width=size, height=size))


def observe(
    info: Mapping[str, Any], seed: int, index: int, draw: int = 0
) -> tuple[Any, dict[str, Tensor]]:
    """A room's observed views as a checkpoint reads them: (the room, a batch of one scene
    with ``observed/<buffer>`` (1, K, C, H, W) and ``observed_pose`` (1, K, 16)). ``draw``
    picks the cameras: the room's cameras 1 + K·draw … K + K·draw (camera 0 is its own query
    view), so each draw is a new set of K views."""
    from neuralshade.data.sources import get_source
    from neuralshade.data.sources.room import world_to_camera
    from neuralshade.render.mitsuba.gbuffer import render_gbuffers

    opts = cnsr_options(info["config"]["options"])
    k = opts.views_per_scene - 1
    config = room_config(info)
    room = random_room(seed, index, 1 + k * (draw + 1), config.size)
    source = get_source("room")
    passes = list(dict.fromkeys(opts.observation_passes))
    views = {n: [] for n in passes}
    poses = []
    cameras = range(1 + k * draw, 1 + k * (draw + 1))
    mi_scene, common = source.mitsuba_scene(config, room, cameras[0])  # every camera a sensor
    for j in cameras:
        out = render_gbuffers(mi_scene, spp=config.spp, seed=_view_seed(seed, index, j),
                              buffers=passes, **{**common, "sensor": j})  # fmt: skip
        for n in passes:
            views[n].append(_chw(out[n])[0])
        poses.append(world_to_camera(room.cameras[j].model_dump()).reshape(16))
    batch = {f"observed/{n}": torch.stack(v)[None] for n, v in views.items()}
    batch["observed_pose"] = torch.tensor(np.stack(poses), dtype=torch.float32)[None]
    return room, batch


def _view_seed(seed: int, index: int, view: int) -> int:
    return int(np.random.SeedSequence([seed, index, view, 7]).generate_state(1)[0])


def query_view(
    info: Mapping[str, Any], room, camera, reference_spp: int = 0, seed: int = 0
) -> dict[str, Tensor]:
    """The query buffers of ``room`` seen by ``camera`` (its noisy pass at the training spp),
    its pose (``query_pose`` (1, 16)) and, with ``reference_spp`` > 0, Mitsuba's render at
    that many samples per pixel (``reference``, (1, 3, H, W) linear)."""
    from neuralshade.data.sources import get_source
    from neuralshade.data.sources.room import world_to_camera

    scene = room.model_copy(update={"cameras": [*room.cameras, camera]})
    batch = render_view(get_source("room"), room_config(info), scene, len(scene.cameras) - 1,
                        info["inputs"], seed, reference_spp)  # fmt: skip
    if "query/beauty_reference" in batch:
        batch["reference"] = batch.pop("query/beauty_reference")
    pose = world_to_camera(camera.model_dump()).reshape(16)
    batch["query_pose"] = torch.tensor(pose, dtype=torch.float32)[None]
    return batch


def view(
    model,
    info: Mapping[str, Any],
    seed: int = 0,
    index: int = 0,
    draw: int = 0,
    camera=None,
    swap: tuple[int, str] | None = None,
    reference_spp: int = 0,
    patch: tuple[int, int, int] | None = None,
    observed: Any = None,
) -> dict[str, Any]:
    """One frame of the viewer: room ``index`` of ``seed`` observed in its ``draw`` of K
    views and shaded from ``camera`` (default: the room's own camera 0).

    ``swap`` = (index B, factor): the representation takes that partition from room B's
    (observed in the same draw), and the reference is the mixed room (:func:`mixed`).
    ``reference_spp`` > 0: Mitsuba's render of the view at that spp. ``patch`` = (x, y,
    size): gradient × input attributions of that patch (per partition over the view, per
    input buffer). ``observed``: a callable (seed, index, draw) → :func:`observe`'s result,
    to cache rooms between frames (default: :func:`observe`).

    Returns ``prediction`` (H, W, 3) linear, ``reference`` (or None), ``observations`` (K of
    (H, W, 3), the observed beauty), ``partitions`` {factor: (H, W)} and ``buffers`` {name:
    (H, W)} (with ``patch``), ``seconds`` {observe, query, network, reference}."""
    import time

    observed = observed or (lambda s, i, d: observe(info, s, i, d))
    seconds = {}
    start = time.perf_counter()
    room, batch = observed(seed, index, draw)
    if swap is not None:
        other, factor = swap
        room_b, batch_b = observed(seed, other, draw)
        room = mixed(room, room_b, factor)
    seconds["observe"] = time.perf_counter() - start
    camera = camera if camera is not None else room.cameras[0]
    start = time.perf_counter()
    query = query_view(info, room, camera, reference_spp, seed=_view_seed(seed, index, 0))
    seconds["query"] = time.perf_counter() - start
    full = {**batch, **query}
    start = time.perf_counter()
    with torch.no_grad():
        rep = representation(model, batch, info)
        if swap is not None:
            rep_b = representation(model, batch_b, info)
            rep = model.partition.swap(rep, rep_b, FACTORS.index(swap[1]))
        image = shade(model, full, rep, info)
    seconds["network"] = time.perf_counter() - start

    def hwc(t: Tensor) -> np.ndarray:
        return t[0].permute(1, 2, 0).numpy()

    out: dict[str, Any] = {
        "prediction": hwc(image),
        "reference": hwc(query["reference"]) if "reference" in query else None,
        "observations": [v.permute(1, 2, 0).numpy() for v in batch["observed/beauty"][0]]
        if "observed/beauty" in batch else [],
        "seconds": seconds,
    }  # fmt: skip
    if patch is not None and model.generator is not None:
        x, y, size = patch
        maps = partition_attributions(model, full, info)[0]
        out["partitions"] = dict(zip(FACTORS, (m.numpy() for m in maps), strict=True))
        buffers = buffer_attributions(model, full, info, (y, x, size, size))
        out["buffers"] = {n: m[0].reshape(-1, *m.shape[-2:]).sum(0).numpy()
                          for n, m in buffers.items()}  # fmt: skip
    return out
