"""The measured tables and figures of README.md and docs/RESULTS.md, written from the JSON.

Every measured figure in the docs sits between markers and is rewritten from
``benchmarks/results/*.json``, so the text cannot drift from what the benchmarks wrote:

- a block, one table or paragraph built by a named function of :data:`BLOCKS`::

      <!-- generated: NAME (benchmarks/report.py) -->
      | ... |
      <!-- end generated -->

- an inline figure, one number in a sentence::

      in <!-- fig: fields_sdf.fits[0].train_seconds :.0f -->63<!-- /fig --> s

  The marker holds a JSON key (the file's stem, then keys and ``[index]``es) or the name of a
  function of :data:`FIGURES` with its arguments, then optionally a format: a Python format
  spec, or one ending in ``%`` for a percentage (``:.0%`` gives ``25 %``).

    python benchmarks/report.py            # rewrite the docs from the JSON
    python benchmarks/report.py --check    # exit 1, with a diff, if the committed text is stale
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuralshade.errors import NeuralShadeError
from neuralshade.imageio import write_bytes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ("README.md", "docs/RESULTS.md")

BLOCK = re.compile(
    r"<!-- generated: (?P<name>\S+) \(benchmarks/report\.py\) -->\n(?P<body>.*?)"
    r"<!-- end generated -->",
    re.S,
)
FIGURE = re.compile(r"<!-- fig: (?P<spec>[^>]*?) -->(?P<body>[^\n]*?)<!-- /fig -->")
KEY = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")

Results = dict[str, Any]  # JSON stem -> the parsed JSON


class ReportError(Exception):
    """A marker that names no function or key, or a JSON that lacks what a section needs."""


def load_results(folder: Path) -> Results:
    """Every ``*.json`` in ``folder``, by file stem."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def lookup(results: Results, path: str) -> Any:
    """The value at ``stem.key.key[index]...``, e.g. ``fields_sdf.fits[0].iou``."""
    stem = re.match(r"[^.\[]*", path)[0]
    if stem not in results:
        raise ReportError(f"no {stem}.json among the results (for {path!r})")
    value, rest = results[stem], path[len(stem) :]
    keys = list(KEY.finditer(rest))
    if "".join(k[0] for k in keys) != rest:
        raise ReportError(f"cannot read {path!r} as a JSON key")
    for k in keys:
        try:
            value = value[k[1] if k[1] is not None else int(k[2])]
        except (KeyError, IndexError, TypeError):
            raise ReportError(f"{stem}.json has no {path!r}") from None
    return value


# ---- formatting -------------------------------------------------------------------------------


def fmt(value: Any, spec: str = "") -> str:
    """A value as the docs write it.

    ``spec`` is a Python format spec, or one ending in ``%`` for a percentage (``.0%``: 25 %);
    floats default to ``g``. A (lo, hi) tuple is a range, ``lo–hi`` (one value when both read
    the same); a list is joined by commas; a leading minus is written as U+2212.
    """
    percent = spec.endswith("%")
    if percent:
        spec = spec[:-1] + "f"

    def one(v: Any) -> str:
        if isinstance(v, str):
            return v
        text = format(100 * v if percent else v, spec or ("d" if isinstance(v, int) else "g"))
        text = re.sub(r"e([+-])0*(\d)", lambda m: "e" + m[1].replace("+", "") + m[2], text)
        return "−" + text[1:] if text.startswith("-") else text

    if isinstance(value, tuple):
        lo, hi = (one(v) for v in value)
        text = lo if lo == hi else f"{lo}–{hi}"
    elif isinstance(value, list):
        text = ", ".join(one(v) for v in value)
    else:
        text = one(value)
    return text + " %" if percent else text


def ratio(x: float) -> str:
    """A speed-up or slow-down: two decimals below 1, one above."""
    return f"{x:.2f}×" if x < 1 else f"{x:.1f}×"


def matched(found: dict[str, Any]) -> str:
    """The samples a renderer needed to match a method (a time_to_equal_quality result):
    ``792``, or ``> 1024`` where the ladder's top did not."""
    return str(found["samples"]) if found["reached"] else f"> {found['samples']}"


def bold(text: str, on: bool = True) -> str:
    return f"**{text}**" if on else text


def row(*cells: Any) -> str:
    return "|" + "|".join(f" {c} " if c != "" else " " for c in cells) + "|"


def table(header: list[str], align: str, rows: list[list[Any]]) -> str:
    """A markdown table; ``align`` one letter per column, ``l`` or ``r``."""
    rule = "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"
    return "\n".join([row(*header), rule, *(row(*r) for r in rows)])


def short_cpu(model: str) -> str:
    """``Intel(R) Xeon(R) Processor`` -> ``Intel Xeon``; models the JSON differ on (joined by
    `` / ``) each shortened, in the same order."""

    def one(text: str) -> str:
        text = re.sub(r"\((R|TM)\)", "", text)
        return re.sub(r"\s+(Processor|CPU)\b.*$", "", text).strip()

    return " / ".join(one(part) for part in model.split(" / "))


# ---- shared lookups ---------------------------------------------------------------------------

NET_NAMES = {"resconv": "ResConv", "unet": "ShadeUNet"}
PATH_ALIASES = {  # short names for ao2d_models' inference paths, whose keys hold dots
    "no_grad": "no_grad",
    "inference_mode": "inference_mode",
    "fused": "inference_mode + fused BN",
    "channels-last": "inference_mode + fused BN + channels-last",
    "compile": "torch.compile + fused BN",
    "onnx-static": "onnxruntime, fused BN, this size only",
    "onnx-any": "onnxruntime, neuralshade export (any size)",
}
ARTIFACT_KINDS = {
    "nearest-shape": "ground_nearest_shape",
    "toward-light": "ground_toward_light",
    "top": "top_nearest_ground",
}


def run_name(results: Results, word: str, stem: str = "render_vs_mitsuba") -> str:
    """The render_vs_mitsuba run whose name has the word ``word`` (mitsuba, montecarlo, …)."""
    for name in lookup(results, f"{stem}.runs"):
        if word in name.split():
            return name
    raise ReportError(f"{stem}.json has no run named with {word!r}")


def run(results: Results, word: str, stem: str = "render_vs_mitsuba") -> dict[str, Any]:
    """The record of the run :func:`run_name` names."""
    return lookup(results, f"{stem}.runs")[run_name(results, word, stem)]


def inference_path(results: Results, alias: str, stem: str = "ao2d_models") -> dict[str, Any]:
    """One of ao2d_models' inference paths, by its short name in :data:`PATH_ALIASES`."""
    return lookup(results, f"{stem}.inference_paths.paths")[PATH_ALIASES[alias]]


def curve(results: Results, kind: str, net: str) -> list[tuple[int, float]]:
    """(bin start px, mean |error|) of an error-by-distance curve of ao2d_models."""
    e = lookup(results, "ao2d_models.error_by_distance")
    errors = e["mean_abs_error"][ARTIFACT_KINDS[kind]][net]
    return list(zip(e["bin_starts_px"], errors, strict=True))


def fit(results: Results, preset: str, shape: str) -> dict[str, Any]:
    """The fields_sdf record of one preset on one shape."""
    for f in lookup(results, "fields_sdf.fits"):
        if f["preset"] == preset and f["shape"] == shape:
            return f
    raise ReportError(f"fields_sdf.json has no fit of {preset!r} to {shape!r}")


def machine(results: Results) -> dict[str, str]:
    """Each machine key with its value, or its values joined by `` / `` where the JSON differ."""
    values: dict[str, list[str]] = {}
    for result in results.values():
        for key, value in result.get("machine", {}).items():
            if str(value) not in values.setdefault(key, []):
                values[key].append(str(value))
    return {key: " / ".join(v) for key, v in values.items()}


# ---- inline figures ---------------------------------------------------------------------------


def spread(values: Any) -> tuple[Any, Any]:
    """(smallest, largest): written as a range by :func:`fmt`."""
    values = list(values)
    return (min(values), max(values))


def curve_range(r: Results, kind: str, net: str, start: str, end: str) -> tuple[float, float]:
    """The spread of an error-by-distance curve over the bins from ``start`` to ``end`` px."""
    return spread(v for b, v in curve(r, kind, net) if int(start) <= b < int(end))


def sdf_masks(r: Results) -> str:
    """``32, 16 and 8 masks at 256², 512² and 1024²``."""
    sizes = lookup(r, "sdf_methods.sizes")

    def words(items: list[str]) -> str:
        return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else items[0]

    masks = words([str(s["masks"]) for s in sizes])
    px = words([f"{s['size']}²" for s in sizes])
    return f"{masks} masks at {px}"


def dead_reckoning_slowdown(r: Results) -> tuple[float, float]:
    """How many times the exact transform's time Dead Reckoning takes, over the sizes."""
    times = [s["median_seconds"] for s in lookup(r, "sdf_methods.sizes")]
    return spread(t["dead_reckoning"] / t["exact"] for t in times)


def siren_time_share(r: Results) -> tuple[float, float]:
    """SIREN's fit time as a fraction of the hash grid's on the same shape, over the shapes."""
    fits = [f for f in lookup(r, "fields_sdf.fits") if f["preset"] == "siren"]
    return spread(f["train_seconds"] / fit(r, "hash", f["shape"])["train_seconds"] for f in fits)


def epoch_to_30_db(r: Results) -> str:
    """The epoch (``6th``) at whose end fields_speed's hash-fast fit first reached 30 dB."""
    history = lookup(r, "fields_speed.time_to_30_db.history")
    reached = lookup(r, "fields_speed.time_to_30_db.summary.seconds_to_30_db")
    epoch = next(h["epoch"] for h in history if h["seconds"] == reached)
    suffix = "th" if 10 <= epoch % 100 < 20 else {1: "st", 2: "nd", 3: "rd"}.get(epoch % 10, "th")
    return f"{epoch}{suffix}"


def hash_throughput(r: Results, dims: str) -> tuple[float, float]:
    """The spread of the training M points/s of fields_speed's ``hash {dims}`` networks."""
    throughput = lookup(r, "fields_speed.throughput")
    return spread(
        x["train_points_per_second"] / 1e6
        for name, rows in throughput.items()
        if name.startswith(f"hash {dims}")
        for x in rows
    )


def size_in_bytes(r: Results, path: str) -> str:
    """A byte count as ``75 kB`` or ``1.5 MB``."""
    n = lookup(r, path)
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def machine_words(r: Results, *stems: str) -> str:
    """``2 CPU cores (Intel Xeon)``: of the JSON named by ``stems``, or of all of them."""
    m = machine({k: v for k, v in r.items() if k in stems} if stems else r)
    return f"{m['cpu_count']} CPU cores ({short_cpu(m['cpu_model'])})"


def dataset_split(r: Results) -> dict[str, int]:
    """Images per split of the dataset the ao2d models were trained and tested on."""
    count = lookup(r, "ao2d_models.dataset.count")
    return {k: round(f * count) for k, f in lookup(r, "ao2d_models.dataset.split").items()}


def path_ms(r: Results, alias: str, stem: str = "ao2d_models") -> float:
    """Milliseconds of one inference path."""
    return inference_path(r, alias, stem)["ms"]


FIGURES: dict[str, Callable[..., Any]] = {
    # arithmetic on JSON keys
    "ratio": lambda r, a, b: lookup(r, a) / lookup(r, b),
    "minutes": lambda r, a: lookup(r, a) / 60,
    "ms": lambda r, a: lookup(r, a) * 1e3,
    "millions": lambda r, a: lookup(r, a) / 1e6,
    "billions-of-product": lambda r, a, b: lookup(r, a) * lookup(r, b) / 1e9,
    "minutes-of-product": lambda r, a, b: lookup(r, a) * lookup(r, b) / 60,
    "room-ratios": lambda r, low, high: spread(
        c["ratio"]
        for by_spp in lookup(r, "room_costs.cells").values()
        for spp, c in by_spp.items()
        if int(low) <= int(spp) <= int(high)
    ),
    "half": lambda r, a: lookup(r, a) // 2,
    "range": lambda r, a: spread(lookup(r, a)),
    "bytes": size_in_bytes,
    "net-name": lambda r, a: NET_NAMES[lookup(r, a)],
    "machine": machine_words,
    # render_vs_mitsuba, its runs by a word of their name
    "run": lambda r, word, key: run(r, word)[key],
    "run-complement": lambda r, word, key: 1 - run(r, word)[key],
    "run-ratio": lambda r, a, b, key: run(r, a)[key] / run(r, b)[key],
    "time-over-mitsuba": lambda r, word: lookup(r, "render_vs_mitsuba.time_over_mitsuba")[
        run_name(r, word)
    ],
    "ao-traced": lambda r: (
        lookup(r, "render_vs_mitsuba.pixels_needing_ao_rays")
        / lookup(r, "render_vs_mitsuba.size") ** 2
    ),
    # ao2d_models
    "split": lambda r: "/".join(str(n) for n in dataset_split(r).values()),
    "train-images": lambda r: dataset_split(r)["train"],
    "stride-layer": lambda r: (
        1 + lookup(r, "ao2d_models.networks.resconv.model.args.strides").index(2)
    ),
    "path": lambda r, alias, key: inference_path(r, alias)[key],
    "path-gain": lambda r, slow, fast: 1 - path_ms(r, fast) / path_ms(r, slow),
    "path-speedup": lambda r, slow, fast, stem="ao2d_models": (
        path_ms(r, slow, stem) / path_ms(r, fast, stem)
    ),
    "curve": lambda r, kind, net, start: dict(curve(r, kind, net))[int(start)],
    "curve-range": curve_range,
    "curve-peak": lambda r, kind, net, start, end: curve_range(r, kind, net, start, end)[1],
    # infer_context
    "border-gain": lambda r: (
        1
        - lookup(r, "infer_context.l1_border_band.padded")
        / lookup(r, "infer_context.l1_border_band.bare")
    ),
    # sdf_methods
    "sdf-masks": sdf_masks,
    "sdf-max-relative": lambda r: max(
        s["dr_error_px"]["max_relative"] for s in lookup(r, "sdf_methods.sizes")
    ),
    "sdf-max-step": lambda r: max(
        s["dr_neighbour_step_px"]["max"] for s in lookup(r, "sdf_methods.sizes")
    ),
    "sdf-slowdown": dead_reckoning_slowdown,
    # fields_sdf and fields_speed
    "fit": lambda r, preset, shape, key: fit(r, preset, shape)[key],
    "fit-range": lambda r, key: spread(f[key] for f in lookup(r, "fields_sdf.fits")),
    "siren-time-share": siren_time_share,
    "hash-throughput": hash_throughput,
    "epoch-to-30-db": epoch_to_30_db,
}


def figure(results: Results, spec: str) -> str:
    """The text of one inline figure: ``NAME ARGS... [:FORMAT]`` or ``JSON.KEY [:FORMAT]``."""
    words = spec.split()
    fmt_spec = words.pop()[1:] if len(words) > 1 and words[-1].startswith(":") else ""
    name, *args = words
    if name in FIGURES:
        try:
            value = FIGURES[name](results, *args)
        except (TypeError, ValueError) as exc:
            raise ReportError(f"figure {spec!r}: {exc}") from None
        except (KeyError, IndexError, StopIteration) as exc:
            raise ReportError(f"figure {spec!r}: the JSON lacks {exc!r}") from None
    elif args:
        raise ReportError(f"figure {spec!r}: no function {name!r} (known: {', '.join(FIGURES)})")
    else:
        value = lookup(results, name)
    return fmt(value, fmt_spec)


# ---- blocks: one function per table or paragraph ----------------------------------------------


def paragraph(text: str) -> str:
    """``text`` wrapped to the docs' line length."""
    return textwrap.fill(text, 96, break_long_words=False, break_on_hyphens=False)


def command_line(stem: str) -> Callable[[Results], str]:
    """The block that names a benchmark's command, its JSON, and the machine it ran on."""

    def line(results: Results) -> str:
        r = lookup(results, stem)
        m = r["machine"]
        return paragraph(
            f"`{r['command']}` → `benchmarks/results/{stem}.json`, on {m['cpu_count']} cores of "
            f"an {short_cpu(m['cpu_model'])}, torch {m['torch']} with {m['torch_threads']} threads"
        )

    line.__doc__ = f"The command line of {stem}.json."
    return line


def machine_line(results: Results) -> str:
    """Every JSON's machine in one sentence, with the libraries beyond numpy and torch."""
    m = machine(results)
    mitsuba = lookup(results, "render_vs_mitsuba.mitsuba")
    onnx = lookup(results, "ao2d_models.inference_paths.paths.onnxruntime")
    return paragraph(
        f"{m['cpu_count']} cores of an {short_cpu(m['cpu_model'])} ({m['machine']}), "
        f"Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads), "
        f"numpy {m['numpy']}, numba {m['numba']}, Mitsuba {mitsuba['version']} "
        f"(`{mitsuba['variant']}`), onnxruntime {onnx}."
    )


RENDERER_LABELS = {
    "mitsuba": "Mitsuba 3",
    "montecarlo": "ours, `--ao-mode montecarlo` (3D rays)",
    "azimuthal": "**ours, default** (`azimuthal`)",
}


def render_vs_mitsuba_table(results: Results) -> str:
    """Each renderer's time, ray rate, time against Mitsuba, AO error and shadow agreement."""
    r = lookup(results, "render_vs_mitsuba")
    best = min(x["ao_rmse_vs_reference"] for x in r["runs"].values())
    rows = []
    for name, x in r["runs"].items():
        word = next(w for w in RENDERER_LABELS if w in name.split())
        over = r["time_over_mitsuba"][name]
        rows.append(
            [
                RENDERER_LABELS[word],
                x["ao_rays_per_pixel"],
                f"{x['median_seconds']:.2f}",
                f"{x['rays_per_second'] / 1e6:.3g} M",
                f"{over:.1f}×" if over >= 10 else f"{over:.2f}×",
                bold(f"{x['ao_rmse_vs_reference']:.4f}", x["ao_rmse_vs_reference"] == best),
                "(reference)" if word == "mitsuba" else f"{100 * x['shadow_agreement']:.2f} %",
            ]
        )
    header = ["renderer", "AO rays / px", "seconds", "rays / s", "time vs Mitsuba", "AO RMSE"]
    return table([*header, "hard shadow agrees"], "lrrrrrr", rows)


def render_vs_mitsuba_quick(results: Results) -> str:
    """The --quick run of render_vs_mitsuba in one sentence."""
    stem = "render_vs_mitsuba_quick"
    r = lookup(results, stem)
    x = {w: run(results, w, stem) for w in ("mitsuba", "montecarlo", "azimuthal")}
    s = {w: f"{v['median_seconds']:.2f} s" for w, v in x.items()}
    e = {w: f"{v['ao_rmse_vs_reference']:.3f}" for w, v in x.items()}
    return paragraph(
        f"Quick check on {r['size']}² (`{r['command']}`, {x['mitsuba']['ao_rays_per_pixel']} "
        f"rays/px, {r['reference_ao_rays_per_pixel']}-ray reference): Mitsuba {s['mitsuba']}, "
        f"RMSE {e['mitsuba']}; ours 3D {s['montecarlo']}, {e['montecarlo']}; ours default "
        f"{s['azimuthal']}, {e['azimuthal']}."
    )


def resconv_training(results: Results) -> str:
    """What the ResConv CPU run cost and gave, as ao2d_models recorded it."""
    r = lookup(results, "ao2d_models")
    net, size, images = r["networks"]["resconv"], r["plan"]["sizes"][0], r["dataset"]["size"]
    step, test, speed = net["training_step"], net["test"], r["speed"][str(size)]
    wall = net["training_wall_seconds"]
    rows = [
        [
            "training wall time, with validation (its checkpoint's `wall_seconds`)",
            f"{wall:.1f} s ({wall / 60:.1f} min)",
        ],
        [
            f"a training step of the recipe, timed alone in `{r['command']}`",
            f"{step['seconds_per_step']:.3f} s: {step['batch'] / step['seconds_per_step']:.1f} "
            f"samples/s ({step['crop']}×{step['crop']} crops), {step['steps']} steps × "
            f"{step['batch']} in {step['training_seconds_alone'] / 60:.1f} min",
        ],
        [
            bold(f"test, whole {images}×{images} images ({r['dataset']['test_images_used']})"),
            bold(f"L1 {test['l1']:.4f}, PSNR {test['psnr']:.2f} dB, SSIM {test['ssim']:.3f}"),
        ],
        [
            f"{size}×{size} on CPU, same run",
            f"network {speed['resconv']['ms']:.1f} ms, reference renderer "
            f"{speed['renderer_ms']:.0f} ms: "
            + bold(f"{ratio(speed['resconv']['speedup_vs_renderer'])} faster"),
        ],
    ]
    return table(["what", "value"], "ll", rows)


def compare(label: str, values: dict[str, Any], text: Callable[[Any], str], better=None) -> list:
    """A row of the model comparison; ``better`` (``min`` or ``max``) bolds the winner."""
    best = better(values.values()) if better else None
    return [label, *(bold(text(v), v == best) for v in values.values())]


def ao2d_models_table(results: Results) -> str:
    """ResConv and ShadeUNet side by side: size, cost, quality, speed against every renderer."""
    r = lookup(results, "ao2d_models")
    nets, (s0, s1), mitsuba = r["networks"], r["plan"]["sizes"], r["mitsuba"]
    speed = {size: r["speed"][str(size)] for size in (s0, s1)}
    names = list(nets)

    def each(get: Callable[[str], Any]) -> dict[str, Any]:
        return {n: get(n) for n in names}

    def f4(x: float) -> str:
        return f"{x:.4f}"

    def ms(x: float) -> str:
        return f"{x:.1f}"

    images = r["dataset"]["test_images_used"]
    first, last = names[0], names[-1]
    rows = [
        compare("parameters", each(lambda n: nets[n]["parameters"]), "{:,}".format),
        compare("receptive field", each(lambda n: nets[n]["receptive_field_px"]), "{} px".format),
        compare(
            "GFLOPs per megapixel", each(lambda n: nets[n]["gflops_per_megapixel"]), "{:.1f}".format
        ),
        compare(
            f"**test L1**, {images} whole images", each(lambda n: nets[n]["test"]["l1"]), f4, min
        ),
        compare(
            f"test PSNR, {images} whole images",
            each(lambda n: nets[n]["test"]["psnr"]),
            "{:.2f} dB".format,
            max,
        ),
        compare(
            f"test SSIM, {images} whole images",
            each(lambda n: nets[n]["test"]["ssim"]),
            "{:.3f}".format,
            max,
        ),
        compare(
            "test L1 as `neuralshade shade` runs it",
            each(lambda n: nets[n]["test"]["shade_l1"]),
            f4,
            min,
        ),
        compare(f"**ms per {s0}×{s0} image**", each(lambda n: speed[s0][n]["ms"]), ms, min),
        compare(f"ms per {s1}×{s1} image", each(lambda n: speed[s1][n]["ms"]), ms, min),
        compare(
            f"achieved GFLOP/s at {s0}² (a large fp32 matmul: {r['matmul_gflops_per_second']:.0f})",
            each(lambda n: speed[s0][n]["gflops_per_second"]),
            "{:.0f}".format,
        ),
        compare(
            f"speed-up over our renderer at {s0}² ({speed[s0]['renderer_ms']:.0f} ms, the median "
            "over the masks below)",
            each(lambda n: speed[s0][n]["speedup_vs_renderer"]),
            ratio,
            max,
        ),
        compare(
            f"speed-up over our renderer at {s1}² ({speed[s1]['renderer_ms']:.0f} ms)",
            each(lambda n: speed[s1][n]["speedup_vs_renderer"]),
            ratio,
            max,
        ),
        compare(
            f"**speed-up over Mitsuba 3 at {mitsuba['ao_rays_per_pixel']} rays/px**, {s0}² "
            f"({mitsuba['median_ms']:.0f} ms)",
            each(lambda n: speed[s0][n]["speedup_vs_mitsuba"]),
            ratio,
            max,
        ),
        [
            f"**{NET_NAMES[last]}'s speed-up over {NET_NAMES[first]}**",
            *([""] * (len(names) - 1)),
            bold(
                ", ".join(
                    f"{ratio(speed[s][last]['speedup_vs_' + first])} at {s}²" for s in (s0, s1)
                )
            ),
        ],
    ]
    header = ["", *(f"{NET_NAMES[n]} (`{r['models'][n]}`)" for n in names)]
    return table(header, "l" + "r" * len(names), rows)


README_MODEL_LABELS = {
    "resconv": "ResConv (the source's network)",
    "unet": "**ShadeUNet** (bundled)",
}


def readme_models_table(results: Results) -> str:
    """The README's short form of the comparison, the bundled network's row in bold."""
    r = lookup(results, "ao2d_models")
    size = r["plan"]["sizes"][0]
    rows = []
    for name, label in README_MODEL_LABELS.items():
        t, s = r["networks"][name]["test"], r["speed"][str(size)][name]
        cells = [
            f"{t['l1']:.4f}",
            f"{t['psnr']:.2f} dB",
            f"{t['ssim']:.3f}",
            f"{s['ms']:.1f}",
            ratio(s["speedup_vs_renderer"]),
            ratio(s["speedup_vs_mitsuba"]),
        ]
        rows.append([label, *(bold(c, name == "unet") for c in cells)])
    spp = r["mitsuba"]["ao_rays_per_pixel"]
    header = ["", "L1", "PSNR", "SSIM", f"ms at {size}²", "vs our renderer"]
    return table([*header, f"vs Mitsuba 3, {spp} rays"], "lrrrrrr", rows)


RACE_LABELS = {
    "ours": "our renderer (`azimuthal`)",
    "mitsuba": "Mitsuba 3 (its AO and shadow rays)",
}


def equal_quality_table(results: Results) -> str:
    """Time to equal quality: the network, and each renderer where it reaches the network's
    error and at its usual setting, from eval's report in equal_quality.json."""
    r = lookup(results, "equal_quality")
    eq, sp = r["equal_quality"], r["speed"]
    net = eq["network"]
    rows = [
        [
            "**the network** (bundled ShadeUNet)",
            "—",
            f"**{net['error']:.4f}**",
            f"**{1e3 * net['seconds']:.1f}**",
            "**1×**",
        ]
    ]
    for name, found in eq["renderers"].items():
        label = RACE_LABELS.get(name, name)
        if found["reached"]:
            rows.append(
                [
                    f"{label}, at equal quality",
                    str(found["samples"]),
                    f"{found['error']:.4f}",
                    f"{1e3 * found['median_seconds']:.1f}",
                    ratio(found["time_ratio"]),
                ]
            )
        else:
            rows.append(
                [
                    f"{label}: never reaches it",
                    str(found["samples"]),
                    f"{found['error']:.4f}",
                    "—",
                    "—",
                ]
            )
        u = found["usual"]
        rows.append(
            [
                f"{label}, usual setting",
                str(u["samples"]),
                f"{u['error']:.4f}",
                f"{1e3 * u['seconds']:.1f}",
                ratio(u["seconds"] / net["seconds"]),
            ]
        )
    for name, means in r["baselines"].items():
        rows.append(
            [
                f"baseline `{name}`",
                "—",
                f"{means['l1']:.4f}" + " ¹",
                f"{1e3 * sp[f'{name}_seconds']:.1f}",
                ratio(sp[f"{name}_seconds"] / net["seconds"]),
            ]
        )
    header = ["", "AO rays / px", f"{eq['metric'].upper()}", "ms per image", "time vs network"]
    return table(header, "lrrrr", rows)


def room_costs_table(results: Results) -> str:
    """Seconds per room view: Mitsuba's path and the one-pass G-buffers, by size and spp."""
    r = lookup(results, "room_costs")
    sizes = list(r["cells"])
    spps = list(r["cells"][sizes[0]])
    rows = []
    for size in sizes:
        for spp in spps:
            c = r["cells"][size][spp]
            path, gbuffers = c["path"]["seconds_per_view"], c["gbuffers"]["seconds_per_view"]
            view = size.replace("x", "×")
            rows.append([view, spp, f"{path:.3f}", f"{gbuffers:.3f}", ratio(c["ratio"])])
    header = ["view", "spp", "`path` s", "every G-buffer s", "G-buffers / path"]
    return table(header, "lrrrr", rows)


STORAGE_LABELS = {
    "exr": "one float32 EXR per buffer per view (**what `dataset room` writes**)",
    "exr-half": "one half EXR per buffer per view",
    "npy": "one .npy per buffer per view",
    "npz": "one .npz per view",
    "npz-zip": "one compressed .npz per view",
    "tar": "tar shards of .npy members (WebDataset)",
    "zarr": "zarr, a chunk per buffer per view",
}


def storage_table(results: Results) -> str:
    """Bytes, write and read speed of each way to store a room view's buffers."""
    r = lookup(results, "storage")
    rows = []
    for name, v in r["layouts"].items():
        warm = v["reads"]["warm"]
        rows.append([
            STORAGE_LABELS.get(name, name),
            f"{v['bytes_per_view'] / 1e6:.2f}",
            f"{r['views'] / v['write_seconds']:.0f}",
            f"{1 / warm['random_view_seconds']:.0f}",
            f"{r['views'] / warm['sequential_pass_seconds']:.0f}",
        ])  # fmt: skip
    header = [
        "layout",
        "MB per view",
        "views/s written",
        "random views/s read",
        "views/s in a pass",
    ]
    return table(header, "lrrrr", rows)


PATH_LABELS = {
    "no_grad": "`torch.no_grad`",
    "inference_mode": "`torch.inference_mode`",
    "fused": "+ BatchNorm folded into the convs",
    "channels-last": "+ channels-last",
    "compile": "`torch.compile` of the folded network (compiling took {compile_seconds:.0f} s)",
    "onnx-static": "ONNX Runtime {onnx}, folded, exported for {size}² only",
    "onnx-any": "ONNX Runtime, the any-size file of `neuralshade export`",
}


def inference_paths_table(results: Results) -> str:
    """Milliseconds and largest difference of each way to run the bundled network."""
    p = lookup(results, "ao2d_models.inference_paths")
    onnx = ".".join(p["paths"]["onnxruntime"].split(".")[:2])
    fastest = min(path_ms(results, alias) for alias in PATH_LABELS)
    rows = []
    for alias, label in PATH_LABELS.items():
        x = inference_path(results, alias)
        diff = x["max_abs_diff"]
        rows.append(
            [
                label.format(onnx=onnx, size=p["size"], **x),
                bold(f"{x['ms']:.1f}", x["ms"] == fastest),
                "0" if diff == 0 else f"{diff:.1e}",
            ]
        )
    header = f"inference path ({NET_NAMES[p['model']]}, {p['size']}²)"
    return table([header, "ms", "largest difference from plain"], "lrr", rows)


def infer_context_table(results: Results) -> str:
    """The network's L1 on the bare image and on the padded one, over all pixels and the border."""
    r = lookup(results, "infer_context")
    labels = {
        "bare": "network on the bare image (as `neuralshade eval` runs it)",
        "padded": "network on the image padded with empty ground (`neuralshade shade`, "
        "`neuralshade.shade`)",
    }
    columns = [r["l1"], r["l1_border_band"]]
    rows = [
        [label, *(bold(f"{c[k]:.4f}", c[k] == min(c.values())) for c in columns)]
        for k, label in labels.items()
    ]
    header = ["mean L1 against the renderer", "all pixels", f"{r['band_px']} px border band"]
    return table(header, "lrr", rows)


def sdf_methods_table(results: Results) -> str:
    """Dead Reckoning's time and error against the exact field, per size."""
    sizes = lookup(results, "sdf_methods.sizes")
    near = next(k for k in sizes[0]["dr_error_px"] if k.startswith("within_"))
    rows = []
    for s in sizes:
        e, t = s["dr_error_px"], s["median_seconds"]
        rows.append(
            [
                f"{s['size']}²",
                f"{t['exact'] * 1e3:.1f}",
                f"{t['dead_reckoning'] * 1e3:.1f}",
                f"{e['all_pixels']['max']:.2f}",
                f"{e['all_pixels']['mean']:.3f}",
                f"{e[near]['max']:.2f} / {e[near]['mean']:.3f}",
                f"{100 * e['fraction_of_pixels_exact']:.1f} %",
                f"{s['dr_neighbour_step_px']['max']:.1f} px",
            ]
        )
    header = ["size", "exact ms", "Dead Reckoning ms", "DR error max (px)", "DR error mean (px)"]
    header += [
        f"within {re.sub(r'[^0-9]', '', near)} px of an edge: max / mean",
        "pixels exact",
        "largest DR jump between neighbours",
    ]
    return table(header, "lrrrrrrr", rows)


def field_description(field: dict[str, Any]) -> str:
    """A fitted field's encoding and MLP in a few words: ``hash, T=2^16, N 16..512 → 2×64 relu``."""
    enc, net = field["encoding"], field["network"]
    if enc["otype"] == "HashGrid":
        levels = f"{enc['base_resolution']}..{enc['max_resolution']}"
        inputs = f"hash, T=2^{enc['log2_hashmap_size']}, N {levels}"
    elif enc["otype"] == "Frequency":
        inputs = f"PE, {enc['n_frequencies']} freq."
    else:
        inputs = "(x, y)" if field["n_input_dims"] == 2 else "(x, y, z)"
    mlp = f"{net['n_hidden_layers']}×{net['n_neurons']} {net['activation']}"
    if net["activation"] == "sine":
        mlp += (" (SIREN init)" if net["siren_init"] else "") + f" ω₀={net['omega_0']:.2f}"
    if net["output_activation"] != "none":
        mlp += f", {net['output_activation']}"
    if enc["otype"] != "HashGrid" and field["input_scale"] != 1:
        mlp += f", inputs ×{field['input_scale']}"
    return f"{inputs} → {mlp}"


def fields_image_table(results: Results) -> str:
    """Every image-fitting preset: quality, size, JPEG at equal bytes, convergence, time."""
    rows = []
    for name, p in lookup(results, "fields_image.presets").items():
        jpeg, reached = p["jpeg_same_bytes"], p["seconds_to_30_db"]
        rows.append(
            [
                f"`{name}`",
                field_description(p["field"]),
                f"{p['psnr']:.2f} dB",
                f"{p['parameters']:,}",
                f"{p['fp16_bytes']:,}",
                f"{jpeg['psnr']:.2f} dB (q {jpeg['quality']}, {jpeg['bytes']:,} B)",
                f"{p['epochs_to_converge']} of {p['epochs']}",
                "—" if reached is None else f"{reached:.1f} s",
                f"{p['train_seconds']:.0f}",
            ]
        )
    header = ["preset", "encoding → MLP", "PSNR", "parameters", "fp16 bytes"]
    header += ["JPEG at ≤ those bytes", "epochs to converge", "30 dB after", "training s"]
    return table(header, "llrrrrrrr", rows)


def fields_sdf_table(results: Results) -> str:
    """Every SDF preset on every shape: IoU, Chamfer distance, fit time, parameters."""
    rows = [
        [
            f"`{f['preset']}`",
            f["shape"],
            f"{f['iou']:.4f}",
            f"{f['chamfer']:.4f}",
            f"{f['train_seconds']:.0f}",
            f"{f['parameters']:,}",
        ]
        for f in lookup(results, "fields_sdf.fits")
    ]
    return table(["preset", "shape", "IoU", "Chamfer", "fit s", "parameters"], "llrrrr", rows)


def fields_speed_table(results: Results) -> str:
    """Forward and training throughput of each coordinate network at each batch size."""
    rows = [
        [
            name,
            f"{x['batch']:,}",
            f"{x['forward_points_per_second'] / 1e6:.2f}",
            f"{x['train_points_per_second'] / 1e6:.2f}",
        ]
        for name, runs in lookup(results, "fields_speed.throughput").items()
        for x in runs
    ]
    header = ["network", "batch", "forward M points/s", "training M points/s"]
    return table(header, "lrrr", rows)


def cli_startup_table(results: Results) -> str:
    """Seconds each ``--help`` takes, and its ratio to ``import torch`` in the same run."""
    rows = [
        [f"`{c['command']}`", f"{c['seconds'] * 1e3:.0f}", f"{c['ratio_to_import_torch']:.3f}"]
        for c in lookup(results, "cli_startup.commands")
    ]
    torch_ms = lookup(results, "cli_startup.import_torch_seconds") * 1e3
    rows.append(['`python -c "import torch"`', f"{torch_ms:.0f}", "1"])
    return table(["command", "ms (median)", "× import torch"], "lrr", rows)


DEEP_SHADING_LABELS = {
    "ssao": "SSAO (16 samples)",
    "hbao": "HBAO (8 directions × 6 steps)",
    "gtao": "GTAO (4 slices × 2 × 8 steps)",
    "gtao_compiled": "GTAO, torch.compile",
    "deepshading": "Deep Shading's network",
    "ours": "**ours** (ShadeUNet, direct head)",
    "ours_channels_last": "ours, channels-last",
    "ours_rescaled": "ours, run at its training scale",
}
DEEP_SHADING_METHODS = ("ssao", "hbao", "gtao", "deepshading", "ours")


def deep_shading_table(results: Results) -> str:
    """Held-out room views: each method's quality, the AO rays Mitsuba needs to match its
    SSIM, and the speed-up over Mitsuba there, at the dataset's size and (at the same rays per
    pixel) at the largest size timed."""
    r = lookup(results, "deep_shading")
    race, speed = r["race"], r["speed"]
    size = str(race["size"])
    big = max(race["speedup"]["ours"], key=int)
    best = max(DEEP_SHADING_METHODS, key=lambda m: r["room"][m]["mean"]["ssim"])

    rows = []
    for m in DEEP_SHADING_METHODS:
        q = r["room"][m]["mean"]
        rows.append(
            [
                DEEP_SHADING_LABELS[m],
                bold(f"{q['ssim']:.3f}", m == best),
                f"{q['dssim']:.4f}",
                f"{q['l1']:.4f}",
                f"{q['psnr']:.1f}",
                f"{speed[size]['methods_ms'][m]:.1f}",
                matched(race["equal_quality"][m]),
                ratio(race["speedup"][m][size]),
                f"{speed[big]['methods_ms'][m]:.0f}",
                ratio(race["speedup"][m][big]),
            ]
        )
    header = ["", "SSIM", "DSSIM", "L1", "PSNR dB", f"ms {size}²", "Mitsuba rays to match",
              "faster than Mitsuba", f"ms {big}²", f"faster, {big}² ¹"]  # fmt: skip
    return table(header, "lrrrrrrrrr", rows)


def deep_shading_sizes_table(results: Results) -> str:
    """SSIM of each method on held-out room views rendered at each size."""
    r = lookup(results, "deep_shading")
    size = str(r["race"]["size"])
    sides = [size, *sorted(r["sizes"], key=int)]

    def ssim(m: str, side: str) -> float:
        means = r["room"][m]["mean"] if side == size else r["sizes"][side]["mean"][m]
        return means["ssim"]

    rows = [[DEEP_SHADING_LABELS[m], *(f"{ssim(m, s):.3f}" for s in sides)]
            for m in (*DEEP_SHADING_METHODS, "ours_rescaled")]  # fmt: skip
    views = [str(r["dataset"]["views_scored"]), *(str(r["sizes"][s]["views"]) for s in sides[1:])]
    header = ["SSIM", *(f"{s}² ({v} views)" for s, v in zip(sides, views, strict=True))]
    return table(header, "l" + "r" * len(sides), rows)



def deep_shading_scenes_table(results: Results) -> str:
    """SSIM of each method on each unseen example scene, and Mitsuba's rays to match ours."""
    r = lookup(results, "deep_shading")
    rows = []
    for scene, v in r["scenes"].items():
        shown = (*DEEP_SHADING_METHODS, "ours_rescaled")
        best = max(shown, key=lambda m: v[m]["mean"]["ssim"])
        cells = [bold(f"{v[m]['mean']['ssim']:.3f}", m == best) for m in shown]
        eq = v["race"]["equal_quality"]
        rays = [matched(eq[m]) for m in ("gtao", "ours")]
        rows.append([f"`{scene}.xml`", *cells, *rays])
    header = ["scene", "SSAO", "HBAO", "GTAO", "Deep Shading", "ours", "ours rescaled",
              "rays to match GTAO", "rays to match ours"]  # fmt: skip
    return table(header, "lrrrrrrrr", rows)


GI_LABELS = {
    "none": "none (direct light only)",
    "ambient": "ambient (k · albedo)",
    "ambient_gtao": "ambient × GTAO (k · albedo · AO)",
    "ours": "**ours** (ShadeUNet, direct head)",
    "ours_native": "ours, on the view's own pixels",
}


def deep_shading_gi_table(results: Results) -> str:
    """Held-out room views: each method's indirect light (relMSE, L1, PSNR) and the tone-mapped
    beauty it gives (SSIM, PSNR), the spp Mitsuba needs to match its relMSE and the speed-ups."""
    r = lookup(results, "deep_shading_gi")
    race, speed = r["race"], r["speed"]
    size = str(race["size"])
    big = max(speed, key=int)
    best = min(r["room"], key=lambda m: r["room"][m]["mean"]["relmse"])

    def ms(value: float) -> str:
        return f"{value:.1f}" if value >= 0.05 else "< 0.1"

    def free(m: str, side: str) -> str:  # no ratio to a method that costs next to nothing
        return "—" if speed[side]["methods_ms"][m] < 1 else ""

    rows = []
    for m, v in r["room"].items():
        q = v["mean"]
        rows.append(
            [
                GI_LABELS.get(m, m),
                bold(f"{q['relmse']:.4f}", m == best),
                f"{q['l1']:.4f}",
                f"{q['psnr']:.1f}",
                f"{q['beauty_ssim']:.3f}",
                f"{q['beauty_psnr']:.1f}",
                ms(speed[size]["methods_ms"][m]),
                matched(race["equal_quality"][m]),
                free(m, size) or ratio(race["speedup"][m][size]),
                ms(speed[big]["methods_ms"][m]),
                free(m, big) or ratio(race["speedup"][m][big]),
            ]
        )
    header = ["", "relMSE", "L1", "PSNR dB", "beauty SSIM", "beauty PSNR dB", f"ms {size}²",
              "Mitsuba spp to match", "faster than Mitsuba", f"ms {big}²",
              f"faster, {big}² ¹"]  # fmt: skip
    return table(header, "lrrrrrrrrrr", rows)


def deep_shading_gi_scenes_table(results: Results) -> str:
    """relMSE of the indirect light and SSIM of the tone-mapped beauty on each unseen scene."""
    r = lookup(results, "deep_shading_gi")
    methods = list(r["room"])
    rows = []
    for scene, v in r["scenes"].items():
        best = min(methods, key=lambda m: v[m]["mean"]["relmse"])
        rows.append(
            [f"`{scene}.xml`"]
            + [
                bold(
                    f"{v[m]['mean']['relmse']:.3f} / {v[m]['mean']['beauty_ssim']:.3f}",
                    m == best,
                )
                for m in methods
            ]
        )
    header = ["relMSE / beauty SSIM", *(GI_LABELS.get(m, m) for m in methods)]
    return table(header, "l" + "r" * len(methods), rows)



DOF_LABELS = {
    "none": "none (pinhole image)",
    "gather": "gather (48 taps)",
    "ours": "**ours** (ShadeUNet, residual on the pinhole image)",
}


def deep_shading_dof_table(results: Results) -> str:
    """Held-out room views: each DoF method's tone-mapped SSIM, PSNR and L1 against the render
    through the lens, the spp Mitsuba needs through the same lens to match its SSIM, and the
    speed-ups at the dataset's size and the largest timed."""
    r = lookup(results, "deep_shading_dof")
    race, speed = r["race"], r["speed"]
    size = str(race["size"])
    big = max(speed, key=int)
    best = max(r["room"], key=lambda m: r["room"][m]["mean"]["ssim"])

    rows = []
    for m, v in r["room"].items():
        q = v["mean"]
        timed = m in speed[size]["methods_ms"]
        rows.append(
            [
                DOF_LABELS.get(m, m),
                bold(f"{q['ssim']:.3f}", m == best),
                f"{q['psnr']:.1f}",
                f"{q['l1']:.4f}",
                matched(race["equal_quality"][m]),
                f"{speed[size]['methods_ms'][m]:.1f}" if timed else "—",
                ratio(race["speedup"][m][size]) if timed else "—",
                f"{speed[big]['methods_ms'][m]:.1f}" if timed else "—",
                ratio(race["speedup"][m][big]) if timed else "—",
            ]
        )
    header = ["", "SSIM", "PSNR dB", "L1", "Mitsuba spp to match", f"ms {size}²",
              "faster than Mitsuba", f"ms {big}²", f"faster, {big}² ¹"]  # fmt: skip
    return table(header, "lrrrrrrrr", rows)


def deep_shading_dof_scenes_table(results: Results) -> str:
    """SSIM (tone-mapped) of each DoF method on each unseen scene, with the scene's lens."""
    r = lookup(results, "deep_shading_dof")
    methods = list(r["room"])
    rows = []
    for scene, v in r["scenes"].items():
        best = max(methods, key=lambda m: v[m]["mean"]["ssim"])
        lens = v["lens"]
        rows.append(
            [f"`{scene}.xml`", f"{lens['aperture_radius']:.3g} / {lens['focus_distance']:.3g}"]
            + [bold(f"{v[m]['mean']['ssim']:.3f}", m == best) for m in methods]
        )
    header = ["SSIM", "lens radius / focus", *(DOF_LABELS.get(m, m) for m in methods)]
    return table(header, "lr" + "r" * len(methods), rows)



DENOISE_LABELS = {
    "noisy": "noisy input",
    "oidn": "OIDN, quality high",
    "oidn_balanced": "OIDN, quality balanced ²",
    "oidn_fast": "OIDN, quality fast",
    "kpcn": "KPCN (kernels 21×21)",
    "ours": "**ours** (OIDN's network fine-tuned)",
    "unet": "ours from scratch (ShadeUNet, direct head)",
    "unet_unbounded": "ours from scratch without its bound ³",
}


def denoise_table(results: Results) -> str:
    """Held-out room views: each method's relMSE (linear), PSNR and SSIM (tone-mapped) at each
    input sample count; the best relMSE of a count in bold."""
    r = lookup(results, "denoise")
    levels = list(r["room"])
    methods = list(dict.fromkeys(m for lv in levels for m in r["room"][lv]))
    best = {lv: min(r["room"][lv], key=lambda m: r["room"][lv][m]["mean"]["relmse"])
            for lv in levels}  # fmt: skip

    def cell(m: str, lv: str) -> str:
        if m not in r["room"][lv]:
            return "—"
        q = r["room"][lv][m]["mean"]
        return bold(f"{q['relmse']:.4f} / {q['psnr']:.2f} / {q['ssim']:.3f}", m == best[lv])

    rows = [[DENOISE_LABELS.get(m, m), *(cell(m, lv) for lv in levels)] for m in methods]
    header = ["relMSE / PSNR dB / SSIM", *(f"{lv} spp" for lv in levels)]
    return table(header, "l" + "r" * len(levels), rows)


def denoise_race_table(results: Results) -> str:
    """Time to equal quality: at each raced input count, the spp Mitsuba's plain render needs
    to match each method's relMSE, and its time over the method's (render + denoiser)."""
    r = lookup(results, "denoise")
    race = r["race"]
    levels = [str(n) for n in race["levels"]]
    methods = list(dict.fromkeys(m for lv in levels for m in race["equal_quality"][lv]))

    rows = []
    for m in methods:
        cells = []
        for lv in levels:
            found = race["equal_quality"][lv].get(m)
            if found is None:
                cells += ["—", "—"]
                continue
            bound = "" if found["reached"] else "≥ "  # a lower bound: not matched within the ladder
            cells += [matched(found), bound + ratio(race["speedup"][lv][m])]
        rows.append([DENOISE_LABELS.get(m, m), *cells])
    header = [""]
    for lv in levels:
        header += [f"{lv} spp in: Mitsuba spp to match", "faster than Mitsuba ¹"]
    return table(header, "l" + "r" * 2 * len(levels), rows)


def denoise_scenes_table(results: Results) -> str:
    """PSNR (tone-mapped) of each method on each unseen scene at each input count."""
    r = lookup(results, "denoise")
    every = (m for by_level in r["scenes"].values() for v in by_level.values() for m in v)
    methods = [m for m in dict.fromkeys(every) if m != "oidn_balanced"]
    rows = []
    for scene, by_level in r["scenes"].items():
        for lv, v in by_level.items():
            best = max(v, key=lambda m: v[m]["mean"]["psnr"])
            rows.append(
                [f"`{scene}.xml`", lv]
                + [bold(f"{v[m]['mean']['psnr']:.2f}", m == best) if m in v else "—"
                   for m in methods]  # fmt: skip
            )
    header = ["PSNR dB", "spp", *(DENOISE_LABELS.get(m, m) for m in methods)]
    return table(header, "lr" + "r" * len(methods), rows)


SHADOW_LABELS = {
    "input": "input (no shadow)",
    "geometric": "geometric (from the true occluder maps)",
    "geometric_attention": "geometric, from the attention block's maps (as on a user's picture)",
    "l2": "L2 U-Net (no attention, no GAN)",
    "ours": "**ours** (ARShadowGAN-like)",
    "perceptual": "ours with the perceptual term (the published loss)",
    "predicted": "the same, generator trained on the attention block's maps",
    "noadv": "ours without the adversarial term (L2 alone, with attention)",
    "ours_truemaps": "ours given the true maps (a diagnostic: its attention block's cost)",
}
SHADOW_1800_LABELS = {  # the bundles of commit 3b0ac58 and before: 1800 steps
    "l2": "L2 U-Net, 1800 steps (bundled then)",
    "ours": "**ours**, 1800 steps, with the adversarial term (bundled then)",
}
SHADOW_SCENES_LABELS = {  # benchmarks/results/shadow_scenes.json: 1000 ... 8000 scenes
    "l21000": "L2 U-Net, 1000 scenes, 10000 steps (bundled until 0248304)",
    "ours1000": "**ours**, 1000 scenes, 10000 steps (bundled until 0248304)",
    "ours1000_truemaps": "ours, 1000 scenes, given the true maps",
    "l22500": "L2 U-Net, 2500 scenes, 5000 steps",
    "ours2500": "**ours**, 2500 scenes, 5000 steps",
    "ours2500_truemaps": "ours, 2500 scenes, given the true maps",
    "l24000": "L2 U-Net, 4000 scenes, 8000 steps (bundled 755ebd5 to c9d5844)",
    "ours4000": "**ours**, 4000 scenes, 8000 steps (bundled 755ebd5 to c9d5844)",
    "ours4000_truemaps": "ours, 4000 scenes, given the true maps",
    "l28000": "L2 U-Net, 8000 scenes, 8000 steps (bundled)",
    "ours8000": "**ours**, 8000 scenes, 8000 steps (bundled)",
    "ours8000_truemaps": "ours, 8000 scenes, given the true maps",
}
SHADOW_METRICS = {
    "grmse": ("GRMSE", min), "lrmse": ("LRMSE", min), "gssim": ("GSSIM", max),
    "lssim": ("LSSIM", max), "gber": ("GBER", min), "lber": ("LBER", min),
}  # fmt: skip


def shadow_table(stem: str, labels: dict[str, str] | None = None) -> Callable[[Results], str]:
    """Held-out scenes: DESOBA's metrics of each method of ``stem``'s JSON (a run of
    benchmarks/shadow.py), named by ``labels`` over :data:`SHADOW_LABELS`; the best of each
    column in bold."""
    names = SHADOW_LABELS | (labels or {})

    def block(results: Results) -> str:
        methods = lookup(results, stem)["methods"]
        rows = []
        for m, v in methods.items():
            cells = []
            for key, (_, better) in SHADOW_METRICS.items():
                best = better(methods, key=lambda n: methods[n]["mean"][key])
                cells.append(bold(f"{v['mean'][key]:.3f}", m == best))
            rows.append([names.get(m, m), *cells])
        header = ["method", *(label for label, _ in SHADOW_METRICS.values())]
        return table(header, "l" + "r" * len(SHADOW_METRICS), rows)

    return block


PAIRED_METRICS = {"lrmse": ("LRMSE", ".2f"), "lber": ("LBER", ".3f"),
                  "grmse": ("GRMSE", ".2f"), "gber": ("GBER", ".3f")}  # fmt: skip


def paired_table(stem: str, labels: dict[str, str] | None = None) -> Callable[[Results], str]:
    """Each method of ``stem``'s JSON minus its reference (``paired.reference``), scene by
    scene: the mean difference and its 95 % bootstrap interval, in bold where the interval
    leaves out 0 (a gap the scenes' spread does not explain)."""
    names = SHADOW_LABELS | (labels or {})

    def block(results: Results) -> str:
        r = lookup(results, stem)["paired"]
        rows = []
        for m, d in r["methods"].items():
            cells = []
            for key, (_, fmt) in PAIRED_METRICS.items():
                v = d[key]
                text = f"{v['mean']:+{fmt}} [{v['low']:+{fmt}}, {v['high']:+{fmt}}]"
                cells.append(bold(text, v["low"] > 0 or v["high"] < 0))
            rows.append([names.get(m, m), *cells])
        header = [f"method − {names.get(r['reference'], r['reference'])}",
                  *(label for label, _ in PAIRED_METRICS.values())]  # fmt: skip
        return table(header, "l" + "r" * len(PAIRED_METRICS), rows)

    return block


ATTENTION_LABELS = {
    "long": "`shadow-attention-cpu`, trained 5000 steps (`--set steps=5000`)",
    "jitter": "the same with `options.colour_jitter` 0.5",
    "quarter": "a quarter of the published widths (16 … 128 channels), 10000 steps; "
    "bundled 0ad1c8a to f6bd5a0",
    "half": "half the published widths (32 … 256 channels), 18000 steps; bundled in f45dc3f",
    "twice": "the same, through its schedule once more from its best "
    "(`shadow-attention-restart-cpu`); bundled 741340d to 5fbfee9",
    "lovasz": "that, fine-tuned 5000 steps under Dice + the Lovász hinge (`--set options.lovasz=1 "
    "--set steps=5000 --set optimizer.lr=0.0001`)",
    "thrice": "the twice-trained block through its schedule a third time from its best "
    "(`shadow-attention-restart2-cpu`); bundled",
}


def attention_table(stem: str, bundled: str | None = None) -> Callable[[Results], str]:
    """The IoU of each attention block scored alone (``--attention``) in ``stem``'s JSON, on the
    scenes of the split it scored (held-out, or validation with ``--split val``), after the
    bundled model's block (labelled ``bundled``) where given; with each block's parameters
    where the JSON records them."""

    def block(results: Results) -> str:
        r = lookup(results, stem)
        sized = all("parameters" in b for b in r["attention_blocks"].values())
        mirrored = all("iou_mirrored" in b for b in r["attention_blocks"].values())
        rows = []
        if bundled:
            own = [f"{r['attention_iou'][k]:.3f}" for k in ("occluders", "occluder_shadows")]
            rows.append([bundled, *([""] if sized else []), *own,
                         *(["", ""] if mirrored else [])])  # fmt: skip
        for name, b in r["attention_blocks"].items():
            size = [f"{b['parameters'] / 1e6:.1f} M"] if sized else []
            keys = ["iou", *(["iou_mirrored"] if mirrored else [])]
            rows.append([ATTENTION_LABELS.get(name, name), *size,
                         *(f"{b[how][k]:.3f}" for how in keys
                           for k in ("occluders", "occluder_shadows"))])  # fmt: skip
        header = ["attention block", *(["parameters"] if sized else []), "IoU occluders",
                  "IoU their shadows", *(["mirror-averaged: occluders", "their shadows"]
                                         if mirrored else [])]  # fmt: skip
        return table(header, "l" + "r" * (len(header) - 1), rows)

    return block


def speed_table(stem: str, labels: dict[str, str]) -> Callable[[Results], str]:
    """Milliseconds per frame of every method of ``stem``'s JSON at every size, timed in the
    same rounds (its ``speed.<side>.methods_ms``), each method named by ``labels``."""

    def block(results: Results) -> str:
        r = lookup(results, stem)
        sides = sorted(r["speed"], key=int)
        names = list(r["speed"][sides[0]]["methods_ms"])
        rows = [
            [labels.get(n, n), *(f"{r['speed'][s]['methods_ms'][n]:.1f}" for s in sides)]
            for n in names
        ]
        return table(["ms per frame", *(f"{s}²" for s in sides)], "l" + "r" * len(sides), rows)

    return block


def cnsr_table(results: Results) -> str:
    """Held-out query views: each network's quality, its milliseconds per view, and Mitsuba's
    plain render of the same views at equal log-L1 (spp, time, the network's speed-up)."""
    r = lookup(results, "cnsr")
    rows = []
    for name, n in r["networks"].items():
        q, ms = n["quality"], n["ms_per_query_view"]
        race = n["equal_quality"]["renderers"]["mitsuba"]
        ratio = f"{race['time_ratio']:.0f}×" if race.get("time_ratio") else "not reached"
        rows.append([f"`{name}`", f"{q['log_l1']:.4f}", f"{q['psnr']:.2f}", f"{q['ssim']:.3f}",
                     f"{ms['network']:.2f}", f"{ms['generator']:.2f}", race["samples"],
                     f"{race['median_seconds'] * 1e3:.1f}", ratio])  # fmt: skip
    header = ["network", "log-L1", "PSNR dB", "SSIM", "ms per view", "ms, generator alone",
              "Mitsuba spp at equal log-L1", "Mitsuba ms", "speed-up"]  # fmt: skip
    return table(header, "lrrrrrrrr", rows)


def cnsr_composition_table(results: Results) -> str:
    """Composition against Mitsuba's render of the mixed scene: log-L1 and PSNR of the
    network's view of "A with B's factor" shaded from A's representation with that partition
    swapped in, kept as A's, or B's whole; the best of each row in bold."""
    r = lookup(results, "cnsr")
    rows = []
    for name, n in r["networks"].items():
        comp = n["composition"]
        for factor, v in comp["factors"].items():
            ways = ("swapped", "kept", "other")
            best = min(ways, key=lambda m: v[m]["log_l1"])
            cells = [bold(f"{v[m]['log_l1']:.4f} / {v[m]['psnr']:.2f}", m == best)
                     for m in ways]  # fmt: skip
            wins = (f"{v['swap_beats_kept']} / {v['swap_beats_other']} of {v['pairs']}"
                    if "pairs" in v else "")  # fmt: skip
            rows.append([f"`{name}`", factor, *cells, wins])
        u = comp["unmixed"]
        rows.append([f"`{name}`", "none (A's own view)", f"{u['log_l1']:.4f} / {u['psnr']:.2f}",
                     "", "", ""])  # fmt: skip
    header = ["network", "B's factor in A", "partition swapped", "A's kept", "B's whole",
              "pairs the swap wins (vs kept / vs B's)"]  # fmt: skip
    return table(header, "llrrrr", rows)


def cnsr_partitions_table(results: Results) -> str:
    """Each network's learned partition shares, and the share of the attribution each
    partition gets on the attributed views (mean)."""
    r = lookup(results, "cnsr")
    rows = []
    for name, n in r["networks"].items():
        sizes = n["partition_sizes"]
        shares = (n.get("attributions") or {}).get("partition_shares") or []
        mean = {f: sum(s[f] for s in shares) / len(shares) for f in sizes} if shares else {}
        rows.append([f"`{name}`", *(f"{100 * sizes[f]:.1f} %" for f in sizes),
                     *(f"{100 * mean[f]:.1f} %" if mean else "" for f in sizes)])  # fmt: skip
    header = ["network", *(f"{f} dims" for f in ("lighting", "geometry", "material")),
              *(f"{f} attribution" for f in ("lighting", "geometry", "material"))]
    return table(header, "lrrrrrr", rows)


def cnsr_train_speed_table(results: Results) -> str:
    """Each cnsr preset's training step and one query view's inference on the device the
    JSON names (synthetic batches of the preset's shape), and the hours its steps take."""
    r = lookup(results, "cnsr_train_speed_cuda")
    rows = []
    for name, p in r["presets"].items():
        parity = p.get("parity") or {}
        check = f"{parity['relative']:.0e}" if parity.get("compared") else "samples (shape)"
        rows.append([f"`{name}`", f"{p['parameters'] / 1e6:.1f} M", f"{p['size']}²",
                     f"{p['ms_per_step']:.1f}", f"{p['steps_per_second']:.1f}",
                     f"{p['preset_steps']:,}", f"{p['hours_for_preset_steps']:.1f}",
                     f"{p['peak_memory_gib']:.1f}", f"{p['infer_ms_per_view']:.2f}",
                     check])  # fmt: skip
    header = ["preset", "parameters", "views", "ms per step", "steps/s", "preset's steps",
              "hours", "peak GiB", "ms per view (inference)", "vs CPU (relative)"]  # fmt: skip
    line = paragraph(
        f"`{r['command']}` (its `--out` aside) → `benchmarks/results/"
        f"cnsr_train_speed_cuda.json`, on an {r['device']}, torch {r['machine']['torch']}"
    )
    return line + "\n\n" + table(header, "lrrrrrrrrr", rows)


LIGHT_LABELS = {
    "film": "FiLM (`condition: 4`), told (cos a, sin a, sin e)",
    "channels": "constant input channels (`condition: 0`), told (cos a, sin a, sin e)",
    "dir": "FiLM (`condition: 4`), told the unit vector towards the light",
    "light": "`ao2d-unet-light-cpu` (FiLM, bundled)",
    "fixed": "`ao2d-unet-cpu` (fixed light)",
}


def light_table(*stems: str, speed: bool = True) -> Callable[[Results], str]:
    """Per light-conditioned model of the ``stems``' JSONs: held-out L1 and PSNR, the sweep's
    mean, its highest elevation's row against the mean, and its worst cell (and that cell's
    ratio to the mean), and (``speed``) ms at 512² against the fixed model's in the same
    rounds."""

    def block(results: Results) -> str:
        rows = []
        for stem in stems:
            r = lookup(results, stem)
            top = r["sweep"]["elevations"][-1]
            for name, held in r["held_out"]["models"].items():
                sweep = r["sweep"]["models"][name]
                worst = sweep["worst_cell"]
                row = sweep["l1_grid"][-1]
                rows.append([
                    LIGHT_LABELS.get(name, name), f"{held['l1']:.4f}", f"{held['psnr']:.2f} dB",
                    f"{sweep['mean']:.4f}",
                    f"{sum(row) / len(row) / sweep['mean']:.2f}× mean ({top}°)",
                    f"{sweep['worst']:.4f} ({sweep['worst_over_mean']:.2f}× mean; "
                    f"{worst['light_azimuth']}°, {worst['light_elevation']}°)",
                ] + ([f"{r['speed']['512']['ms'][name]:.1f} "
                      f"({r['speed']['512']['over_fixed'][name]:.2f}× fixed)"]
                     if speed else []))  # fmt: skip
        header = ["model", "held-out L1", "PSNR", "sweep mean L1", "highest row", "worst cell"]
        header += ["ms at 512²"] if speed else []
        return table(header, "lrrrrr" + ("r" if speed else ""), rows)

    return block


def web_speed_table(results: Results) -> str:
    """In-browser median ms per model and size: inference alone and the whole frame."""
    r = lookup(results, "web_speed")
    sizes = [str(s) for s in r["sizes"]]
    rows = [
        [LIGHT_LABELS.get(name, f"`{name}`"),
         *(f"{m[s]['inference_ms']:.0f} / {m[s]['frame_ms']:.0f}" for s in sizes)]
        for name, m in r["models"].items()
    ]  # fmt: skip
    header = ["model (ms: inference / frame)", *(f"{s}²" for s in sizes)]
    return table(header, "l" + "r" * len(sizes), rows)


BLOCKS: dict[str, Callable[[Results], str]] = {
    "machine": machine_line,
    "render_vs_mitsuba-command": command_line("render_vs_mitsuba"),
    "render_vs_mitsuba": render_vs_mitsuba_table,
    "render_vs_mitsuba_quick": render_vs_mitsuba_quick,
    "ao2d_models-command": command_line("ao2d_models"),
    "resconv-training": resconv_training,
    "ao2d_models": ao2d_models_table,
    "inference-paths": inference_paths_table,
    "readme-models": readme_models_table,
    "infer_context-command": command_line("infer_context"),
    "infer_context": infer_context_table,
    "sdf_methods-command": command_line("sdf_methods"),
    "sdf_methods": sdf_methods_table,
    "fields_image-command": command_line("fields_image"),
    "fields_image": fields_image_table,
    "fields_sdf-command": command_line("fields_sdf"),
    "fields_sdf": fields_sdf_table,
    "fields_speed-command": command_line("fields_speed"),
    "fields_speed": fields_speed_table,
    "equal_quality-command": command_line("equal_quality"),
    "equal_quality": equal_quality_table,
    "room_costs-command": command_line("room_costs"),
    "room_dataset-command": command_line("room_dataset"),
    "room_costs": room_costs_table,
    "storage-command": command_line("storage"),
    "storage": storage_table,
    "cli_startup-command": command_line("cli_startup"),
    "cli_startup": cli_startup_table,
    "deep_shading-command": command_line("deep_shading"),
    "deep_shading": deep_shading_table,
    "deep_shading_speed": speed_table("deep_shading", DEEP_SHADING_LABELS),
    "deep_shading_sizes": deep_shading_sizes_table,
    "deep_shading_scenes": deep_shading_scenes_table,
    "deep_shading_gi-command": command_line("deep_shading_gi"),
    "deep_shading_gi": deep_shading_gi_table,
    "deep_shading_gi_scenes": deep_shading_gi_scenes_table,
    "deep_shading_gi_speed": speed_table("deep_shading_gi", GI_LABELS),
    "deep_shading_dof-command": command_line("deep_shading_dof"),
    "deep_shading_dof": deep_shading_dof_table,
    "deep_shading_dof_scenes": deep_shading_dof_scenes_table,
    "deep_shading_dof_speed": speed_table("deep_shading_dof", DOF_LABELS),
    "denoise-command": command_line("denoise"),
    "denoise": denoise_table,
    "denoise_race": denoise_race_table,
    "denoise_scenes": denoise_scenes_table,
    "denoise_speed": speed_table("denoise", DENOISE_LABELS),
    "shadow-command": command_line("shadow"),
    "shadow": shadow_table("shadow"),
    "shadow-paired": paired_table("shadow"),
    "shadow_1800-command": command_line("shadow_1800"),
    "shadow_1800": shadow_table("shadow_1800", SHADOW_1800_LABELS),
    "shadow_scenes-command": command_line("shadow_scenes"),
    "shadow_scenes": shadow_table("shadow_scenes", SHADOW_SCENES_LABELS),
    "shadow_scenes-paired": paired_table("shadow_scenes", SHADOW_SCENES_LABELS),
    "shadow_attention-command": command_line("shadow_attention"),
    "shadow_attention": attention_table(
        "shadow_attention", "`shadow-cpu` bundled until 0248304 (2500 steps)"
    ),
    "shadow_attention_width-command": command_line("shadow_attention_width"),
    "shadow_attention_width": attention_table("shadow_attention_width"),
    "shadow_attention_schedule-command": command_line("shadow_attention_schedule"),
    "shadow_attention_schedule": attention_table("shadow_attention_schedule"),
    "shadow_attention_schedule_val-command": command_line("shadow_attention_schedule_val"),
    "shadow_attention_schedule_val": attention_table("shadow_attention_schedule_val"),
    "shadow_adversarial-command": command_line("shadow_adversarial"),
    "shadow_adversarial": shadow_table("shadow_adversarial", SHADOW_1800_LABELS),
    "shadow_speed": speed_table("shadow", SHADOW_LABELS),
    # the pilot's times were taken while other work ran: its quality only
    "ao2d-light-pilot": light_table(
        "ao2d_light_pilot", "ao2d_light_pilot_vector", speed=False
    ),
    "ao2d-light": light_table("ao2d_light"),
    "web-speed": web_speed_table,
    "cnsr-command": command_line("cnsr"),
    "cnsr": cnsr_table,
    "cnsr_composition": cnsr_composition_table,
    "cnsr_partitions": cnsr_partitions_table,
    "cnsr_train_speed": cnsr_train_speed_table,
}


# ---- rewriting the docs -----------------------------------------------------------------------


def regenerate(text: str, results: Results, used: set[str]) -> tuple[str, list[str]]:
    """``text`` with every block and inline figure rewritten; and the markers that changed.

    ``used`` collects the names of the blocks found.
    """
    stale: list[str] = []

    def block(match: re.Match) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise ReportError(f"block {name!r}: no such function (known: {', '.join(BLOCKS)})")
        used.add(name)
        try:
            body = BLOCKS[name](results) + "\n"
        except (KeyError, IndexError, StopIteration) as exc:
            raise ReportError(f"block {name}: the JSON lacks {exc!r}") from None
        if body != match["body"]:
            stale.append(f"block {name}")
        return f"<!-- generated: {name} (benchmarks/report.py) -->\n{body}<!-- end generated -->"

    def inline(match: re.Match) -> str:
        body = figure(results, match["spec"])
        if body != match["body"]:
            stale.append(f"figure {match['spec']!r}: {match['body']} -> {body}")
        return f"<!-- fig: {match['spec']} -->{body}<!-- /fig -->"

    for pattern, opening in ((BLOCK, "<!-- generated:"), (FIGURE, "<!-- fig:")):
        if len(pattern.findall(text)) != text.count(opening):
            raise ReportError(f"a {opening!r} marker has no end marker, or a malformed one")
    text = BLOCK.sub(block, text)
    return FIGURE.sub(inline, text), stale


def shown(path: Path) -> str:
    """``path`` relative to the working directory where it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def report(root: Path, results_dir: Path, docs: list[str], check: bool) -> int:
    """Rewrite each doc from the JSON; with ``check``, only compare: 1 if any is stale, else 0."""
    results = load_results(results_dir)
    used: set[str] = set()
    texts = {}
    for doc in docs:
        old = (root / doc).read_text()
        try:
            texts[doc] = (old, *regenerate(old, results, used))
        except ReportError as exc:
            raise ReportError(f"{doc}: {exc}") from None
    unused = set(BLOCKS) - used
    if unused and set(docs) == set(DOCS):
        raise ReportError(f"no doc has the block(s) {', '.join(sorted(unused))}")
    status = 0
    for doc, (old, new, stale) in texts.items():
        if new == old:
            continue
        if not check:
            write_bytes(root / doc, new.encode())
            print(f"rewrote {doc}: {len(stale)} section(s) from the JSON")
            continue
        status = 1
        print(f"{doc} is stale; run python benchmarks/report.py. Stale sections:")
        for item in stale:
            print(f"  {item}")
        sys.stdout.writelines(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                f"{doc} (committed)",
                f"{doc} (from {shown(results_dir)}/*.json)",
            )
        )
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the docs are stale")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of benchmark JSON")
    parser.add_argument("--root", type=Path, default=ROOT, help="the folder the docs are under")
    parser.add_argument(
        "--docs", nargs="+", default=list(DOCS), help="docs to rewrite, relative to --root"
    )
    args = parser.parse_args(argv)
    try:
        return report(args.root, args.results, args.docs, args.check)
    except (ReportError, NeuralShadeError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
