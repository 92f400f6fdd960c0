"""Our ao2d reference renderer against Mitsuba 3 on the same AO and hard-shadow image.

Both render the same random letters mask at the same number of rays: one primary ray, one
shadow ray and ``spp`` AO rays per pixel. Ours sphere-traces the SDF in torch; Mitsuba traces
a marching-cubes mesh of the same geometry with its BVH (llvm_ad_rgb, all cores). Each is
warmed up (Mitsuba's first call includes its JIT compile, reported apart), then timed; the
figures are medians. The images are compared too (mean |AO difference|, shadow agreement).

    python benchmarks/render_vs_mitsuba.py            # 512², 256 AO rays per pixel (minutes)
    python benchmarks/render_vs_mitsuba.py --quick    # 128², 32 AO rays per pixel (seconds)
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
    parser.add_argument("--quick", action="store_true", help="128², 32 spp, one timed run")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    size, spp, repeats = (128, 32, 1) if args.quick else (512, 256, 3)
    out = args.out or RESULTS / f"render_vs_mitsuba{'_quick' if args.quick else ''}.json"

    mask = random_mask(size, np.random.default_rng(SEED))
    params = RenderParams(ao_samples=spp, softness=0)  # Mitsuba's reference is the hard shadow
    pixels = size * size
    rays = pixels * (spp + 2)  # AO + shadow + primary, the same count for both

    # ours: the whole render (SDF, primary hits, AO, shadow, shading)
    ours_times = timed(lambda: render(mask, params, seed=SEED), repeats)
    ours = render(mask, params, seed=SEED).numpy()
    sdf = mask_sdf(mask)

    mi = mitsuba_scene.load_mitsuba()
    start = time.perf_counter()
    shapes = mitsuba_scene.extrusion_shapes(sdf, params, voxel=0.5)
    scene = mitsuba_scene.build_scene(shapes, (size, size), margin=4 * size)
    mesh_seconds = time.perf_counter() - start
    triangles = int(shapes["extrusion"].face_count()) if shapes else 0
    start = time.perf_counter()
    mitsuba_scene.render_ao_shadow(scene, (size, size), params, seed=SEED + 1)
    first_call = time.perf_counter() - start
    mi_times = timed(lambda: mitsuba_scene.render_ao_shadow(scene, (size, size), params,
                                                            seed=SEED + 1), repeats, warmup=0)
    ref = mitsuba_scene.render_ao_shadow(scene, (size, size), params, seed=SEED + 1)

    t_ours, t_mi = float(np.median(ours_times)), float(np.median(mi_times))
    traced = traced_ao_pixels(sdf, params)
    agreement = {
        "ao_mean": {"ours": float(ours["ao"].mean()), "mitsuba": float(ref["ao"].mean())},
        "ao_mean_abs_diff": float(np.abs(ours["ao"] - ref["ao"]).mean()),
        "ao_expected_mc_abs_diff": float(np.mean(np.sqrt(
            2 * np.clip(ref["ao"] * (1 - ref["ao"]), 0, None) / spp)) * np.sqrt(2 / np.pi)),
        "shadow_agreement": float(((ours["shadow"] > 0.5) == (ref["shadow"] > 0.5)).mean()),
        "height_agreement": float((np.abs(ours["height"] - ref["height"]) < 0.5).mean()),
    }
    result = {
        "size": size, "ao_samples": spp, "repeats": repeats, "seed": SEED,
        "params": params.model_dump(mode="json"),
        "rays_per_image": rays,
        "ours": {"median_seconds": t_ours, "all_seconds": ours_times,
                 "rays_per_second": rays / t_ours,
                 "pixels_needing_ao_rays": traced, "ao_rays_traced": traced * spp,
                 "device": "cpu"},
        "mitsuba": {"median_seconds": t_mi, "all_seconds": mi_times,
                    "rays_per_second": rays / t_mi, "first_call_seconds": first_call,
                    "mesh_seconds": mesh_seconds, "triangles": triangles,
                    "variant": mi.variant(), "version": mi.__version__},
        "ours_over_mitsuba_time": t_ours / t_mi,
        "agreement": agreement,
    }
    print(f"{size}x{size}, {spp} AO rays per pixel, {rays / 1e6:.1f} M rays per image")
    print(f"  ours     {t_ours:8.2f} s  {rays / t_ours / 1e6:7.2f} M rays/s  "
          f"(AO traced for {traced / pixels:.0%} of pixels; the rest is exactly 1)")
    print(f"  mitsuba  {t_mi:8.2f} s  {rays / t_mi / 1e6:7.2f} M rays/s  "
          f"(first call {first_call:.2f} s, mesh {mesh_seconds:.2f} s, {triangles} triangles)")
    print(f"  ours / mitsuba time: {t_ours / t_mi:.2f}")
    print(f"  AO mean |diff| {agreement['ao_mean_abs_diff']:.4f} (MC noise alone "
          f"≈ {agreement['ao_expected_mc_abs_diff']:.4f}), shadow agreement "
          f"{agreement['shadow_agreement']:.4f}")
    record(out, "render_vs_mitsuba", args.quick, result, mitsuba=mi.__version__)


if __name__ == "__main__":
    main()
