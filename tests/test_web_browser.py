"""The browser page in a real headless Chromium, served by the real app on the loopback.

Skipped where Chromium, its driver or selenium is missing (CI installs them: .ci/run). The
page is driven with real mouse and keyboard events and read back through its test hook
(``window.neuralshade``) and the canvases' pixels.

Tolerance against the server: the page runs the exported ONNX graph in onnxruntime-web's
WebAssembly, the server the torch network; both see the same 8-bit mask, and their float
outputs differ by rounding only (the export is checked to 1e-3 of the output's magnitude), so
after both are quantised to 8 bits a pixel may differ by a step or two where a value sits near
a rounding boundary: mean ≤ 0.5/255, max ≤ 4/255.
"""

import base64
import io
import shutil
import urllib.request

import numpy as np
import pytest
from PIL import Image

selenium = pytest.importorskip("selenium", reason="selenium is not installed")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs chromium and chromedriver (apt install chromium "
    "chromium-driver)",
)  # fmt: skip

MEAN_TOLERANCE = 0.5 / 255
MAX_TOLERANCE = 4 / 255


def chromium() -> "webdriver.Chrome":
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,900"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_script_timeout(180)
    return driver


@pytest.fixture(scope="module")
def server():
    from neuralshade.serve import ServeConfig, running

    with running(ServeConfig(port=0)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def call(driver, script: str, *args):
    """Run an async snippet (``await`` allowed) in the page and return its value."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
        ".then(done, (e) => done({error: String(e)}));",
        *args,
    )


def open_page(driver, url: str):
    driver.get(url)
    assert call(driver, "await window.neuralshade.ready; return 'ok';") == "ok"


def canvas(driver, element_id: str) -> np.ndarray:
    """A canvas's pixels, (H, W, 3) float in [0, 1]."""
    data = driver.execute_script(
        f"return document.getElementById('{element_id}').toDataURL('image/png');"
    )
    png = base64.b64decode(data.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float32) / 255


def server_shade(url: str, driver, model: str, light: dict | None = None) -> np.ndarray:
    """POST the page's current mask to /v1/shade: (H, W, 3) float in [0, 1]."""
    mask = base64.b64decode(call(driver, "return window.neuralshade.maskPNG();").split(",")[1])
    query = "&".join(f"{k}={v}" for k, v in {"model": model, **(light or {})}.items())
    request = urllib.request.Request(
        f"{url}/v1/shade?{query}", data=mask, headers={"Content-Type": "image/png"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"), np.float32) / 255


def page_models(driver) -> list[dict]:
    return driver.execute_script("return window.neuralshade.state.models;")


def test_drawing_typing_and_the_light_change_the_networks_image(server, browser):
    open_page(browser, server)
    before, mask_before = canvas(browser, "output"), canvas(browser, "mask")
    mask = browser.find_element(By.ID, "mask")
    (ActionChains(browser).move_to_element_with_offset(mask, -100, 110).click_and_hold()
     .move_by_offset(80, -10).move_by_offset(80, -20).release().perform())  # fmt: skip
    call(browser, "await window.neuralshade.settled(); return 1;")
    drawn = canvas(browser, "output")
    assert (canvas(browser, "mask") > mask_before).any()  # a white stroke where it was black
    assert np.abs(drawn - before).mean() > 1e-3  # the stroke and its shadow appeared

    text = browser.find_element(By.ID, "text")
    text.clear()
    text.send_keys("Hi")
    browser.find_element(By.ID, "addtext").click()
    call(browser, "await window.neuralshade.settled(); return 1;")
    typed = canvas(browser, "output")
    assert np.abs(typed - drawn).mean() > 1e-3

    conditioned = [m for m in page_models(browser) if len(m["channels"]) > 1]
    if not conditioned:
        pytest.skip("no light-conditioned model in web/models (python -m neuralshade.webmodels)")
    call(browser, "await window.neuralshade.setModel(args[0]); return 1;", conditioned[0]["name"])
    lit = canvas(browser, "output")
    # the slider, moved with the keyboard as a person would, moves the light
    slider = browser.find_element(By.ID, "azimuth")
    slider.click()
    slider.send_keys(*(["\ue012"] * 60))  # ← 60 times: 60° round
    call(browser, "await window.neuralshade.settled(); return 1;")
    assert browser.execute_script("return window.neuralshade.state.light.azimuth;") != 135
    assert np.abs(canvas(browser, "output") - lit).mean() > 1e-3
    # a drag on the image points the light at the pointer
    output = browser.find_element(By.ID, "output")
    ActionChains(browser).move_to_element_with_offset(output, 120, 0).click().perform()
    call(browser, "await window.neuralshade.settled(); return 1;")
    azimuth = browser.execute_script("return window.neuralshade.state.light.azimuth;")
    assert azimuth == pytest.approx(0, abs=2) or azimuth == pytest.approx(360, abs=2)


@pytest.mark.parametrize("which", ["fixed", "conditioned"])
def test_the_browsers_image_matches_the_servers_png(server, browser, which):
    open_page(browser, server)
    models = page_models(browser)
    pick = [m for m in models if (len(m["channels"]) > 1) == (which == "conditioned")]
    if not pick:
        pytest.skip(f"no {which} model in web/models")
    model = pick[0]
    call(browser, "await window.neuralshade.setModel(args[0]); return 1;", model["name"])
    light = None
    if which == "conditioned":
        call(browser, "await window.neuralshade.setLight(50, 45, 30); return 1;")
        light = {"light_azimuth": 50, "light_elevation": 45, "height": 30}
    assert browser.execute_script("return window.neuralshade.backend;") in ("wasm", "webgpu")
    page = canvas(browser, "output")
    served = server_shade(server, browser, model["name"], light)
    difference = np.abs(page - served)
    assert difference.mean() <= MEAN_TOLERANCE and difference.max() <= MAX_TOLERANCE, (
        difference.mean() * 255,
        difference.max() * 255,
    )


def test_the_server_fallback_shows_the_servers_image(server, browser):
    open_page(browser, f"{server}/?backend=server")
    assert browser.execute_script("return window.neuralshade.backend;") == "server"
    model = browser.execute_script("return window.neuralshade.state.model.name;")
    page = canvas(browser, "output")
    served = server_shade(server, browser, model)
    if len(browser.execute_script("return window.neuralshade.state.model.channels;")) > 1:
        light = browser.execute_script("return window.neuralshade.state.light;")
        served = server_shade(server, browser, model, {
            "light_azimuth": light["azimuth"], "light_elevation": light["elevation"],
            "height": light["height"]})  # fmt: skip
    np.testing.assert_array_equal(page, served)


def test_the_reference_is_the_renderers_and_close_to_the_network(server, browser):
    open_page(browser, server)
    mad = call(browser, "return await window.neuralshade.reference();")
    assert isinstance(mad, float) and 0 < mad < 0.03, mad
    assert browser.find_element(By.ID, "reference-figure").is_displayed()


def test_the_page_logs_no_errors(server, browser):
    open_page(browser, server)
    call(browser, "await window.neuralshade.render(); return 1;")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_the_page_answers_the_pointer_while_a_frame_is_computed(server, browser):
    """The WebAssembly provider runs in a worker: a timer on the page's thread keeps firing
    during an inference instead of waiting for it (it waited the whole inference before).

    Counted in ticks, not by the longest gap: one stall of the busy 2-core machine could
    stretch a gap past half a frame, but a blocked thread fires at most once while the frame is
    computed, a free one about every 4 ms of it."""
    open_page(browser, server)
    assert browser.execute_script("return window.neuralshade.backend;") == "wasm"
    ticks, inference = call(browser, """
        const ns = window.neuralshade;
        let ticks = 0;
        const timer = setInterval(() => { ticks += 1; }, 4);
        ns.state.dirty = true;
        const { ms } = await ns.render();
        clearInterval(timer);
        return [ticks, ms];""")  # fmt: skip
    if inference < 20:
        pytest.skip(f"a {inference:.0f} ms frame is too short to tell a blocked thread apart")
    assert ticks >= 3, (ticks, inference)


def test_without_webassembly_the_page_falls_back_to_the_server(server, browser):
    """A browser with no WebAssembly (removed before the page's scripts run) gets the server's
    image, and the page says so."""
    script = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": "delete globalThis.WebAssembly;"}
    )
    try:
        open_page(browser, server)
        assert browser.execute_script("return typeof WebAssembly;") == "undefined"
        assert browser.execute_script("return window.neuralshade.backend;") == "server"
        assert "server" in browser.find_element(By.ID, "status").text
        assert np.abs(canvas(browser, "output")).max() > 0  # the server's image was drawn
    finally:
        browser.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]}
        )
        browser.get_log("browser")  # its expected warnings are not the next test's


def test_opened_from_a_file_the_page_says_how_to_open_it(browser):
    from neuralshade.serve import page_folder

    browser.get((page_folder() / "index.html").as_uri())
    status = browser.find_element(By.ID, "status")
    assert "neuralshade serve" in status.text and "error" in status.get_attribute("class")
    browser.get_log("browser")  # the browser's refusal to load app.js from a file
