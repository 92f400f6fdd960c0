"""`neuralshade serve`: each endpoint gives what the library gives, every bad request is a 4xx
JSON error (never a traceback), and the limits, the timeout and the page's headers hold."""

import io
import logging
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import neuralshade
from neuralshade import checkpoint, serve, shading
from neuralshade.cli import SERVE_OPTIONS, build_parser
from neuralshade.data.sources.ao2d import LIGHT_INPUT
from neuralshade.errors import ConfigError
from neuralshade.imageio import to_uint8
from neuralshade.infer import bundled_models, model_path
from neuralshade.masks import image_to_mask
from neuralshade.models import build
from neuralshade.pfm import read_pfm, write_pfm
from neuralshade.render.heightfield import render
from neuralshade.render.params import RenderParams
from neuralshade.serve import ServeConfig, create_app

VARY = {"light_azimuth": [0, 360], "light_elevation": [20, 70], "height": [12, 36]}


def client(**options) -> TestClient:
    return TestClient(create_app(ServeConfig(**options)))


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def picture(h: int = 32, w: int = 48) -> np.ndarray:
    """An RGB picture whose luminance is a mask: a bright rectangle on a dark red ground."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = 60
    rgb[8 : h - 8, 12 : w - 12] = (250, 240, 200)
    return rgb


def decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content))).astype(int)


def assert_error(response, status: int, *words: str) -> dict:
    """A JSON error of ``status`` saying ``words``, without a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    for word in words:
        assert word in body["error"], body
    return body


def test_healthz_says_ok_with_the_version():
    assert client().get("/healthz").json() == {"status": "ok", "version": neuralshade.__version__}


def test_models_lists_every_bundled_model_with_its_task_and_endpoint():
    body = client().get("/v1/models").json()
    listed = {m["name"]: m for m in body["models"]}
    assert set(listed) == set(bundled_models())
    for name, entry in listed.items():
        info = checkpoint.read_meta(model_path(name))
        assert (entry["task"], entry["inputs"], entry["targets"]) == (
            info["task"],
            info["inputs"],
            info["targets"],
        )
    assert listed["ao2d-unet-cpu"]["endpoint"] == "/v1/shade"
    assert listed["ao2d-unet-cpu"]["light"] == {
        "light_azimuth": 135.0,
        "light_elevation": 30.0,
        "height": 24.0,
    }
    assert listed["denoise-cpu"]["endpoint"] == "/v1/denoise"
    assert listed["denoise-kpcn-cpu"]["endpoint"] == "/v1/infer"  # reads more than denoise gives
    assert listed["shadow-cpu"]["endpoint"] == "/v1/shadow"
    assert listed["deepshade-ao-cpu"]["endpoint"] == "/v1/infer"
    assert body["defaults"]["/v1/shade"] == shading.DEFAULT_MODEL


@pytest.mark.parametrize("raw", [True, False])
def test_shade_returns_the_pixels_of_neuralshade_shade(raw):
    rgb = picture()
    if raw:
        response = client().post(
            "/v1/shade", content=png(rgb), headers={"content-type": "image/png"}
        )
    else:
        response = client().post("/v1/shade", files={"image": ("x.png", png(rgb), "image/png")})
    expected = to_uint8(neuralshade.shade(image_to_mask(rgb), device="cpu"))
    assert np.abs(decoded(response) - expected).max() <= 1
    assert response.headers["x-model"] == shading.DEFAULT_MODEL
    assert float(response.headers["x-milliseconds"]) > 0


def test_render_returns_the_reference_renderers_beauty():
    rgb = picture()
    query = "light_azimuth=45&light_elevation=50&height=16"
    response = client().post(
        f"/v1/render?{query}", files={"image": ("x.png", png(rgb), "image/png")}
    )
    params = RenderParams(**checkpoint.read_meta(model_path(shading.DEFAULT_MODEL))["render"])
    params = params.model_copy(update={"light_azimuth": 45, "light_elevation": 50, "height": 16})
    beauty = render(image_to_mask(rgb), params, seed=0).beauty.permute(1, 2, 0).numpy()
    assert np.abs(decoded(response) - to_uint8(beauty)).max() <= 1


def conditioned_checkpoint(folder) -> str:
    """A tiny light-conditioned ao2d checkpoint trained on VARY (weights moved off their
    initialisation, so that the light changes the output)."""
    torch.manual_seed(0)
    net = build("unet", in_channels=5, out_channels=3, widths=[4, 8], blocks=[0, 1], condition=4)
    for p in net.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    info = {
        "task": shading.TASK,
        "targets": ["target"],
        "step": 0,
        "loss": "l1",
        "vary": VARY,
        "render": RenderParams().model_dump(mode="json"),
        "inputs": ["source", "light", "shape_height"],
        "light_input": LIGHT_INPUT,
    }
    return str(checkpoint.save(folder / "lit", net.eval(), info).with_suffix(".safetensors"))


def test_the_servers_own_model_takes_a_light_inside_its_ranges_and_lists_them(tmp_path):
    path = conditioned_checkpoint(tmp_path)
    api = client(model=path)
    listed = {m["name"]: m for m in api.get("/v1/models").json()["models"]}
    assert listed["lit"]["vary"] == VARY and listed["lit"]["endpoint"] == "/v1/shade"
    rgb = picture()
    light = {"light_azimuth": 60.0, "light_elevation": 40.0, "height": 30.0}
    query = "&".join(f"{k}={v}" for k, v in light.items())
    response = api.post(
        f"/v1/shade?{query}", content=png(rgb), headers={"content-type": "image/png"}
    )
    expected = to_uint8(neuralshade.shade(image_to_mask(rgb), path, device="cpu", **light))
    assert np.abs(decoded(response) - expected).max() <= 1
    assert response.headers["x-model"] == "lit"
    outside = api.post(
        "/v1/shade?height=40", content=png(rgb), headers={"content-type": "image/png"}
    )
    assert_error(outside, 422, "height 40 is outside the range")


def test_a_light_the_fixed_model_does_not_know_is_a_422():
    response = client().post(
        "/v1/shade?model=ao2d-unet-cpu&light_azimuth=45",
        content=png(picture()),
        headers={"content-type": "image/png"},
    )
    assert_error(response, 422, "light azimuth")


def truncated_png() -> bytes:
    return png(picture())[:60]


@pytest.mark.parametrize(
    ("query", "headers", "body", "status", "words"),
    [
        ("", {"content-type": "image/png"}, b"not an image at all", 400, ["not an image"]),
        ("", {"content-type": "image/png"}, truncated_png(), 400, ["image"]),
        ("", {"content-type": "image/png"}, b"", 400, ["empty"]),
        ("", {"content-type": "text/plain"}, None, 415, ["text/plain"]),
        ("", {"content-type": "application/json"}, None, 415, ["application/json"]),
        ("?model=nope", {}, None, 404, ["nope"]),
        ("?model=../weights/ao2d-unet-cpu", {}, None, 404, ["never given as paths"]),
        ("?model=/etc/passwd", {}, None, 404, []),
        ("?model=denoise-cpu", {}, None, 422, ["/v1/denoise"]),
        ("?height=abc", {}, None, 422, ["height"]),
        ("?height=nan", {}, None, 422, ["height", "finite"]),
        ("?height=-3", {}, None, 422, ["height", "greater than 0"]),
        ("?light_elevation=95", {}, None, 422, ["light_elevation"]),
        ("?light_azimuth=inf", {}, None, 422, ["light_azimuth"]),
    ],
)
def test_a_bad_shade_request_is_a_4xx_json_error(query, headers, body, status, words):
    headers = headers or {"content-type": "image/png"}
    body = png(picture()) if body is None else body
    assert_error(client().post(f"/v1/shade{query}", content=body, headers=headers), status, *words)


def test_multipart_mistakes_are_4xx_json_errors():
    api = client()
    image = png(picture())
    assert_error(
        api.post("/v1/shade", files={"picture": ("x.png", image, "image/png")}),
        422,
        "'image' is missing",
    )
    assert_error(
        api.post("/v1/shade", files={"image": ("x.txt", b"hello", "text/plain")}), 415, "text/plain"
    )
    assert_error(
        api.post(
            "/v1/shade", data={"image": "a string"}, files={"other": ("x.png", image, "image/png")}
        ),
        422,
        "uploaded file",
    )
    assert_error(
        api.post("/v1/shadow", files={"image": ("x.png", image, "image/png")}),
        422,
        "'mask' is missing",
    )


def test_too_many_pixels_is_a_413_before_decoding():
    rgb = picture(32, 48)
    api = client(max_pixels=32 * 47, max_render_pixels=16 * 16)
    headers = {"content-type": "image/png"}
    assert_error(api.post("/v1/shade", content=png(rgb), headers=headers), 413, "48 × 32")
    assert api.post("/v1/shade", content=png(rgb[:, :47]), headers=headers).status_code == 200
    assert_error(
        api.post("/v1/render", content=png(rgb[:16, :17]), headers=headers), 413, "17 × 16"
    )


def test_too_many_bytes_is_a_413_by_length_and_by_count():
    api = client(max_upload_mb=0.001)  # 1000 bytes
    body = png(np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
    assert len(body) > 1000
    headers = {"content-type": "image/png"}
    assert_error(api.post("/v1/shade", content=body, headers=headers), 413, "1,000")

    def chunks():  # no Content-Length: the server counts what arrives
        yield from (body[i : i + 256] for i in range(0, len(body), 256))

    assert_error(api.post("/v1/shade", content=chunks(), headers=headers), 413, "1,000")


def test_an_unexpected_failure_is_a_500_that_hides_its_text(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/weights")

    monkeypatch.setattr(shading, "shade", broken)
    seen = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logging.getLogger("neuralshade.serve")
    logger.addHandler(handler)
    try:
        response = client().post(
            "/v1/shade", content=png(picture()), headers={"content-type": "image/png"}
        )
    finally:
        logger.removeHandler(handler)
    assert_error(response, 500, "internal server error")
    assert "secret" not in response.text
    assert any("secret internals" in str(r.exc_info[1]) for r in seen if r.exc_info)


def blocking_shade(monkeypatch) -> threading.Event:
    """shading.shade made to wait (at most 10 s) until the returned event is set."""
    release = threading.Event()

    def slow(*args, **kwargs):
        release.wait(10)
        return np.zeros((4, 4, 3), np.float32)

    monkeypatch.setattr(shading, "shade", slow)
    return release


def until_a_job_is_in_the_pool(app) -> None:
    deadline = time.monotonic() + 10
    while app.state.api.pending == 0 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_slow_computation_is_a_504_and_one_that_waited_for_a_thread_a_503(monkeypatch):
    release = blocking_shade(monkeypatch)
    results = {}
    app = create_app(ServeConfig(timeout=0.5, workers=1, queue=1))
    with TestClient(app) as api:

        def post(key):
            results[key] = api.post(
                "/v1/shade", content=png(picture()), headers={"content-type": "image/png"}
            )

        threads = [threading.Thread(target=post, args=(k,)) for k in ("first", "second")]
        try:
            threads[0].start()
            until_a_job_is_in_the_pool(app)  # the first holds the only thread until released
            threads[1].start()
            for t in threads:
                t.join(10)
        finally:
            release.set()
    assert_error(results["first"], 504, "took longer than 0.5 s")
    assert_error(results["second"], 503, "busy")
    assert results["second"].headers["retry-after"] == "1"


def test_a_full_queue_is_a_503_at_once(monkeypatch):
    release = blocking_shade(monkeypatch)
    app = create_app(ServeConfig(workers=1, queue=0))
    with TestClient(app) as api:
        first = threading.Thread(
            target=api.post,
            args=("/v1/shade",),
            kwargs={"content": png(picture()), "headers": {"content-type": "image/png"}},
        )
        try:
            first.start()
            until_a_job_is_in_the_pool(app)
            start = time.monotonic()
            response = api.post(
                "/v1/shade", content=png(picture()), headers={"content-type": "image/png"}
            )
            assert time.monotonic() - start < 5
        finally:
            release.set()
            first.join(10)
    assert_error(response, 503, "queue is full")


def test_denoise_returns_what_neuralshade_denoise_gives(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "color": rng.exponential(0.5, (32, 32, 3)),
        "albedo": rng.uniform(0, 1, (32, 32, 3)),
        "normal": rng.uniform(-1, 1, (32, 32, 3)),
    }
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    files = {}
    for name, array in arrays.items():
        write_pfm(tmp_path / f"{name}.pfm", array)
        files[name] = (f"{name}.pfm", (tmp_path / f"{name}.pfm").read_bytes(), "image/x-pfm")
    api = client()
    response = api.post("/v1/denoise?format=pfm", files=files)
    assert response.status_code == 200, response.text
    assert response.headers["x-model"] == "denoise-cpu"
    (tmp_path / "out.pfm").write_bytes(response.content)
    expected = neuralshade.denoise(*arrays.values(), model="denoise-cpu")
    np.testing.assert_allclose(read_pfm(tmp_path / "out.pfm"), expected, atol=1e-5)
    assert api.post("/v1/denoise", files=files).headers["content-type"] == "image/png"
    alone = api.post("/v1/denoise", files={"color": files["color"]})
    assert_error(alone, 422, "albedo")  # our network reads the albedo and normal too
    jpeg = io.BytesIO()
    Image.fromarray(picture()).save(jpeg, format="JPEG")
    odd = api.post("/v1/denoise", files={"color": ("x.jpg", jpeg.getvalue(), "image/jpeg")})
    assert_error(odd, 415, "exr, pfm, png")


def test_shadow_returns_what_insert_shadow_gives():
    rgb = np.full((64, 64, 3), 180, np.uint8)
    rgb[20:40, 24:40] = (40, 90, 200)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 24:40] = 255
    files = {"image": ("p.png", png(rgb), "image/png"), "mask": ("m.png", png(mask), "image/png")}
    response = client().post("/v1/shadow", files=files)
    expected = to_uint8(neuralshade.insert_shadow(rgb, mask, device="cpu"))
    assert np.abs(decoded(response) - expected).max() <= 1
    small = {**files, "mask": ("m.png", png(mask[:32]), "image/png")}
    assert_error(client().post("/v1/shadow", files=small), 422, "the image 64×64")


def test_infer_runs_a_g_buffer_model_on_its_named_buffers():
    rng = np.random.default_rng(0)
    buffers = {
        "position_camera": rng.uniform(-1, 1, (32, 32, 3)).astype(np.float32) + [0, 0, -3],
        "normal_camera": rng.uniform(-1, 1, (32, 32, 3)).astype(np.float32),
    }
    buffers = {k: v.astype(np.float32) for k, v in buffers.items()}

    def npy(a):
        out = io.BytesIO()
        np.save(out, a)
        return out.getvalue()

    files = {k: (f"{k}.npy", npy(v), "application/octet-stream") for k, v in buffers.items()}
    response = client().post("/v1/infer?model=deepshade-ao-cpu&format=npy", files=files)
    assert response.status_code == 200, response.text
    got = np.load(io.BytesIO(response.content))
    expected = neuralshade.infer("deepshade-ao-cpu", buffers, device="cpu")["ao_reference"]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    missing = client().post(
        "/v1/infer?model=deepshade-ao-cpu", files={"normal_camera": files["normal_camera"]}
    )
    assert_error(missing, 422, "'position_camera' is missing")
    assert_error(client().post("/v1/infer?model=x/../y", files=files), 404)


def test_the_api_is_documented():
    api = client()
    schema = api.get("/openapi.json").json()
    for path in ("/v1/shade", "/v1/render", "/v1/denoise", "/v1/shadow", "/v1/infer"):
        operation = schema["paths"][path]["post"]
        assert all(p.get("description") for p in operation.get("parameters", [])), path
        assert "multipart/form-data" in operation["requestBody"]["content"], path
    assert "image/png" in schema["paths"]["/v1/shade"]["post"]["requestBody"]["content"]
    assert "swagger" in api.get("/docs").text.lower()


def page(tmp_path):
    web = tmp_path / "web"
    (web / "vendor").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>page</title>")
    (web / "vendor" / "ort.wasm").write_bytes(b"\0asm\1\0\0\0")
    (web / "app.mjs").write_text("export {};")
    return web


def test_the_page_is_served_cross_origin_isolated_after_the_api(tmp_path):
    api = client(web=str(page(tmp_path)))
    root = api.get("/")
    assert root.status_code == 200 and "<title>page</title>" in root.text
    for response in (root, api.get("/vendor/ort.wasm"), api.get("/app.mjs")):
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["cross-origin-embedder-policy"] == "require-corp"
    assert api.get("/vendor/ort.wasm").headers["content-type"] == "application/wasm"
    assert api.get("/app.mjs").headers["content-type"].startswith("text/javascript")
    assert api.get("/healthz").json()["status"] == "ok"
    assert "swagger" in api.get("/docs").text.lower()
    assert_error(api.get("/missing.js"), 404)
    with pytest.raises(ConfigError, match="no index.html"):
        create_app(ServeConfig(web=str(tmp_path)))


def test_without_the_page_the_api_still_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(serve, "page_folder", lambda: tmp_path / "not-there")
    api = client()
    assert api.get("/").status_code == 200 and "/docs" in api.get("/").text
    assert api.get("/healthz").status_code == 200


def test_the_server_answers_on_a_real_loopback_socket():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve.make_server(ServeConfig(port=port), log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.status == 200 and b'"ok"' in r.read()
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()


def test_it_listens_on_localhost_by_default_and_the_cli_agrees_with_the_config():
    assert ServeConfig().host == "127.0.0.1"
    args = build_parser("serve").parse_args(["serve"])
    assert (args.host, args.port) == (ServeConfig().host, ServeConfig().port)
    for key in SERVE_OPTIONS:
        assert getattr(args, key) == ServeConfig.model_fields[key].default, key
    assert set(SERVE_OPTIONS) | {"host", "port"} == set(ServeConfig.model_fields)


def test_a_default_model_that_does_not_shade_is_refused_at_start():
    with pytest.raises(ConfigError, match="not one that shades"):
        create_app(ServeConfig(model="denoise-cpu"))
    with pytest.raises(ConfigError, match="no such bundled model or checkpoint"):
        create_app(ServeConfig(model="no/such/model.safetensors"))
