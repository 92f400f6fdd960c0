"""The ``neuralshade`` command: argument parsing only; each command calls one library function.

A :class:`~neuralshade.errors.NeuralShadeError` (or a bad option) is printed as ``error: …``
and exits with status 2; an interrupt exits with 130 and says how to resume.

It answers at once: nothing heavy (torch, numpy, pydantic) is imported before the arguments
are parsed, and only the chosen command's options are built (the render flags' help is read
from :mod:`neuralshade.render.params`'s source, see :func:`declared_fields`); each command
imports what it needs. ``benchmarks/cli_startup.py`` measures it against ``import torch``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from neuralshade.errors import ConfigError, NeuralShadeError

# the default of --max-pixels (neuralshade.imageio.DEFAULT_MAX_PIXELS, which a test keeps equal)
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024

# render flags → RenderParams keys (None: keep the default)
RENDER_FLAGS = (
    "height",
    "bevel",
    "ao_radius",
    "ao_samples",
    "ao_mode",
    "light_azimuth",
    "light_elevation",
    "softness",
    "supersample",
    "sdf_method",
)


def declared_fields(module: str, cls: str) -> dict[str, tuple[type, Any, str]]:
    """name → (type, default, description) of a config class, read from its source, unimported.

    Importing the class would import pydantic, a tenth of a second the help must not cost;
    its declarations (``name: float = Field(24.0, …, description="…")``) say all the help
    needs. Types other than float and int come back as str; a test checks this against the
    class itself.
    """
    import ast

    source = resources.files("neuralshade").joinpath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    out = {}
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Call):
            call = node.value
            words = {k.arg: k.value for k in call.keywords}
            kind = {"float": float, "int": int}.get(ast.unparse(node.annotation), str)
            default = ast.literal_eval(call.args[0]) if call.args else None
            description = ast.literal_eval(words["description"]) if "description" in words else ""
            out[node.target.id] = (kind, default, description)
    return out


def _add_render_flags(p: argparse.ArgumentParser) -> None:
    fields = declared_fields("render.params", "RenderParams")
    for key in RENDER_FLAGS:
        kind, default, description = fields[key]
        p.add_argument(
            f"--{key.replace('_', '-')}",
            dest=key,
            type=kind,
            default=None,
            help=f"{description} (default: {default})",
        )


def _render_values(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in RENDER_FLAGS if getattr(args, k) is not None}


def _names(text: str | None) -> list[str] | None:
    """A comma-separated list of names (None stays None)."""
    return None if text is None else [n for n in text.split(",") if n]


def _counts(text: str, flag: str) -> list[int]:
    """A comma-separated list of positive integers; ConfigError naming ``flag`` otherwise."""
    try:
        values = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ConfigError(f"{flag} takes positive integers separated by commas, got {text!r}")
    return values


def cmd_render(args: argparse.Namespace) -> int:
    from neuralshade.render.mitsuba.files import SCENE_SUFFIXES, render_scene_file

    scene_only = {
        "--spp": args.spp,
        "--reference-spp": args.reference_spp,
        "--reference-buffers": args.reference_buffers,
        "--size": args.size,
        "--buffers": args.buffers,
        "--max-depth": args.max_depth,
    }
    if Path(args.input).suffix.lower() in SCENE_SUFFIXES:
        mask_only = [f"--{k.replace('_', '-')}" for k in _render_values(args) if k != "ao_radius"]
        mask_only += ["--set"] * bool(args.set)
        mask_only += ["--max-pixels"] * (args.max_pixels != DEFAULT_MAX_PIXELS)
        if mask_only:
            raise ConfigError(f"{', '.join(mask_only)}: flags of mask images, not of scene files")
        options = {
            "spp": args.spp,
            "reference_spp": args.reference_spp,
            "reference_buffers": _names(args.reference_buffers),
            "size": None if args.size is None else _size(args.size),
            "buffers": _names(args.buffers),
            "max_depth": args.max_depth,
            "ao_radius": args.ao_radius,
        }
        info = render_scene_file(
            args.input,
            args.out,
            seed=args.seed,
            device=args.device,
            **{k: v for k, v in options.items() if v is not None},
        )
        w, h = info["size"]
        print(
            f"rendered {args.input} ({w}x{h}, {info['spp']} spp, {len(info['buffers'])} buffers) "
            f"in {info['seconds']:.2f} s with Mitsuba {info['mitsuba_variant']} -> {args.out}"
        )
        return 0

    given = [flag for flag, value in scene_only.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)}: flags of scene files (.xml, .json), not of masks")
    from neuralshade.config import apply_overrides
    from neuralshade.render.files import render_file
    from neuralshade.render.params import validate_params

    params = validate_params(apply_overrides(_render_values(args), args.set))
    info = render_file(
        args.input,
        args.out,
        params,
        seed=args.seed,
        device=args.device,
        max_pixels=args.max_pixels,
        quiet=args.quiet,
    )
    h, w = info["size"]
    print(
        f"rendered {args.input} ({w}x{h}) in {info['seconds']:.2f} s on {info['device']} "
        f"-> {args.out}"
    )
    return 0


def _preset_or_path(name: str) -> Path:
    """A config path, or the name of a preset shipped in neuralshade/configs."""
    path = Path(name)
    if path.exists():
        return path
    shipped = resources.files("neuralshade") / "configs" / f"{name.removesuffix('.yaml')}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    return path


def _parse_vary(items: Sequence[str]) -> dict[str, list]:
    """'key=low:high' (numbers) or 'key=r,g,b:r,g,b' (colours) → {key: [low, high]}."""
    out: dict[str, list] = {}
    for item in items:
        key, sep, span = item.partition("=")
        low, sep2, high = span.partition(":")
        if not (sep and sep2):
            raise ConfigError(
                f"--vary {item!r} must look like key=low:high (colours: key=r,g,b:r,g,b)"
            )
        try:
            ends = [[float(v) for v in end.split(",")] for end in (low, high)]
        except ValueError:
            raise ConfigError(f"--vary {item!r}: low and high must be numbers") from None
        out[key.strip()] = [e[0] if len(e) == 1 else e for e in ends]
    return out


# dataset flags of room only
ROOM_FLAGS = ("views", "spp", "spp_levels", "reference_spp", "reference_buffers", "factor_batch")


def cmd_dataset(args: argparse.Namespace) -> int:
    from neuralshade.config import apply_overrides, load_yaml
    from neuralshade.data.generate import generate, load_config, parse_shard

    values: dict[str, Any] = load_yaml(_preset_or_path(args.config)) if args.config else {}
    values.pop("task", None)
    values.pop("source", None)
    for key in ("count", "size", "seed"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.buffers is not None:
        values["buffers"] = _names(args.buffers)
    room_only = [f"--{k.replace('_', '-')}" for k in ROOM_FLAGS if getattr(args, k) is not None]
    ao2d_only = [f"--{k.replace('_', '-')}" for k in _render_values(args)]
    ao2d_only += ["--vary"] if args.vary else []
    if args.source == "shadow":
        others = [f for f in room_only + ao2d_only if f != "--spp"]
        if others:
            raise ConfigError(f"{', '.join(others)}: not shadow's flags (see --help; --set "
                              "sets any key of its config)")  # fmt: skip
        if args.spp is not None:
            values["spp"] = args.spp
    elif args.source == "room":
        if ao2d_only:
            raise ConfigError(f"{', '.join(ao2d_only)}: ao2d's flags, not room's (see --help)")
        values.update({k: getattr(args, k) for k in ROOM_FLAGS if getattr(args, k) is not None})
        if args.reference_buffers is not None:
            values["reference_buffers"] = _names(args.reference_buffers)
        if args.spp_levels is not None:
            values["spp_levels"] = _counts(args.spp_levels, "--spp-levels")
    else:
        if room_only:
            raise ConfigError(f"{', '.join(room_only)}: room's flags, not ao2d's (see --help)")
        if args.vary:
            values["vary"] = {**values.get("vary", {}), **_parse_vary(args.vary)}
        render_values = _render_values(args)
        if render_values:
            values["render"] = {**values.get("render", {}), **render_values}
    config = load_config(apply_overrides(values, args.set), source=args.source)
    shard = parse_shard(args.shard)
    start = time.perf_counter()
    summary = generate(
        args.out,
        config,
        workers=args.workers,
        shard=shard,
        device=str(_device(args.device)),
        quiet=args.quiet,
        ray=args.ray,
    )
    seconds = time.perf_counter() - start
    part = f" (shard {args.shard})" if shard != (0, 1) else ""
    print(
        f"{args.out}: rendered {summary['rendered']} samples{part}, "
        f"{summary['skipped']} already done, in {seconds:.1f} s"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from neuralshade.config import apply_overrides, load_yaml
    from neuralshade.train import load_config, train

    path = _preset_or_path(args.config)
    config = load_config(apply_overrides(load_yaml(path), args.set))
    out = args.out or str(Path("runs") / path.stem)
    summary = train(config, out, resume=args.resume, quiet=args.quiet, inputs=[path])
    if summary["val"] is not None:
        values = ", ".join(f"{k} {v:.4g}" for k, v in summary["val"].items())
        print(f"{out}: {summary['step']} steps; validation {values}; best {summary['best']}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from neuralshade.evaluate import evaluate

    r = evaluate(
        args.checkpoint,
        args.data,
        split=args.split,
        out=args.out,
        device=args.device,
        equal_quality_images=args.equal_quality_images,
        baselines=False if args.no_baselines else (_names(args.baseline) or True),
        quiet=args.quiet,
    )
    sp = r["speed"]
    h, w = r["image_size"]
    print(f"{r['images']} {r['split']} images of {w}x{h} ({r['task']}), on {sp['device']}:")
    for name, means in {"network": r["mean"], **r["baselines"]}.items():
        values = "  ".join(f"{k} {v:.4f}" for k, v in means.items())
        ms = 1e3 * sp[f"{name}_seconds"]
        print(f"  {name:<12} {values}  {ms:.1f} ms")
    eq = r.get("equal_quality")
    if eq:
        net, ref = eq["network"], eq["reference"]
        how = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ref.items() if k != "renderer")
        print(
            f"time to equal quality ({eq['metric']} {net['error']:.4f} against "
            f"{ref['renderer']} ({how}), {eq['images']} images; network "
            f"{1e3 * net['seconds']:.1f} ms):"
        )
        for name, found in eq["renderers"].items():
            if found["reached"]:
                print(
                    f"  {name:<12} {found['samples']} samples per pixel, "
                    f"{1e3 * found['median_seconds']:.0f} ms: {found['time_ratio']:.1f}x the "
                    "network's time"
                )
            else:
                best = found["samples"]
                print(f"  {name:<12} never reached: {found['error']:.4f} at best ({best} samples)")
    return 0


def cmd_scene_random(args: argparse.Namespace) -> int:
    from neuralshade.outputs import check_outputs
    from neuralshade.scenes.model import Film, save_scene
    from neuralshade.scenes.room import OBJECTS, random_room

    width, height = _size(args.size)
    out = Path(args.out)
    check_outputs(out.parent, [out])
    scene = random_room(args.seed, args.index, args.views, film=Film(width=width, height=height))
    save_scene(scene, out)
    objects = [s.id for s in scene.shapes if s.id in {o[0] for o in OBJECTS}]
    print(f"{out}: PrimitiveRoom seed {args.seed} index {args.index}, {args.views} view(s), "
          f"{width}x{height}, objects: {', '.join(objects) or 'none'}")  # fmt: skip
    return 0


def _size(text: str) -> tuple[int, int]:
    """'W' or 'WxH' → (W, H), positive."""
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        raise ConfigError(f"--size must look like 128 or 160x120, got {text!r}") from None
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise ConfigError(f"--size must be one or two positive integers (WxH), got {text!r}")
    return (parts[0], parts[-1])


def cmd_tasks(args: argparse.Namespace) -> int:
    from neuralshade.catalog import tasks

    for t in tasks():
        print(f"{t['name']}: {t['description']}")
        print(f"  source     {t['source']}")
        print(f"  inputs     {', '.join(t['inputs'])}")
        print(f"  targets    {', '.join(t['targets'])}")
        print(f"  networks   {', '.join(t['networks'])}")
        print(f"  metrics    {', '.join(t['metrics'])}")
        print(f"  baselines  {', '.join(t['baselines']) or '-'}")
        print(f"  presets    {', '.join(t['presets']) or '-'}")
        print(f"  bundled    {', '.join(t['bundled']) or '-'}")
    return 0


def cmd_shade(args: argparse.Namespace) -> int:
    import statistics

    from neuralshade.shading import shade_files

    def log(line: str) -> None:
        if line.startswith("failed: "):  # failures always show, on stderr
            print(f"error: {line.removeprefix('failed: ')}", file=sys.stderr)
        elif not args.quiet:
            print(line)

    result = shade_files(
        args.inputs,
        args.out,
        args.model,
        device=args.device,
        tile=args.tile,
        max_pixels=args.max_pixels,
        log=log,
        light_azimuth=args.light_azimuth,
        light_elevation=args.light_elevation,
        height=args.height,
    )
    done, failed = result["done"], result["failed"]
    if done:
        ms = statistics.median(t for _, _, t in done)
        images = "image" if len(done) == 1 else "images"
        print(f"shaded {len(done)} {images} into {args.out}: {ms:.1f} ms per image (median)")
    if failed:
        print(f"error: {len(failed)} of {len(done) + len(failed)} inputs failed", file=sys.stderr)
        return 1 if done else 2  # 1: some were shaded; 2: none could be
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    import statistics

    from neuralshade.denoise import denoise_files

    def log(line: str) -> None:
        if line.startswith("failed: "):  # failures and repairs always show, on stderr
            print(f"error: {line.removeprefix('failed: ')}", file=sys.stderr)
        elif line.startswith("warning: "):
            print(line, file=sys.stderr)
        elif not args.quiet:
            print(line)

    result = denoise_files(
        args.inputs,
        args.out,
        albedo=args.albedo,
        normal=args.normal,
        model=args.model,
        quality=args.quality,
        hdr=args.hdr,
        spp=args.spp,
        fmt=args.format,
        max_pixels=args.max_pixels,
        log=log,
    )
    done, failed = result["done"], result["failed"]
    if len(done) + len(failed) > 1 and done:
        ms = statistics.median(d["milliseconds"] for d in done)
        images = "image" if len(done) == 1 else "images"
        print(f"denoised {len(done)} {images} into {args.out}: {ms:.1f} ms per image (median)")
    if failed:
        print(f"error: {len(failed)} of {len(done) + len(failed)} inputs failed", file=sys.stderr)
        return 1 if done else 2  # 1: some were denoised; 2: none could be
    return 0


def cmd_shadow(args: argparse.Namespace) -> int:
    from neuralshade.shadowing import shadow_file

    start = time.perf_counter()
    out = shadow_file(args.image, args.mask, args.out, model=args.model,
                      device=str(_device(args.device)))  # fmt: skip
    if not args.quiet:
        print(f"wrote {out} ({(time.perf_counter() - start) * 1000:.0f} ms)")
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    from neuralshade.infer import infer_folder

    r = infer_folder(
        args.model,
        args.folder,
        args.out,
        device=args.device,
        tile=args.tile,
        rescale=not args.native_scale,
    )
    w, h = r["size"]
    scale = f", run at 1/{r['scale']:.2f} scale" if r["scale"] != 1 else ""
    print(
        f"{r['task']}: {', '.join(r['inputs'])} -> {', '.join(r['targets'])} ({w}x{h}{scale}) "
        f"in {r['milliseconds']:.1f} ms on {r['device']} -> {args.out}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from neuralshade.serve import serve

    options = {k: getattr(args, k) for k in SERVE_OPTIONS}
    serve(args.host, args.port, log_level=args.log_level, **options)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from neuralshade.demo import demo

    r = demo(args.text, args.out, model=args.model, device=args.device)
    h, w = r["size"]
    print(f"{args.text!r} ({w}x{h}) on {r['device']} -> {args.out}/comparison.png")
    print(f"  network      {r['network_ms']:9.1f} ms")
    print(f"  renderer     {r['renderer_ms']:9.1f} ms")
    print(f"  speed-up     {r['speedup']:9.1f} x")
    print(f"  L1           {r['l1']:9.4f}")
    print(f"  PSNR         {r['psnr']:9.2f} dB")
    print(f"  SSIM         {r['ssim']:9.4f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from neuralshade.export import export_onnx

    r = export_onnx(
        args.checkpoint, args.onnx, network=args.network, opset=args.opset, check=not args.no_check
    )
    checked = (
        f"; onnxruntime matches torch within {r['max_abs_diff']:.1e} at {r['sizes_checked']}"
        if r.get("max_abs_diff") is not None
        else ""
    )
    dynamic = "points" if len(r["trace_shape"]) == 2 else "batch, height and width"
    print(f"wrote {r['path']} (opset {r['opset']}, dynamic {dynamic}){checked}")
    return 0


def cmd_fit_image(args: argparse.Namespace) -> int:
    from neuralshade.fields.image import fit_image, load_config, sample_image

    overrides = list(args.set) + ([f"epochs={args.epochs}"] if args.epochs is not None else [])
    config = load_config(args.preset, overrides)
    image = sample_image(args.image)
    out = args.out or str(Path("fits") / f"{Path(args.image).stem}-{Path(args.preset).stem}")
    s = fit_image(image, config, out, resume=args.resume, quiet=args.quiet)
    jpeg = s["jpeg_same_bytes"]
    reached = s["seconds_to_30_db"]
    print(f"{args.image} with {args.preset} -> {out}/reconstruction.png")
    print(f"  PSNR           {s['psnr']:8.2f} dB after {s['epochs']} epochs")
    print(f"  parameters     {s['parameters']:8d} ({s['fp16_bytes']} bytes in fp16)")
    print(
        f"  JPEG           {jpeg['psnr']:8.2f} dB at {jpeg['bytes']} bytes "
        f"(quality {jpeg['quality']})"
    )
    print(
        f"  converged      epoch {s['epochs_to_converge']} (within {s['converged_within_db']} dB)"
    )
    print(f"  30 dB after    {'never' if reached is None else f'{reached:.1f} s'}")
    print(f"  training       {s['train_seconds']:8.1f} s")
    return 0


def cmd_fit_sdf(args: argparse.Namespace) -> int:
    from neuralshade.fields.distance import fit_sdf, load_config

    overrides = list(args.set) + ([f"steps={args.steps}"] if args.steps is not None else [])
    config = load_config(args.preset, overrides)
    out = args.out or str(Path("fits") / f"{Path(args.shape).stem}-{Path(args.preset).stem}")
    s = fit_sdf(args.shape, config, out, resume=args.resume, quiet=args.quiet)
    print(f"{args.shape} with {args.preset} -> {out}/render.png, {out}/mesh.ply")
    print(f"  IoU            {s['iou']:8.4f}")
    print(f"  Chamfer        {s['chamfer']:8.5f} (the cube is [-1, 1]^3)")
    print(f"  parameters     {s['parameters']:8d}")
    print(f"  fit            {s['train_seconds']:8.1f} s ({s['steps']} steps)")
    return 0


def _device(name: str) -> Any:
    from neuralshade.devices import resolve_device

    return resolve_device(name)


def _add_device(p: argparse.ArgumentParser, default: str = "auto") -> None:
    p.add_argument(
        "--device", default=default, help=f"auto, cpu, cuda or cuda:N (default: {default})"
    )


def _add_max_pixels(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images (default: {DEFAULT_MAX_PIXELS})",
    )


def _add_quiet(p: argparse.ArgumentParser, text: str = "no progress bar") -> None:
    p.add_argument("--quiet", action="store_true", help=text)


def _add_set(p: argparse.ArgumentParser, example: str) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a setting, e.g. --set {example} (repeatable)",
    )


def _render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input",
        help="a mask image (any format and mode PIL reads), or a 3D scene: Mitsuba 3 .xml or "
        "neuralshade .json (neuralshade scene random)",
    )
    p.add_argument("-o", "--out", required=True, help="output directory")
    _add_render_flags(p)
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default: 0)")
    _add_device(p)
    _add_max_pixels(p)
    _add_set(p, "ambient=0.5")
    _add_quiet(p)
    scene = p.add_argument_group(
        "scene files only",
        "A scene is rendered from its first camera with Mitsuba 3 (CPU: llvm_ad_rgb, GPU: "
        "cuda_ad_rgb) into OUTDIR: <buffer>.exr for every G-buffer, beauty.png, "
        "contact_sheet.png and params.json. --seed, --device and --ao-radius (world units; "
        "default for a scene: 1.0) apply too.",
    )
    scene.add_argument("--spp", type=int, help="samples per pixel of the G-buffers (default: 64)")
    scene.add_argument(
        "--reference-spp",
        type=int,
        help="also a converged pass at this many samples: <buffer>_reference.exr for each of "
        "--reference-buffers (default: none)",
    )
    scene.add_argument(
        "--reference-buffers",
        help="buffers of the converged pass, comma-separated: beauty or any G-buffer but the "
        "variances (default: beauty)",
    )
    scene.add_argument("--size", help="film size W or WxH, overriding the scene's (default: its)")
    scene.add_argument(
        "--buffers",
        help="G-buffers, comma-separated: beauty, beauty_variance, position, normal, depth, id, "
        "albedo, roughness, direct, indirect, diffuse, specular, mirror, mirror_hit, "
        "mirror_normal, shadows, ao, diffuse_variance, specular_variance, albedo_variance, "
        "normal_variance, depth_variance (default: all but the last five)",
    )
    scene.add_argument("--max-depth", type=int, help="longest path, as Mitsuba counts (default: 5)")
    p.set_defaults(func=cmd_render)


def _dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        choices=["ao2d", "room", "shadow"],
        help="the source: ao2d (masks and their heightfield renders), room (PrimitiveRoom "
        "views on Mitsuba 3: every G-buffer, noisy and converged) or shadow (objects on "
        "textured ground: ARShadowGAN's quintuples with exact masks, on Mitsuba 3)",
    )
    p.add_argument("--out", required=True, help="dataset directory")
    p.add_argument("--config", help="YAML dataset config, or a shipped preset name (ao2d-data)")
    p.add_argument(
        "--count", type=int, help="samples (room: scenes) (default: 1000; room 250; shadow 1000)"
    )
    p.add_argument(
        "--size", type=int, help="image side in pixels (default: 256; room 64; shadow 128)"
    )
    p.add_argument("--seed", type=int, help="dataset seed (default: 0)")
    p.add_argument(
        "--buffers",
        help="float buffers to save too, comma-separated: ao2d: ao,shadow,height,normal,sdf "
        "(default: none); room: its G-buffers (default: all)",
    )
    room = p.add_argument_group("room only")
    room.add_argument("--views", type=int, help="views per scene (default: 4)")
    room.add_argument(
        "--spp", type=int, help="samples per pixel of the noisy pass (default: 4); shadow: of "
        "its two renders (default: 64)",
    )
    room.add_argument(
        "--spp-levels",
        help="lower sample counts also stored from the noisy pass, comma-separated, each "
        "noisy buffer as <name>_<n>spp (denoising: --spp 64 --spp-levels 1,4,16) "
        "(default: none)",
    )
    room.add_argument(
        "--reference-spp", type=int, help="samples per pixel of the reference (default: 1024)"
    )
    room.add_argument(
        "--reference-buffers",
        help="buffers of the reference pass, stored as <name>_reference, comma-separated: "
        "beauty or any G-buffer but the variances (default: beauty,albedo,normal,ao,direct,"
        "indirect)",
    )
    room.add_argument(
        "--factor-batch",
        type=int,
        help="scenes per factor-varied group: each varies lighting, geometry or material "
        "alone (test groups: all random) (default: 0, every scene random)",
    )
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=LOW:HIGH",
        help="vary a scene parameter per sample, e.g. light_azimuth=0:360 "
        "(colours: ground_color=r,g,b:r,g,b; repeatable)",
    )
    _add_render_flags(p)
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="render on a Ray cluster: its address, or nothing (auto) to join this machine's "
        "or start a local one; same bytes as one process (pip install 'neuralshade[ray]')",
    )
    p.add_argument("--shard", default="0/1", help="render only part i of n, as i/n (default: 0/1)")
    _add_device(p, "cpu")
    _add_set(p, "masks.items_max=12")
    _add_quiet(p)
    p.set_defaults(func=cmd_dataset)


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML training config or a shipped preset name")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_set(p, "steps=500")
    _add_quiet(p)
    p.set_defaults(func=cmd_train)


def _eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="NAME.safetensors (beside its NAME.json)")
    p.add_argument("--data", required=True, help="dataset directory")
    p.add_argument(
        "--split",
        default="test",
        choices=["train", "val", "test", "all"],
        help="which split (default: test)",
    )
    p.add_argument(
        "--out",
        help="output directory (default: eval-SPLIT beside the checkpoint; for a bundled "
        "model, eval-MODEL-SPLIT here)",
    )
    p.add_argument(
        "--equal-quality-images",
        type=int,
        default=4,
        metavar="N",
        help="race the task's renderers to the network's error on the first N images "
        "(default: 4; 0: skip)",
    )
    baselines = p.add_mutually_exclusive_group()
    baselines.add_argument(
        "--baseline",
        help="the baselines to run beside the network, comma-separated (default: all the "
        "task's for the checkpoint, `neuralshade tasks` lists them; deep-shading: "
        "ssao,hbao,gtao for AO, gather for depth of field)",
    )
    baselines.add_argument("--no-baselines", action="store_true", help="skip the baselines")
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_eval)


def _shade_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument(
        "--model",
        default=None,
        help="bundled model name or checkpoint path (default: ao2d-unet-cpu; with a light of "
        "your own, ao2d-unet-light-cpu)",
    )
    light = p.add_argument_group(
        "light", "a light of your own (the light-conditioned model; each left out keeps the "
        "default: azimuth 135, elevation 30, height 24)",
    )  # fmt: skip
    light.add_argument(
        "--light-azimuth", type=float, default=None, metavar="DEG",
        help="degrees counter-clockwise on screen from +x (135: from the top left)",
    )  # fmt: skip
    light.add_argument(
        "--light-elevation", type=float, default=None, metavar="DEG",
        help="degrees above the ground (ao2d-unet-light-cpu: 20 to 70)",
    )  # fmt: skip
    light.add_argument(
        "--height", type=float, default=None, metavar="PX",
        help="height of the shapes in pixels (ao2d-unet-light-cpu: 12 to 36)",
    )  # fmt: skip
    _add_device(p)
    _add_tile(p)
    _add_max_pixels(p)
    _add_quiet(p, "print only the summary")
    p.set_defaults(func=cmd_shade)


def _shadow_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="the picture with the object pasted in (PNG, JPEG, …)")
    p.add_argument(
        "--mask", required=True,
        help="the object's pixels, white on black, the picture's size (grey values are "
        "thresholded at 0.5, with a warning)",
    )  # fmt: skip
    p.add_argument("-o", "--out", required=True, help="the output picture (.png)")
    p.add_argument(
        "--model", default="shadow-cpu",
        help="a bundled model (shadow-cpu) or a checkpoint of the task shadow "
        "(default: shadow-cpu)",
    )  # fmt: skip
    _add_device(p, "auto")
    _add_quiet(p)
    p.set_defaults(func=cmd_shadow)


def _denoise_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="COLOR",
        help="noisy images (.exr, .pfm, .png), render folders (beauty.exr with its albedo.exr "
        "and normal.exr), folders of them, or glob patterns",
    )
    p.add_argument(
        "-o",
        "--out",
        required=True,
        help="the output file for one input (its extension picks the format: .exr, .pfm, "
        ".png); the output folder for several",
    )
    p.add_argument("--albedo", help="the albedo image of a single COLOR (first-hit reflectance)")
    p.add_argument("--normal", help="the normal image of a single COLOR (needs --albedo)")
    p.add_argument(
        "--model",
        default="oidn",
        help="denoiser: oidn (Intel Open Image Denoise), a bundled network of ours (denoise-cpu: "
        "OIDN's network fine-tuned on rooms; denoise-unet-cpu) or a checkpoint of the task "
        "denoise (default: oidn)",
    )
    p.add_argument(
        "--quality",
        default="high",
        choices=["high", "balanced", "fast"],
        help="OIDN's quality (default: high; a network of ours has one)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--hdr",
        dest="hdr",
        action="store_const",
        const=True,
        default=None,
        help="the colour is linear HDR radiance (default for .exr and .pfm)",
    )
    mode.add_argument(
        "--ldr",
        dest="hdr",
        action="store_const",
        const=False,
        help="the colour is LDR, in [0, 1] once linear (default for .png)",
    )
    p.add_argument(
        "--spp",
        type=int,
        default=None,
        help="samples per pixel of the input, for denoisers that use it (OIDN does not)",
    )
    p.add_argument(
        "--format",
        choices=["exr", "pfm", "png"],
        default=None,
        help="output format for several inputs (default: each input's own)",
    )
    _add_max_pixels(p)
    _add_quiet(p, "print only errors, warnings and the summary")
    p.set_defaults(func=cmd_denoise)


def _add_tile(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile side for large images (default: tiles of 1024 above 2048x2048)",
    )


def _infer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="bundled model name or checkpoint path")
    p.add_argument("folder", help="a folder `neuralshade render SCENE` wrote (its buffers)")
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument(
        "--native-scale",
        action="store_true",
        help="run the network on the view's own pixels; by default a view finer than the "
        "model's training views (focal length in pixels, from params.json) is run at the "
        "training scale and its output resized back",
    )
    _add_device(p)
    _add_tile(p)
    p.set_defaults(func=cmd_infer)


# serve's options beyond --host and --port, as neuralshade.serve.ServeConfig names them (a
# test keeps the defaults equal)
SERVE_OPTIONS = ("model", "device", "max_upload_mb", "max_pixels", "max_render_pixels",
                 "timeout", "workers", "queue", "web")  # fmt: skip


def _serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens "
        "it to the network)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    p.add_argument(
        "--model",
        default=None,
        help="default model of /v1/shade and /v1/render: a bundled model or a checkpoint path "
        "(default: ao2d-unet-cpu; with a light of the request's own, ao2d-unet-light-cpu)",
    )
    _add_device(p, "cpu")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=20.0,
        metavar="MB",
        help="largest request body, in MB (default: 20)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=4096 * 4096,
        help="largest image, width × height (default: 4096×4096)",
    )
    p.add_argument(
        "--max-render-pixels",
        type=int,
        default=512 * 512,
        help="largest image /v1/render takes (default: 512×512)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds a request may take (default: 30; then 503 or 504)",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="threads running the computations (default: 2)"
    )
    p.add_argument(
        "--queue",
        type=int,
        default=16,
        help="requests that may wait for a thread; more get 503 (default: 16)",
    )
    p.add_argument(
        "--web",
        default=None,
        metavar="DIR",
        help="folder of the browser page (default: the installed neuralshade/web)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: info)",
    )
    p.set_defaults(func=cmd_serve)


def _demo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", default="hello world", help='text to draw (default: "hello world")')
    p.add_argument("--out", default="demo", help="output directory (default: demo)")
    p.add_argument("--model", default=None, help="bundled model name or checkpoint path")
    _add_device(p)
    p.set_defaults(func=cmd_demo)


def _export_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="NAME.safetensors (beside its NAME.json)")
    p.add_argument("--onnx", required=True, help="output .onnx path")
    p.add_argument(
        "--network",
        default=None,
        help="which network of a checkpoint that holds several (a GAN's generator)",
    )
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 20)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime parity check")
    p.set_defaults(func=cmd_export)


def _scene_options(p: argparse.ArgumentParser) -> None:
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = what.add_parser(
        "random",
        help="a random PrimitiveRoom as a scene JSON",
        description="Draw a PrimitiveRoom (CNSR's distributions) from --seed and --index and "
        "write it as a scene JSON that `neuralshade render` renders.",
    )
    p.add_argument("-o", "--out", required=True, help="the scene JSON to write")
    p.add_argument("--seed", type=int, default=0, help="the seed (default: 0)")
    p.add_argument("--index", type=int, default=0, help="which scene of the seed (default: 0)")
    p.add_argument("--views", type=int, default=1, help="cameras in the scene (default: 1)")
    p.add_argument("--size", default="128", help="film size, W or WxH (default: 128)")
    p.set_defaults(func=cmd_scene_random)


def _fit_options(p: argparse.ArgumentParser) -> None:
    fit = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = fit.add_parser(
        "image",
        help="fit (x, y) -> (r, g, b) to an image",
        description="Fit a field network to IMAGE; write the reconstruction, PSNR per epoch "
        "(JSON and plot), the JPEG of the same size, the network outside its domain, and a "
        "checkpoint. A killed fit continues with --resume.",
    )
    p.add_argument(
        "image",
        help="an image file, or a photograph shipped with scikit-image: "
        "astronaut, camera, coffee, chelsea, rocket",
    )
    p.add_argument(
        "--preset",
        default="hash-fast",
        help="fit-image preset name (relu, relu-sigmoid, relu-pe, sine-pe, siren-pe, "
        "gaussian-pe, hash-t1024, hash-t4096, hash-fast; default hash-fast) or a YAML file",
    )
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--out", default=None, help="output directory (default: fits/IMAGE-PRESET)")
    p.add_argument("--resume", action="store_true", help="continue the fit in --out")
    _add_set(p, "lr=0.005")
    _add_quiet(p)
    p.set_defaults(func=cmd_fit_image)

    p = fit.add_parser(
        "sdf",
        help="fit (x, y, z) -> signed distance to a shape",
        description="Fit a field network to the signed distance of SHAPE; write a sphere-"
        "traced render beside the true shape, the marching-cubes mesh, IoU and Chamfer "
        "distance against the true shape, and a checkpoint. --resume continues a killed fit.",
    )
    p.add_argument(
        "shape",
        help="a mesh file (OBJ, PLY, STL; watertight) or a built-in shape: sphere, box, "
        "torus, capsule, box_minus_sphere",
    )
    p.add_argument(
        "--preset", default="hash", help="fit-sdf preset (hash, siren; default hash) or a YAML file"
    )
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--out", default=None, help="output directory (default: fits/SHAPE-PRESET)")
    p.add_argument("--resume", action="store_true", help="continue the fit in --out")
    _add_set(p, "batch_size=4096")
    _add_quiet(p)
    p.set_defaults(func=cmd_fit_sdf)


# name → (add_parser's help and description, the function adding the command's options)
COMMANDS: dict[str, tuple[dict[str, str], Callable[[argparse.ArgumentParser], None]]] = {
    "render": (
        dict(
            help="render a mask image (ao2d) or a 3D scene (.xml/.json) to its buffers",
            description="Render INPUT. A mask image (white shapes on black) becomes extruded "
            "solids on a plane with AO, soft shadows and Phong lighting: beauty.png, "
            "ao/shadow/height/normal/sdf .npy and params.json. A 3D scene (Mitsuba 3 XML or "
            "a neuralshade scene JSON) is rendered by Mitsuba 3 with every G-buffer in one "
            "pass: <buffer>.exr, beauty.png, contact_sheet.png and params.json.",
        ),
        _render_options,
    ),
    "dataset": (
        dict(
            help="generate a dataset of a source (ao2d: mask → reference render)",
            description="Render SOURCE's samples (ao2d: random masks and their reference "
            "renders). "
            "Resumable: run the same command again to finish an interrupted dataset.",
        ),
        _dataset_options,
    ),
    "train": (
        dict(
            help="train a network from a YAML config",
            description="Train per CONFIG (a YAML file or a shipped preset name, "
            "e.g. ao2d-unet-cpu). Checkpoints, history and TensorBoard events go "
            "to the run directory; --resume continues a stopped run exactly.",
        ),
        _train_options,
    ),
    "eval": (
        dict(
            help="evaluate a checkpoint against its baselines and its renderer",
            description="Run CHECKPOINT on whole images of a dataset split; report its "
            "task's metrics for the network and the baselines, and the time to equal "
            "quality: the samples per pixel (and time) at which the renderers reach the "
            "network's error; write metrics.json and sheet.png.",
        ),
        _eval_options,
    ),
    "tasks": (
        dict(
            help="list the tasks: inputs, targets, presets, bundled models, baselines",
            description="List every registered task with its source, input and target "
            "buffers, networks, metrics, baselines, shipped presets and bundled models.",
        ),
        lambda p: p.set_defaults(func=cmd_tasks),
    ),
    "shade": (
        dict(
            help="shade images with a trained network (milliseconds)",
            description="Shade white-on-black images (any size; photos are read as "
            "luminance) with a trained network. Writes OUT/<name>.png for each input; "
            "bad inputs are reported and skipped, and the exit status is 1 if any "
            "failed.",
        ),
        _shade_options,
    ),
    "denoise": (
        dict(
            help="denoise rendered images (EXR, PFM, PNG; Open Image Denoise)",
            description="Denoise noisy renders, as Open Image Denoise's oidnDenoise does: "
            "COLOR with its optional --albedo and --normal, or render folders (their "
            "beauty.exr with albedo.exr and normal.exr). EXR and PFM are denoised as HDR, PNG "
            "as LDR (through the sRGB curve); NaN, infinite and negative pixels are repaired, "
            "with a warning. One input: -o is the output file; several: a folder.",
        ),
        _denoise_options,
    ),
    "shadow": (
        dict(
            help="give an object pasted into a picture its shadow (ARShadowGAN-like)",
            description="IMAGE is a picture with an object pasted in, --mask the object's "
            "pixels (white on black); write the picture with the object's shadow on the "
            "ground, consistent with the shadows already there, to OUT (.png). A picture "
            "larger than the model's training size runs at that size, and the shadow is "
            "enlarged back onto the full picture.",
        ),
        _shadow_options,
    ),
    "infer": (
        dict(
            help="apply a G-buffer model to a render folder (milliseconds)",
            description="Run a trained model (a bundled name or a checkpoint) on the buffers "
            "of a folder `neuralshade render SCENE` wrote: the model's inputs are read by "
            "name (<name>.exr) or derived (camera-space buffers, from the camera in "
            "params.json). Writes OUT/<target>.exr, a PNG of it and infer.json.",
        ),
        _infer_options,
    ),
    "serve": (
        dict(
            help="serve the HTTP API and the browser page (FastAPI + uvicorn)",
            description="Serve /v1/shade, /v1/render, /v1/denoise, /v1/shadow, /v1/scene, "
            "/v1/infer, /v1/models and /healthz, the interactive API documentation at /docs "
            "and the browser pages at / and /scene.html (the scene viewer), on this machine "
            "only unless --host says otherwise. Needs: pip install 'neuralshade[serve]'.",
        ),
        _serve_options,
    ),
    "demo": (
        dict(
            help="text shaded by the network and by the renderer, compared",
            description="Draw TEXT white on black, shade it with the bundled network "
            "and render it with the reference renderer; write the images and a "
            "comparison with an error map, and print the timings and metrics.",
        ),
        _demo_options,
    ),
    "export": (
        dict(
            help="export a checkpoint to ONNX (dynamic height and width)",
            description="Export CHECKPOINT to ONNX with dynamic batch, height and "
            "width, and check onnxruntime's output against torch's at a size other "
            "than the traced one. Needs: pip install 'neuralshade[onnx]'.",
        ),
        _export_options,
    ),
    "scene": (
        dict(
            help="make 3D scenes (a random PrimitiveRoom)",
            description="Make 3D scenes as JSON (neuralshade.scenes).",
        ),
        _scene_options,
    ),
    "fit": (
        dict(
            help="fit a coordinate network to an image or a shape",
            description="Represent a signal as a small network over coordinates.",
        ),
        _fit_options,
    ),
}


class Parser(argparse.ArgumentParser):
    """argparse, with its complaints in this package's form: ``error: …``, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class _Version(argparse.Action):
    """--version, reading the installed version only when asked (it costs a metadata scan)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        import neuralshade

        print(neuralshade.__version__)
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``command``, only that command's options are built.

    The other commands then answer only to their name and help line (all that
    ``neuralshade --help`` shows), so parsing costs no imports it does not need.
    """
    parser = Parser(
        prog="neuralshade",
        description="Learn expensive rendering effects from cheap inputs; render the ground truth.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (texts, add_options) in COMMANDS.items():
        p = sub.add_parser(name, **texts)
        if command is None or command == name:
            add_options(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = argv[0] if argv and argv[0] in COMMANDS else ""
    try:
        args = build_parser(chosen).parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (already reported)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except NeuralShadeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the last line of defence: a file-system problem, in words
        from neuralshade.imageio import describe_os_error

        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resumable = args.command in ("train", "fit") and not getattr(args, "resume", False)
        again = "the same command with --resume" if resumable else "it again"
        print(f"interrupted: finished files are kept; run {again} to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
