"""Fitting a signed distance field with a coordinate network: (x, y, z) → distance.

``neuralshade fit sdf SHAPE [--preset NAME] [--set key=value ...] [--steps N] [--out DIR]``

SHAPE is a built-in analytic shape (``sphere``, ``box``, ``torus``, ``capsule``,
``box_minus_sphere``) or a mesh file (OBJ, PLY, STL; scaled into [−1, 1]³). The fit draws a
fixed pool of points once, most of them near the surface (two noise scales, as in DeepSDF) and
the rest uniform in the cube, with their true distances, and regresses them with an L1 loss
on mini-batches drawn from the pool.

The output directory gets:

- ``render.png``: the fitted field sphere-traced (normals from autograd) beside the true shape;
- ``mesh.ply``: the fitted field's zero level set by marching cubes;
- ``summary.json``: occupancy IoU against the true shape (random points in the cube), the
  Chamfer distance between the extracted and the true surface, the fit time, parameters;
- ``field.safetensors`` + ``field.json``, a checkpoint (``neuralshade export`` takes it).

A killed fit resumes from ``last.safetensors`` (written every ``checkpoint_interval`` steps)
with ``--resume``, on the same batches.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field

from neuralshade import checkpoint
from neuralshade.config import Settings, load_preset
from neuralshade.config import preset_names as config_preset_names
from neuralshade.errors import ConfigError, InputError
from neuralshade.fields.geometry import (
    chamfer_distance,
    extract_mesh,
    occupancy_iou,
    orbit_camera,
    sample_surface,
    sphere_trace,
)
from neuralshade.fields.network import FieldConfig, FieldNetwork, optimizer
from neuralshade.fields.shapes import (
    MeshSDF,
    analytic_shape,
    load_mesh,
    sample_points,
    surface_samples,
)
from neuralshade.imageio import atomic_path, write_json, write_png
from neuralshade.models import build as build_model
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress
from neuralshade.resume import begin, fingerprint, restore

PRESET_PREFIX = "fit-sdf-"
# a fit at a constant learning rate goes on the same way for more steps; the rest only
# decide how often it saves and how finely it is measured at the end
RESUME_FREE = ("steps", "checkpoint_interval", "eval_points", "resolution", "render_size")
OUTPUTS = (
    "render.png",
    "mesh.ply",
    "summary.json",
    *checkpoint.file_names("field"),
    *checkpoint.file_names("last", optimizer=True),
)


class SdfFitConfig(Settings):
    """A field network and how to fit it to a shape (see the presets ``fit-sdf-*.yaml``)."""

    field: FieldConfig = Field(..., description="The network: 3 inputs, 1 output (distance).")
    points: int = Field(1 << 18, ge=1, description="Size of the pool of training points.")
    near_fraction: float = Field(0.8, ge=0, le=1, description="Share of points near the surface.")
    sigma: list[Annotated[float, Field(gt=0)]] = Field(
        [0.01, 0.05],
        min_length=1,
        description="Noise scales of the near-surface points (cube side is 2).",
    )
    steps: int = Field(2000, ge=1, description="Optimizer steps.")
    batch_size: int = Field(1 << 13, ge=1, description="Points per step.")
    lr: float = Field(1e-2, gt=0, description="Adam learning rate (constant).")
    checkpoint_interval: int = Field(250, ge=1, description="Save last.* every this many steps.")
    eval_points: int = Field(1 << 19, ge=1, description="Random points for the IoU.")
    resolution: int = Field(128, ge=8, description="Marching-cubes grid for the mesh.")
    render_size: int = Field(256, ge=8, description="Side of the rendered images, pixels.")
    seed: int = Field(0, ge=0, description="Seeds the initialisation and the points.")


def preset_names() -> list[str]:
    """The shipped presets ``fit-sdf-*.yaml``, without the prefix."""
    return config_preset_names(PRESET_PREFIX)


def load_config(preset_or_path: str, overrides: list[str] | None = None) -> SdfFitConfig:
    """A preset's name (``hash``) or a YAML file, with ``key=value`` overrides applied."""
    return load_preset(SdfFitConfig, PRESET_PREFIX, preset_or_path, overrides, "SDF-fitting")


def is_builtin(shape: str | os.PathLike) -> bool:
    """Whether ``shape`` names a built-in shape (no file suffix), rather than a mesh file."""
    return isinstance(shape, str) and not Path(shape).suffix


def true_shape(shape: str | os.PathLike) -> Any:
    """A built-in shape's name or a mesh file's path → its exact SDF (callable on (N, 3))."""
    if is_builtin(shape):
        return analytic_shape(shape)
    mesh, _ = load_mesh(shape)
    return MeshSDF(mesh)


def shape_identity(shape: str | os.PathLike) -> dict[str, Any]:
    """What a fit's target is: a built-in shape's name, or a mesh file's content hash."""
    if is_builtin(shape):
        return {"shape": shape}
    try:
        return {"mesh_sha256": fingerprint(Path(shape).read_bytes())}
    except OSError as exc:
        raise InputError(f"{shape}: cannot read the mesh ({exc.strerror or exc})") from None


def as_sdf(net: FieldNetwork):
    """The network as an SDF callable: (N, 3) → (N,)."""
    return lambda points: net(points)[:, 0]


def fit_sdf(
    shape: str | os.PathLike,
    config: SdfFitConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    quiet: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Fit ``config.field`` to ``shape``; write the outputs listed above; return the summary."""
    if config.field.n_input_dims != 3 or config.field.network.n_output_dims != 1:
        raise ConfigError(
            "a distance field maps (x, y, z) to one distance: field.n_input_dims must be 3 "
            "and field.network.n_output_dims 1"
        )
    out_dir = Path(out)
    mesh_file = [] if is_builtin(shape) else [shape]
    check_outputs(out_dir, [out_dir / name for name in OUTPUTS], mesh_file)
    last = out_dir / "last"
    resuming = begin(last, resume=resume, what="fit")
    truth = true_shape(shape)
    rng = np.random.default_rng(config.seed)
    start = time.perf_counter()
    points, values = sample_points(truth, config.points, rng, config.near_fraction, config.sigma)
    sampling_seconds = time.perf_counter() - start

    torch.manual_seed(config.seed)
    net = build_model("field", config=config.field)
    opt = optimizer(net, config.lr)
    done, train_seconds = 0, 0.0
    meta = {
        "task": "fields-sdf",
        "shape": str(shape),
        "config": config.model_dump(mode="json"),
        "target": shape_identity(shape),
    }
    if resuming:
        name = checkpoint.DEFAULT_NETWORK
        expected = {**meta, "models": {name: net.spec}}
        info = restore(last, {name: net}, {name: opt}, expected, free=RESUME_FREE)
        done, train_seconds = info["step"], info["train_seconds"]
        log(f"resuming {out_dir} after step {done}")

    net.train()
    bar = progress(range(done, config.steps), desc="fitting", unit="step", quiet=quiet)
    start = time.perf_counter()
    for step in bar:
        g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        batch = torch.randint(0, config.points, (config.batch_size,), generator=g)
        loss = (net(points[batch])[:, 0] - values[batch]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise ConfigError(f"the fit diverged at step {step + 1} (loss {loss.item()}): lower lr")
        if (step + 1) % config.checkpoint_interval == 0 or step + 1 == config.steps:
            seconds = train_seconds + time.perf_counter() - start
            checkpoint.save(last, net, {**meta, "step": step + 1, "train_seconds": seconds}, opt)
    train_seconds += time.perf_counter() - start
    net.eval()

    summary = evaluate_fit(net, truth, config, rng)
    summary.update(
        shape=str(shape),
        parameters=sum(p.numel() for p in net.parameters()),
        steps=config.steps,
        train_seconds=train_seconds,
        sampling_seconds=sampling_seconds,
        torch_threads=torch.get_num_threads(),
        config=config.model_dump(mode="json"),
    )
    vertices, faces = summary.pop("mesh")
    write_png(out_dir / "render.png", summary.pop("render"))
    import trimesh

    with atomic_path(out_dir / "mesh.ply") as tmp:
        trimesh.Trimesh(vertices, faces, process=False).export(tmp, file_type="ply")
    checkpoint.save(out_dir / "field", net, {**meta, "step": config.steps, "summary": summary})
    write_json(out_dir / "summary.json", summary)
    return summary


def evaluate_fit(
    net: FieldNetwork, truth: Any, config: SdfFitConfig, rng: np.random.Generator
) -> dict[str, Any]:
    """IoU, Chamfer distance, the mesh and the side-by-side render of a fitted field."""
    fitted = as_sdf(net)
    with torch.no_grad():
        iou = occupancy_iou(fitted, truth, n=config.eval_points, rng=rng)
        vertices, faces = extract_mesh(fitted, config.resolution)
    n = 100_000
    true_points = surface_samples(truth, n, rng)
    chamfer = chamfer_distance(sample_surface(vertices, faces, n, rng), true_points)
    camera = orbit_camera(35.0, 25.0)
    size = config.render_size
    images = [sphere_trace(f, camera, size).image for f in (fitted, truth)]
    return {
        "iou": float(iou),
        "chamfer": float(chamfer),
        "chamfer_note": "mean of the two directed mean nearest-neighbour distances, "
        "100k surface samples each; the cube is [-1, 1]^3",
        "mesh_vertices": len(vertices),
        "mesh": (vertices, faces),
        "render": np.concatenate(images, axis=1),
    }
