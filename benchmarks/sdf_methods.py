"""Dead Reckoning against the exact signed distance field: error and speed.

On random masks (``neuralshade.masks.random_mask``, white letters and shapes on black) at
256², 512² and 1024², measures Dead Reckoning's error against ``exact_sdf`` (max and mean
absolute error in pixels, over all pixels and over pixels within 64 px of a boundary) and the
largest jump of the DR field between neighbouring pixels (the exact field's is at most 1), the
time of both methods (median of several runs after a warm-up call), plus numba's first-call
time in a fresh process, with and without its on-disk cache.

    python benchmarks/sdf_methods.py            # the recorded figures
    python benchmarks/sdf_methods.py --quick    # fewer masks and runs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from common import RESULTS, record, timed  # benchmarks/common.py, beside this script

from neuralshade.masks import random_mask
from neuralshade.sdf import dead_reckoning_sdf, exact_sdf

SIZES = (256, 512, 1024)
NEAR_BOUNDARY_PX = 64.0
SEED = 0

# Run in a fresh interpreter: the time of the first Dead Reckoning call on a tiny mask, which is
# numba compiling the kernel (empty cache) or loading it (warm cache), minus nothing else.
FIRST_CALL_SCRIPT = """
import time
import numpy as np
from neuralshade.sdf import dead_reckoning_sdf
mask = np.zeros((64, 64), np.float32)
mask[20:40, 10:30] = 1.0
start = time.perf_counter()
dead_reckoning_sdf(mask)
print(time.perf_counter() - start)
"""


def first_call_seconds(cache_dir: str) -> float:
    """Seconds of the first ``dead_reckoning_sdf`` call in a new process using ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALL_SCRIPT],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def neighbour_steps(field: np.ndarray) -> np.ndarray:
    """|d(p) - d(q)| over horizontally and vertically adjacent pixels with finite values."""
    field = field.astype(np.float64)
    steps = [np.abs(np.diff(field, axis=axis)) for axis in (0, 1)]
    return np.concatenate([s[np.isfinite(s)] for s in steps])


def measure_size(size: int, n_masks: int, repeats: int) -> dict:
    """Error of Dead Reckoning and time of both methods on ``n_masks`` random masks."""
    excess_all, excess_near, relative = [], [], []
    times = {"exact": [], "dead_reckoning": []}
    inside_fraction, dr_steps = [], []
    for index in range(n_masks):
        mask = random_mask(size, np.random.default_rng((SEED, size, index)))
        exact, dr = exact_sdf(mask), dead_reckoning_sdf(mask)
        finite = np.isfinite(exact)  # an empty or full mask has no boundary: no error to measure
        error = np.abs(dr[finite].astype(np.float64) - exact[finite])
        distance = np.abs(exact[finite]).astype(np.float64)
        excess_all.append(error)
        excess_near.append(error[distance <= NEAR_BOUNDARY_PX])
        relative.append(error / (distance + 0.5))
        inside_fraction.append(float((mask >= 0.5).mean()))
        dr_steps.append(neighbour_steps(dr))
        times["exact"] += timed(lambda m=mask: exact_sdf(m), repeats)
        times["dead_reckoning"] += timed(lambda m=mask: dead_reckoning_sdf(m), repeats)
    error_all, error_near = np.concatenate(excess_all), np.concatenate(excess_near)
    dr_steps = np.concatenate(dr_steps)
    return {
        "size": size,
        "masks": n_masks,
        "runs_per_mask": repeats,
        "mean_inside_fraction": float(np.mean(inside_fraction)),
        "dr_error_px": {
            "all_pixels": {"max": float(error_all.max()), "mean": float(error_all.mean())},
            f"within_{NEAR_BOUNDARY_PX:g}px": {
                "max": float(error_near.max()),
                "mean": float(error_near.mean()),
            },
            "max_relative": float(np.concatenate(relative).max()),
            "fraction_of_pixels_exact": float((error_all == 0).mean()),
        },
        # The exact field is 1-Lipschitz (steps <= 1 between neighbours); a larger step in the
        # DR field is a discontinuity that a sphere tracer can step across.
        "dr_neighbour_step_px": {
            "max": float(dr_steps.max()),
            "fraction_above_1": float((dr_steps > 1 + 1e-5).mean()),
        },
        "median_seconds": {name: float(np.median(t)) for name, t in times.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer masks and runs")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON output (default: benchmarks/results/sdf_methods.json, or "
        "sdf_methods_quick.json with --quick)",
    )
    args = parser.parse_args(argv)
    out = args.out or RESULTS / ("sdf_methods_quick.json" if args.quick else "sdf_methods.json")
    n_masks = {256: 3, 512: 2, 1024: 2} if args.quick else {256: 32, 512: 16, 1024: 8}
    repeats = 3 if args.quick else 5

    with tempfile.TemporaryDirectory() as cache_dir:
        compile_s = first_call_seconds(cache_dir)  # empty cache: numba compiles
        cached_s = first_call_seconds(cache_dir)  # cache written by the previous process
    results = [measure_size(size, n_masks[size], repeats) for size in SIZES]

    print(
        f"numba first call in a fresh process: {compile_s:.2f} s compiling, "
        f"{cached_s:.3f} s from the on-disk cache"
    )
    print(
        f"{'size':>6} {'masks':>5} {'exact ms':>9} {'DR ms':>8} {'DR max err':>10} "
        f"{'DR mean err':>11} {'<=64px max':>10} {'<=64px mean':>11} {'max rel':>7} "
        f"{'DR max step':>11}"
    )
    for r in results:
        e, t = r["dr_error_px"], r["median_seconds"]
        near = e[f"within_{NEAR_BOUNDARY_PX:g}px"]
        print(
            f"{r['size']:>6} {r['masks']:>5} {t['exact'] * 1e3:>9.1f} "
            f"{t['dead_reckoning'] * 1e3:>8.1f} {e['all_pixels']['max']:>10.3f} "
            f"{e['all_pixels']['mean']:>11.4f} {near['max']:>10.3f} {near['mean']:>11.4f} "
            f"{e['max_relative']:>7.3f} {r['dr_neighbour_step_px']['max']:>11.2f}"
        )

    record(
        out,
        "sdf_methods",
        args.quick,
        {
            "seed": SEED,
            "error_definition": "|dead_reckoning - exact| in pixels over pixels with a "
            "finite field; max_relative = max of error / (|exact| + 0.5); neighbour step = "
            "|d(p) - d(q)| over 4-adjacent pixels (exact: <= 1)",
            "numba_first_call_seconds": {"compile": compile_s, "from_cache": cached_s},
            "sizes": results,
        },
        numba=numba.__version__,
    )


if __name__ == "__main__":
    main()
