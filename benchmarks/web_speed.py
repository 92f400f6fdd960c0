"""Milliseconds per frame of the browser page: the network in onnxruntime-web, in Chromium.

Starts ``neuralshade serve``'s application on the loopback, opens the page in headless
Chromium (Debian's ``chromium`` and ``chromium-driver``; selenium drives them) and, for every
model the page lists (``web/models/models.json``) at 256² and 512², renders ``--frames``
frames after a warm-up, moving the light a little each frame (a light-conditioned model) so
that every frame is computed. Reports the median of the inference alone (``session.run``) and
of the whole frame (mask read, tensor, inference, drawing), the backend (WebGPU where the
browser has one; headless Chromium here has none, so WebAssembly) and its thread count. Also
takes the README's screenshots of the page (``docs/images/web_page.png``, and
``web_reference.png`` with the reference render beside the network's).

    python benchmarks/web_speed.py
    python benchmarks/web_speed.py --quick     # one size, a few frames (CI's smoke run)

The JSON goes to ``benchmarks/results/web_speed.json`` (``_quick`` with ``--quick``; the
screenshots then beside it).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from common import RESULTS, record

DOCS = Path(__file__).resolve().parent.parent / "docs" / "images"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def chromium(width: int = 1400, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_script_timeout(600)
    return driver


def call(driver, script: str, *args):
    """Run an async snippet (``await`` allowed) in the page and return its value."""
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
        ".then(done, (e) => done({error: String(e)}));",
        *args,
    )
    if isinstance(result, dict) and "error" in result:
        raise RuntimeError(f"the page failed: {result['error']}")
    return result


FRAMES = """
const [frames, warmup, moves] = args;
const ns = window.neuralshade;
const inference = [], total = [];
for (let i = 0; i < warmup + frames; i++) {
  if (moves) await ns.setLight(100 + (i % 40), 40, 24); else ns.state.dirty = true;
  const t = await ns.render();
  if (i >= warmup) { inference.push(t.ms); total.push(t.totalMs); }
}
return {inference, total};
"""


def measure(
    driver, models: list[dict], sizes: list[int], frames: int, engine_warmup: int = 30,
    warmup: int = 15,
) -> dict[str, Any]:
    """Median ms per model and size, after ``warmup`` untimed frames of each. First
    ``engine_warmup`` untimed frames of the first model at the first size: the browser
    compiles WebAssembly in tiers, and without them the first model measured ran its first
    dozen frames at two to three times its later speed; a model or size just switched to took
    some ten frames to settle too."""
    out: dict[str, Any] = {}
    call(driver, "await window.neuralshade.setModel(args[0]); return 1;", models[0]["name"])
    call(driver, "await window.neuralshade.setSize(args[0]); return 1;", sizes[0])
    call(driver, FRAMES, 1, engine_warmup, len(models[0]["channels"]) > 1)
    for model in models:
        call(driver, "await window.neuralshade.setModel(args[0]); return 1;", model["name"])
        out[model["name"]] = {}
        for size in sizes:
            call(driver, "await window.neuralshade.setSize(args[0]); return 1;", size)
            moves = len(model["channels"]) > 1
            times = call(driver, FRAMES, frames, warmup, moves)
            out[model["name"]][str(size)] = {
                "inference_ms": statistics.median(times["inference"]),
                "frame_ms": statistics.median(times["total"]),
                "frames": frames,
                "inference_ms_all": times["inference"],
            }
            got = out[model["name"]][str(size)]
            print(f"{model['name']} {size}²: inference {got['inference_ms']:.1f} ms, "
                  f"frame {got['frame_ms']:.1f} ms")  # fmt: skip
    return out


def compose(driver) -> None:
    """A mask made as a person makes one: a word typed in the text field, a wave drawn with the
    mouse above it and a bar below (offsets in CSS pixels from the mask canvas's centre)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "clear").click()
    for field, value in (("text", "shade"), ("fontsize", "64")):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "addtext").click()
    mask = driver.find_element(By.ID, "mask")
    wave = ActionChains(driver).move_to_element_with_offset(mask, -100, -85).click_and_hold()
    for dy in (-25, 25, -25, 25, -25):
        wave.move_by_offset(40, dy)
    wave.release().perform()
    bar = ActionChains(driver).move_to_element_with_offset(mask, -60, 90).click_and_hold()
    bar.move_by_offset(120, 0).release().perform()
    call(driver, "await window.neuralshade.settled(); return 1;")


def screenshots(driver, folder: Path, light_model: str | None) -> dict[str, str]:
    """The page after drawing, typing and moving the light, then with the reference beside
    it."""
    call(driver, "await window.neuralshade.setSize(256); return 1;")
    compose(driver)
    if light_model:
        call(driver, "await window.neuralshade.setModel(args[0]); return 1;", light_model)
        call(driver, "await window.neuralshade.setLight(40, 35, 28); return 1;")
    page, reference = folder / "web_page.png", folder / "web_reference.png"
    if not driver.save_screenshot(str(page)):
        raise RuntimeError(f"could not save {page}")
    call(driver, "return await window.neuralshade.reference();")
    if not driver.save_screenshot(str(reference)):
        raise RuntimeError(f"could not save {reference}")
    return {"page": str(page), "reference": str(reference)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one size, a few frames")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per model and size")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    if not (CHROMIUM and DRIVER):
        print("skipped: needs chromium and chromedriver (apt install chromium chromium-driver)")
        sys.exit(0)

    from neuralshade.serve import ServeConfig, running

    out = Path(args.out or RESULTS / f"web_speed{'_quick' if args.quick else ''}.json")
    images = out.parent if args.quick else DOCS
    sizes, frames = ([256], 3) if args.quick else ([256, 512], args.frames)
    with running(ServeConfig(port=0)) as url:
        driver = chromium(1400, 900)
        try:
            driver.get(f"{url}/")
            call(driver, "await window.neuralshade.ready; return 1;")
            models = driver.execute_script("return window.neuralshade.state.models;")
            about = driver.execute_script(
                "return {backend: window.neuralshade.backend, isolated: self.crossOriginIsolated,"
                " cores: navigator.hardwareConcurrency, agent: navigator.userAgent};"
            )
            threads = driver.execute_script("return window.neuralshade.threads;")
            ort_version = driver.execute_script("return window.neuralshade.ortVersion;")
            chosen = models[:1] if args.quick else models
            warm = (2, 3) if args.quick else (30, 15)
            speeds = measure(driver, chosen, sizes, frames, *warm)
            light = next((m["name"] for m in models if len(m["channels"]) > 1), None)
            shots = screenshots(driver, images, light)
            version = driver.capabilities.get("browserVersion", "?")
        finally:
            driver.quit()
    record(out, "web_speed", args.quick, {
        "browser": f"Chromium {version} (headless)",
        "ort_version": ort_version,
        "backend": about["backend"],
        "wasm_threads": threads,
        "cross_origin_isolated": about["isolated"],
        "hardware_concurrency": about["cores"],
        "sizes": sizes,
        "models": speeds,
        "screenshots": shots,
    })  # fmt: skip


if __name__ == "__main__":
    main()
