"""Time to equal quality: the AO rays at which our renderer and Mitsuba 3 match the network.

A thin driver of ``neuralshade eval``: it renders a small test set with the render settings the
bundled network was trained at (its sidecar's ``render``), evaluates the network on it with
its baselines, and races the renderers to the network's error (``Ao2dTask.race``: the error of
everything against our renderer at 4096 AO rays; ``render/ladder.py`` says why that truth).
What eval wrote to ``metrics.json`` is the result, so these figures are eval's.

    python benchmarks/equal_quality.py            # 4 test images of 256²
    python benchmarks/equal_quality.py --quick    # 2 of 96² (smoke test)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import RESULTS, record

from neuralshade import checkpoint
from neuralshade.data.generate import generate, load_config
from neuralshade.evaluate import evaluate
from neuralshade.infer import model_path

DATA_SEED = 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 images of 96² (smoke test)")
    parser.add_argument("--model", default="ao2d-unet-cpu", help="bundled model or checkpoint")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    count, size, repeats = (2, 96, 2) if args.quick else (4, 256, 6)
    out = args.out or RESULTS / f"equal_quality{'_quick' if args.quick else ''}.json"

    weights = model_path(args.model)
    render = checkpoint.read_meta(weights)["render"]
    values = {"count": count, "size": size, "seed": DATA_SEED, "render": render,
              "split": {"train": 0.0, "val": 0.0, "test": 1.0}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate(data, load_config(values, source="ao2d"), quiet=True)
        report = evaluate(
            weights, data, out=Path(tmp) / "eval", device="cpu", equal_quality_images=count,
            repeats=repeats, quiet=True,
        )  # fmt: skip
    eq = report["equal_quality"]
    print(f"{count} test images of {size}², {args.model}; {eq['metric']} against {eq['reference']}")
    print(f"network: {eq['network']['error']:.4f}, {1e3 * eq['network']['seconds']:.1f} ms")
    for name, r in eq["renderers"].items():
        verdict = "reaches it at" if r["reached"] else "never reaches it; best"
        print(
            f"{name}: {verdict} {r['samples']} rays/px ({r['error']:.4f}), "
            f"{r['median_seconds']:.3f} s per image, {r['time_ratio'] or 0:.1f}x the network"
        )
        for point in (*r["curve"], r["usual"]):
            print(f"    {point['samples']:6d} rays  {point['error']:.4f}  {point['seconds']:.3f} s")
    for name, means in report["baselines"].items():
        print(f"baseline {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
    notes = eq["renderers"].get("mitsuba", {}).get("notes", {})
    versions = {"mitsuba": notes["version"]} if "version" in notes else {}
    test_set = {"count": count, "size": size, "seed": DATA_SEED, "render": render}
    report["data"] = "a temporary directory"  # rendered from test_set, then deleted
    record(out, "equal_quality", args.quick, {"test_set": test_set, **report}, **versions)


if __name__ == "__main__":
    main()
