"""The scene viewer page (/scene.html) in a real headless Chromium, on a small CNSR
checkpoint served by the real app: each frame the page shows is the server's answer for the
page's settings, a click gives a patch's attributions, the camera sliders move the view."""

import pytest
from test_serve_scene import image, scene_model  # noqa: F401  (the checkpoint fixture)
from test_web_browser import CHROMIUM, DRIVER, call, chromium

pytestmark = [
    pytest.mark.mitsuba,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromedriver"),
]


@pytest.fixture(scope="module")
def scene_server(scene_model):  # noqa: F811
    from neuralshade.serve import ServeConfig, running

    with running(ServeConfig(port=0, model=scene_model)) as url:
        yield url


def post(url: str, body: dict) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(f"{url}/v1/scene", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def test_the_viewer_shows_the_server_s_frames_and_a_patch_s_attributions(scene_server):
    driver = chromium()
    try:
        driver.get(f"{scene_server}/scene.html")
        call(driver, "await window.neuralshade.ready; return 'ok';")
        last = call(driver, "return window.neuralshade.last;")
        assert last and last["answer"]["size"] == 16, driver.get_log("browser")
        # what the page shows is what the server answers for the page's settings
        again = post(scene_server, last["body"])
        assert (image(again["prediction"]) == image(last["answer"]["prediction"])).all()
        shown = call(driver, "const img = document.getElementById('prediction');"
                     "await img.decode(); return [img.naturalWidth, img.src.slice(0, 22)];")
        assert shown == [16, "data:image/png;base64,"]
        assert len(driver.find_elements("css selector", "#observations img")) == 2

        # a click on the prediction: the patch under it, its attribution maps shown
        driver.find_element("id", "prediction").click()
        call(driver, "await window.neuralshade.frame(); return 'ok';")
        last = call(driver, "return window.neuralshade.last;")
        patch = last["body"]["patch"]
        assert patch["size"] == 2 and 6 <= patch["x"] <= 8 and 6 <= patch["y"] <= 8
        # the patch is outlined over the prediction, where it lies on the image
        box = call(driver, "const b = document.getElementById('patch-box').getBoundingClientRect();"
                   "const i = document.getElementById('prediction').getBoundingClientRect();"
                   "return [b.left - i.left, b.top - i.top, b.width, i.width,"
                   " document.getElementById('patch-box').hidden];")  # fmt: skip
        scale = box[3] / 16
        assert box[4] is False and abs(box[2] - 2 * scale) < 1.5
        assert abs(box[0] - patch["x"] * scale) < 1.5 and abs(box[1] - patch["y"] * scale) < 1.5
        names = [e.text for e in driver.find_elements("css selector", "#attributions figcaption")]
        assert names[:3] == ["partition lighting", "partition geometry", "partition material"]
        assert "query normal" in names

        # the orbit camera: its sliders drive the request
        driver.find_element("id", "own-camera").click()
        call(driver, "const s = document.getElementById('cam-azimuth'); s.value = 120;"
             "s.dispatchEvent(new Event('input')); await window.neuralshade.frame();"
             "return 'ok';")  # fmt: skip
        body = call(driver, "return window.neuralshade.last.body;")
        assert body["azimuth"] == 120 and body["distance"] == 2.25
        assert "error" not in driver.find_element("id", "status").get_attribute("class")
    finally:
        driver.quit()
