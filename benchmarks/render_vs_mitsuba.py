"""Our ao2d reference renderer against Mitsuba 3 on the same AO and hard-shadow image.

All render the same random letters mask: one primary ray, one shadow ray and ``spp`` AO rays per
pixel. Mitsuba traces a marching-cubes mesh of the same geometry with its BVH (llvm_ad_rgb,
all cores) and our sampling code; ours sphere-traces the SDF in torch, with 3D rays like
Mitsuba's ("montecarlo", at Mitsuba's ray count) and with the default estimator ("azimuthal":
exact in elevation, sampled in azimuth). Each is warmed up (Mitsuba's first call includes its
JIT compile, reported apart), then timed; figures are medians. Quality is the RMSE of each AO
image against Mitsuba at ``ref_spp`` rays per pixel (untimed), and the hard shadows' agreement.

    python benchmarks/render_vs_mitsuba.py            # 512², 256 rays per pixel
    python benchmarks/render_vs_mitsuba.py --quick    # 128², fewer rays
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, record, timed

from neuralshade.masks import random_mask
from neuralshade.render import mitsuba_scene
from neuralshade.render.heightfield import ExtrudedField, RenderParams, mask_sdf, render

SEED = 0


def traced_ao_pixels(sdf: np.ndarray, params: RenderParams) -> int:
    """Pixels whose AO needs rays: surface points closer than ao_radius to a shape's solid."""
    field = ExtrudedField(torch.from_numpy(sdf), params.height, params.bevel)
    h, w = sdf.shape
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    x, y = xs.reshape(-1), ys.reshape(-1)
    p = torch.stack([x, y, field.surface_height(x, y)], dim=1)
    return int((field.solid(p) < params.ao_radius).sum())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128², fewer rays, one timed run")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    size, spp, ref_spp, repeats = (128, 64, 1024, 1) if args.quick else (512, 256, 4096, 3)
    out = args.out or RESULTS / f"render_vs_mitsuba{'_quick' if args.quick else ''}.json"

    mask = random_mask(size, np.random.default_rng(SEED))
    base = RenderParams(softness=0)  # Mitsuba's reference is the hard shadow
    sdf = mask_sdf(mask)
    pixels = size * size

    mi = mitsuba_scene.load_mitsuba()
    start = time.perf_counter()
    shapes = mitsuba_scene.extrusion_shapes(sdf, base, voxel=0.5)
    scene = mitsuba_scene.build_scene(shapes, (size, size), margin=4 * size)
    mesh_seconds = time.perf_counter() - start
    triangles = int(shapes["extrusion"].face_count()) if shapes else 0

    def mitsuba_run(n: int):
        p = base.model_copy(update={"ao_samples": n})
        return lambda: mitsuba_scene.render_ao_shadow(scene, (size, size), p, seed=SEED + 1)

    def ours_run(mode: str, n: int):
        p = base.model_copy(update={"ao_samples": n, "ao_mode": mode})
        return lambda: render(mask, p, seed=SEED).numpy()

    default = RenderParams()
    runs = {
        f"mitsuba {spp} rays/px": (mitsuba_run(spp), spp),
        f"ours montecarlo {spp} rays/px": (ours_run("montecarlo", spp), spp),
        f"ours azimuthal {default.ao_samples} rays/px (default)": (
            ours_run("azimuthal", default.ao_samples),
            default.ao_samples,
        ),
    }
    start = time.perf_counter()
    mitsuba_run(spp)()  # the first call JIT-compiles Mitsuba's kernels
    first_call = time.perf_counter() - start
    reference = mitsuba_scene.render_ao_shadow(
        scene, (size, size), base.model_copy(update={"ao_samples": ref_spp}), seed=SEED + 99
    )
    results = {}
    for name, (fn, n) in runs.items():
        times = timed(fn, repeats, warmup=0 if name.startswith("mitsuba") else 1)
        image = fn()
        seconds = float(np.median(times))
        rays = pixels * (n + 2)  # AO + shadow + primary
        results[name] = {
            "ao_rays_per_pixel": n,
            "median_seconds": seconds,
            "all_seconds": times,
            "rays_per_second": rays / seconds,
            "ao_rmse_vs_reference": float(np.sqrt(np.mean((image["ao"] - reference["ao"]) ** 2))),
            "ao_bias_vs_reference": float(np.mean(image["ao"] - reference["ao"])),
            "shadow_agreement": float(
                ((image["shadow"] > 0.5) == (reference["shadow"] > 0.5)).mean()
            ),
            "height_agreement": float((np.abs(image["height"] - reference["height"]) < 0.5).mean()),
        }
    traced = traced_ao_pixels(sdf, base)
    names = list(results)
    t_mi = results[names[0]]["median_seconds"]
    result = {
        "size": size,
        "repeats": repeats,
        "seed": SEED,
        "reference_ao_rays_per_pixel": ref_spp,
        "params": base.model_dump(mode="json"),
        "pixels_needing_ao_rays": traced,
        "mitsuba": {
            "first_call_seconds": first_call,
            "mesh_seconds": mesh_seconds,
            "triangles": triangles,
            "variant": mi.variant(),
            "version": mi.__version__,
        },
        "runs": results,
        "time_over_mitsuba": {name: r["median_seconds"] / t_mi for name, r in results.items()},
    }
    print(
        f"{size}x{size} letters mask; AO error against Mitsuba at {ref_spp} rays/px; "
        f"AO traced for {traced / pixels:.0%} of pixels (the rest is exactly 1)"
    )
    print(
        f"{'':40s} {'seconds':>8s} {'M rays/s':>9s} {'vs mitsuba':>10s} {'AO RMSE':>8s} "
        f"{'shadow agree':>12s}"
    )
    for name, r in results.items():
        print(
            f"{name:40s} {r['median_seconds']:8.2f} {r['rays_per_second'] / 1e6:9.2f} "
            f"{r['median_seconds'] / t_mi:9.2f}x {r['ao_rmse_vs_reference']:8.4f} "
            f"{r['shadow_agreement']:12.4f}"
        )
    print(
        f"mitsuba: first call {first_call:.2f} s, mesh {mesh_seconds:.2f} s, {triangles} triangles"
    )
    record(out, "render_vs_mitsuba", args.quick, result, mitsuba=mi.__version__)


if __name__ == "__main__":
    main()
