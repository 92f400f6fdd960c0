"""An independent reference for the ao2d renderer: the same scene ray-traced by Mitsuba 3.

The geometry is a triangle mesh (or Mitsuba's own analytic shapes) in Mitsuba's BVH, and every
ray (primary, AO and shadow) is intersected by Mitsuba, so the only thing this module shares
with :mod:`neuralshade.render.heightfield` is the definition of the buffers: AO as the fraction
of cosine-weighted directions unoccluded within ``ao_radius``, and the hard shadow as the
visibility of the key light. The sampling is written here in Dr.Jit, vectorised over all rays.

Mitsuba's vectorised ``llvm_ad_rgb`` variant needs LLVM ≥ 16 at run time; on Debian,
``apt-get install libllvm19``. :func:`load_mitsuba` finds the library and points
``DRJIT_LIBLLVM_PATH`` at it when that is not set already.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

import numpy as np

from neuralshade.errors import NeuralShadeError
from neuralshade.render.heightfield import ExtrudedField, RenderParams

_MIN_LLVM = 16
_RAYS_PER_BATCH = 1 << 22


def find_libllvm() -> str | None:
    """Path of the newest shared libLLVM ≥ 16 in the usual library folders, or None."""
    best: tuple[int, str] | None = None
    for folder in (
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ):
        for path in glob.glob(os.path.join(folder, "libLLVM*.so*")):
            m = re.search(r"libLLVM(?:-|\.so\.)(\d+)", os.path.basename(path))
            if m and int(m.group(1)) >= _MIN_LLVM and (best is None or int(m.group(1)) > best[0]):
                best = (int(m.group(1)), path)
    return best[1] if best else None


def load_mitsuba(variant: str = "llvm_ad_rgb") -> Any:
    """Import Mitsuba 3 with ``variant`` set; raise NeuralShadeError saying how to fix it if not."""
    if variant.startswith("llvm") and "DRJIT_LIBLLVM_PATH" not in os.environ:
        path = find_libllvm()
        if path is None:
            raise NeuralShadeError(
                f"Mitsuba's {variant} variant needs LLVM >= {_MIN_LLVM}: install it "
                "(Debian: apt-get install libllvm19) or set DRJIT_LIBLLVM_PATH to libLLVM.so"
            )
        os.environ["DRJIT_LIBLLVM_PATH"] = path
    try:
        import mitsuba as mi
    except ImportError:
        raise NeuralShadeError(
            "Mitsuba 3 is not installed: pip install 'neuralshade[mitsuba]'"
        ) from None
    try:
        mi.set_variant(variant)
    except Exception as exc:  # Mitsuba raises plain exceptions for missing variants/backends
        raise NeuralShadeError(f"Mitsuba variant {variant!r} cannot start: {exc}") from None
    return mi


def box_shapes(x0: float, y0: float, x1: float, y1: float, height: float) -> dict[str, dict]:
    """Mitsuba shape dicts for one axis-aligned solid box [x0, x1] × [y0, y1] × [0, height]."""
    mi = load_mitsuba()
    t = mi.ScalarTransform4f()
    centre = [(x0 + x1) / 2, (y0 + y1) / 2, height / 2]
    half = [(x1 - x0) / 2, (y1 - y0) / 2, height / 2]
    return {"box": {"type": "cube", "to_world": t.translate(centre).scale(half)}}


def extrusion_shapes(sdf: np.ndarray, params: RenderParams, voxel: float = 0.5) -> dict[str, Any]:
    """The extruded shapes of a 2D field as one triangle mesh (marching cubes on the 3D SDF).

    sdf: (H, W) 2D field in pixels, as used by the renderer. ``voxel`` is the sampling step in
    pixels; sharp edges are bevelled by about one voxel, which is the main difference from the
    implicit surface. Needs scikit-image.
    """
    import torch
    from skimage.measure import marching_cubes

    mi = load_mitsuba()
    h, w = sdf.shape
    field = ExtrudedField(torch.as_tensor(sdf, dtype=torch.float32), params.height, params.bevel)
    # sample a slab from below the ground (the solid goes on beneath it) to above the top
    xs = np.arange(-1.0, w + 1.0 + voxel / 2, voxel, dtype=np.float32)
    ys = np.arange(-1.0, h + 1.0 + voxel / 2, voxel, dtype=np.float32)
    zs = np.arange(-2.0, params.height + 1.0 + voxel / 2, voxel, dtype=np.float32)
    volume = np.empty((len(zs), len(ys), len(xs)), np.float32)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    plane = torch.from_numpy(np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size, np.float32)], 1))
    for k, z in enumerate(zs):
        plane[:, 2] = float(z)
        volume[k] = field.solid(plane).numpy().reshape(gx.shape)
    if volume.min() >= 0:
        return {}
    verts, faces, _, _ = marching_cubes(volume, level=0.0, spacing=(voxel, voxel, voxel))
    verts = verts[:, ::-1] + np.array([xs[0], ys[0], zs[0]], np.float32)  # (z, y, x) → (x, y, z)
    mesh = mi.Mesh("extrusion", len(verts), len(faces))
    attrs = mi.traverse(mesh)
    attrs["vertex_positions"] = mi.Float(np.ascontiguousarray(verts, np.float32).ravel())
    attrs["faces"] = mi.UInt32(np.ascontiguousarray(faces, np.uint32).ravel())
    attrs.update()
    return {"extrusion": mesh}


def build_scene(shapes: dict[str, Any], size: tuple[int, int], margin: float) -> Any:
    """A Mitsuba scene of ``shapes`` on a ground rectangle covering the image plus ``margin``."""
    mi = load_mitsuba()
    h, w = size
    t = mi.ScalarTransform4f()
    ground = {
        "type": "rectangle",
        "to_world": t.translate([w / 2, h / 2, 0.0]).scale([w / 2 + margin, h / 2 + margin, 1]),
    }
    return mi.load_dict({"type": "scene", "ground": ground, **shapes})


def _gather3(mi: Any, cls: Any, v: Any, index: Any) -> Any:
    """Per-lane gather of a 3-vector array (Dr.Jit gathers from flat arrays only)."""
    import drjit as dr

    return cls(*(dr.gather(mi.Float, v[k], index) for k in range(3)))


def render_ao_shadow(
    scene: Any, size: tuple[int, int], params: RenderParams, seed: int = 0
) -> dict[str, np.ndarray]:
    """AO (``params.ao_samples`` rays per pixel) and hard shadow, one primary ray per pixel.

    Returns float32 (H, W) arrays ``ao``, ``shadow`` and ``height`` (z of the primary hit).
    """
    mi = load_mitsuba()
    import drjit as dr

    h, w = size
    n = h * w
    idx = dr.arange(mi.UInt32, n)
    x = mi.Float(idx % w) + 0.5
    y = mi.Float(idx // w) + 0.5
    top = params.height + 10.0
    primary = mi.Ray3f(mi.Point3f(x, y, top), mi.Vector3f(0.0, 0.0, -1.0))
    si = scene.ray_intersect(primary)
    # face the normal toward the camera, whatever the mesh's winding
    normal = dr.select(dr.dot(si.n, primary.d) > 0, -si.n, si.n)
    si.n = normal
    si.sh_frame = mi.Frame3f(normal)

    light = mi.Vector3f(*params.light_direction())
    shadow = ~scene.ray_test(si.spawn_ray(light))

    per_batch = max(1, min(params.ao_samples, _RAYS_PER_BATCH // n))
    unoccluded = dr.zeros(mi.Float, n)
    done = 0
    while done < params.ao_samples:
        k = min(per_batch, params.ao_samples - done)
        lanes = dr.arange(mi.UInt32, n * k)
        pixel = lanes // k
        rng = mi.PCG32(n * k, mi.UInt64(seed * 1_000_003 + done), mi.UInt64(lanes))
        local = mi.warp.square_to_cosine_hemisphere(
            mi.Point2f(rng.next_float32(), rng.next_float32())
        )
        frame = mi.Frame3f(_gather3(mi, mi.Vector3f, normal, pixel))
        ray = mi.Ray3f(_gather3(mi, mi.Point3f, si.p, pixel), frame.to_world(local))
        # lift the origin off the surface, scaled like Mitsuba's own spawn_ray offset
        ray.o += frame.n * (1e-4 * (1 + dr.max(dr.abs(ray.o))))
        ray.maxt = params.ao_radius
        free = mi.Float(~scene.ray_test(ray))
        dr.scatter_reduce(dr.ReduceOp.Add, unoccluded, free, pixel)
        dr.eval(unoccluded)
        done += k

    def arr(v: Any) -> np.ndarray:
        return np.asarray(v, dtype=np.float32).reshape(h, w)

    return {
        "ao": arr(unoccluded / params.ao_samples),
        "shadow": arr(mi.Float(shadow)),
        "height": arr(dr.select(si.is_valid(), si.p.z, 0.0)),
    }
