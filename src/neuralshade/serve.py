"""``neuralshade serve``: the HTTP API and the browser page (FastAPI + uvicorn).

``neuralshade serve [--host 127.0.0.1] [--port 8000] [--model NAME_OR_PATH]`` and, in Python,
:func:`create_app` (the application, testable without a socket) and :func:`serve`. It listens
on the loopback interface unless told otherwise. Interactive documentation of every endpoint
and parameter is at ``/docs`` (the OpenAPI schema at ``/openapi.json``).

Endpoints
    * ``GET /healthz``: ``{"status": "ok", "version": …}``.
    * ``GET /v1/models``: the bundled models (name, task, inputs, targets, the endpoint that
      runs them; for shading models their own light and, for light-conditioned ones, the
      ranges they were trained on) and each endpoint's default model.
    * ``POST /v1/shade``: a white-on-black image → the shaded image (PNG), by a trained
      network (:func:`neuralshade.shade`). Query: ``light_azimuth``, ``light_elevation``,
      ``height``, ``model``. Body: the image as the multipart field ``image``, or the raw bytes
      with ``Content-Type: image/png`` (or ``image/jpeg``, ``image/webp``, ``image/bmp``,
      ``image/gif``, ``image/tiff``). Colour is read as luminance.
    * ``POST /v1/render``: the same inputs → the reference renderer's beauty image (PNG), for
      side-by-side comparisons; slower, hence its own, smaller pixel limit.
    * ``POST /v1/denoise``: multipart ``color`` (and optionally ``albedo``, ``normal``), EXR,
      PFM or PNG files → the denoised image (``?format=png|exr|pfm``; :mod:`neuralshade.denoise`).
    * ``POST /v1/shadow``: multipart ``image`` and ``mask`` → the picture with the object's
      shadow (PNG; :func:`neuralshade.insert_shadow`).
    * ``POST /v1/scene``: the scene viewer's frame (JSON in and out): a random room observed
      in K views, shaded by a scene model (task ``cnsr``) from a query camera, a partition
      optionally taken from another room, beside Mitsuba's render of the view; attributions
      of a patch (:mod:`neuralshade.scene_repr`). The page ``/scene.html`` drives it.
    * ``POST /v1/infer``: any bundled model on its named input buffers (multipart fields named
      as the model's inputs: EXR, PFM or ``.npy``) → one target buffer (``?format=exr|pfm|npy``).
    * ``/``: the browser page (the package's ``neuralshade/web`` folder), cross-origin
      isolated (``Cross-Origin-Opener-Policy: same-origin``, ``Cross-Origin-Embedder-Policy:
      require-corp``) for onnxruntime-web's threads.

Images come back with the headers ``X-Model`` (the model that ran) and ``X-Milliseconds`` (the
time of the computation itself, without the upload, decoding and encoding).

Errors
    Every error is JSON, ``{"error": "<message>", "detail": …}`` (``detail`` where there is
    more to say), never a traceback: 400 an unreadable upload; 404 an unknown model (models are
    named, never given as paths) or route; 408 an upload slower than the timeout; 413 a body
    above ``max_upload_mb`` (refused from its Content-Length before it is read, else counted
    while reading) or an image above the pixel limit (from its header, before it is decoded);
    415 a content type or file format the endpoint does not take; 422 a bad parameter (a
    number out of range, NaN, a light the model does not know, the validation errors of the
    query too) or an input the model cannot use; 503 the server is busy (the queue is full, or
    the request waited out the timeout in it); 504 the computation took longer than the
    timeout (it cannot be stopped; it finishes in the background and its result is dropped);
    500 anything else, with a generic message (the traceback goes to the server's log).

The computations run in a pool of ``workers`` threads (models are loaded once and cached by
:func:`neuralshade.infer.load_model`; the default shading model as the server starts), so the
event loop keeps answering while they run; at most ``queue`` more requests wait for a thread.
``benchmarks/serve_load.py`` measures it under load.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, whose
# descriptions name the models found at run time
import asyncio
import functools
import io
import logging
import math
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from neuralshade import denoise as denoising
from neuralshade import scene_repr, shading, shadowing
from neuralshade.config import Settings, build
from neuralshade.errors import ConfigError, InputError, NeuralShadeError

try:
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.datastructures import Headers, UploadFile
    from starlette.exceptions import HTTPException
    from starlette.staticfiles import StaticFiles
except ImportError as exc:  # an optional dependency
    raise ConfigError(
        "neuralshade serve needs FastAPI, uvicorn and python-multipart: "
        "pip install 'neuralshade[serve]'"
    ) from exc

log = logging.getLogger("neuralshade.serve")

#: raw request bodies /v1/shade and /v1/render take besides multipart/form-data
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/gif", "image/tiff")
#: the default model of /v1/denoise: the bundled network (OIDN, ``model=oidn``, is optional)
DENOISE_MODEL = "denoise-cpu"
#: the buffers /v1/denoise can give a network (a denoiser's colour, albedo and normal)
DENOISE_BUFFERS = {"beauty", "albedo", "normal"}
#: the headers that make the browser page cross-origin isolated (SharedArrayBuffer, threads)
ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
#: types browsers insist on for WebAssembly and JavaScript modules, whatever the OS's table says
STATIC_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript"}
INTERNAL = "internal server error (the server's log has the details)"
BUFFER_TYPES = {
    "png": "image/png",
    "exr": "image/x-exr",
    "pfm": "image/x-portable-floatmap",
    "npy": "application/octet-stream",
}


class ServeConfig(Settings):
    """Everything ``neuralshade serve`` can be told."""

    host: str = Field(
        "127.0.0.1", description="Interface to listen on (default: this machine only)."
    )
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free one).")
    model: str | None = Field(
        None,
        description="Default model of /v1/shade and /v1/render (or, for a scene model, of "
        "/v1/scene): a bundled model's name or a checkpoint path (default: ao2d-unet-cpu, "
        "ao2d-unet-light-cpu for a light of one's own; cnsr-cpu for scenes).",
    )
    device: str = Field("cpu", description="auto, cpu, cuda or cuda:N.")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest request body, in MB (10^6 B).")
    max_pixels: int = Field(4096 * 4096, ge=1, description="Largest image (width × height).")
    max_render_pixels: int = Field(
        512 * 512, ge=1, description="Largest image /v1/render takes (the renderer is slower)."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds a request may take in all.")
    workers: int = Field(2, ge=1, description="Threads running the computations.")
    queue: int = Field(16, ge=0, description="Requests that may wait for a thread; more: 503.")
    web: str | None = Field(
        None, description="Folder of the browser page (default: the package's neuralshade/web)."
    )


class SceneSwap(BaseModel):
    """A partition taken from another room."""

    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, le=10**9, description="Room B: its index (same seed).")
    factor: Literal["lighting", "geometry", "material"] = Field(
        description="The partition room A takes from room B."
    )


class ScenePatch(BaseModel):
    """A square of the view whose attributions to show."""

    model_config = ConfigDict(extra="forbid")
    x: int = Field(ge=0, description="Its left column, pixels of the view.")
    y: int = Field(ge=0, description="Its top row.")
    size: int = Field(4, ge=1, le=64, description="Its side.")


class SceneRequest(BaseModel):
    """One frame of the scene viewer (POST /v1/scene)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    model: str | None = Field(None, description="A scene model of /v1/models (default: "
                              "cnsr-cpu).")  # fmt: skip
    seed: int = Field(0, ge=0, le=2**31 - 1, description="The rooms' seed.")
    index: int = Field(0, ge=0, le=10**9, description="Room A: its index.")
    observations: int = Field(0, ge=0, le=1000, description="Which draw of K observed views.")
    azimuth: float | None = Field(None, ge=0, le=360, description="Query camera: degrees "
                                  "about the vertical (None: the room's own camera).")  # fmt: skip
    distance: float = Field(2.25, ge=1.5, le=3.0, description="Query camera: from the centre.")
    height: float = Field(1.5, ge=1.0, le=2.0, description="Query camera: its height.")
    swap: SceneSwap | None = Field(None, description="Take a partition from room B.")
    reference_spp: int = Field(16, ge=0, le=4096, description="Mitsuba's render at this spp "
                               "beside the prediction (0: none).")  # fmt: skip
    patch: ScenePatch | None = Field(None, description="Attributions of this patch.")


class ApiError(Exception):
    """An answer other than success: HTTP ``status`` with a JSON body ``{"error", "detail"}``."""

    def __init__(self, status: int, message: str, detail: Any = None):
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


class ErrorBody(BaseModel):
    """Every error's body."""

    error: str = Field(description="What was wrong and what to do.")
    detail: Any = Field(None, description="More, where there is more (e.g. each bad parameter).")


@dataclass(frozen=True)
class ServedModel:
    """A model the server runs: ``ref`` is what the library is given (a name or a path)."""

    name: str
    ref: str
    task: str
    endpoint: str
    info: dict[str, Any] = field(repr=False)

    def describe(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "task": self.task,
            "inputs": list(self.info.get("inputs", [])),
            "targets": list(self.info.get("targets", [])),
            "endpoint": self.endpoint,
        }
        render = self.info.get("render")
        if self.endpoint == "/v1/shade" and isinstance(render, dict):
            out["light"] = {k: render[k] for k in shading.LIGHT_KEYS if k in render}
        if self.info.get("vary"):
            out["vary"] = self.info["vary"]
        return out


def served_models(extra: str | None = None) -> dict[str, ServedModel]:
    """The bundled models by name, with the endpoint that runs each, and ``extra`` (a
    checkpoint path; named by its file's stem) if given.

    An endpoint serves the task of its front-end's default model (``neuralshade.shade``'s,
    ``insert_shadow``'s, ``denoise``'s, the last only for networks reading a colour, albedo
    and normal); every other model runs at /v1/infer.
    """
    from neuralshade.infer import bundled_models
    from neuralshade.infer import read_model_meta as meta

    fronts = {
        meta(shading.DEFAULT_MODEL)["task"]: "/v1/shade",
        meta(shadowing.DEFAULT_MODEL)["task"]: "/v1/shadow",
        meta(DENOISE_MODEL)["task"]: "/v1/denoise",
        meta(scene_repr.DEFAULT_MODEL)["task"]: "/v1/scene",
    }

    def served(name: str, ref: str) -> ServedModel:
        info = meta(ref)
        endpoint = fronts.get(info.get("task"), "/v1/infer")
        if endpoint == "/v1/denoise" and not set(info.get("inputs", ())) <= DENOISE_BUFFERS:
            endpoint = "/v1/infer"
        return ServedModel(name, ref, str(info.get("task")), endpoint, info)

    models = {name: served(name, name) for name in bundled_models()}
    if extra is not None and extra not in models:
        path = Path(extra)
        if not path.exists():
            raise ConfigError(
                f"--model {extra}: no such bundled model or checkpoint (bundled: "
                f"{', '.join(models)})"
            )
        name = path.stem
        if name in models:
            raise ConfigError(
                f"--model {extra}: its name {name!r} is a bundled model's; rename the checkpoint"
            )
        models[name] = served(name, str(path))
    return models


# ---- the application ------------------------------------------------------------------------


def _warm_renderer() -> None:
    """Render a tiny mask once, so the renderer's compiled kernels are ready."""
    from neuralshade.render.heightfield import render
    from neuralshade.render.params import RenderParams

    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 4:12] = 1
    try:
        render(mask, RenderParams(height=4, ao_radius=4), seed=0)
    except Exception:  # a warm-up only: the first real render reports any error
        log.debug("renderer warm-up failed", exc_info=True)


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The application: every endpoint, the error handlers, the limits, the browser page.

    Raises ConfigError for an unknown default model or one that does not shade, or an
    unusable device.
    """
    import neuralshade
    from neuralshade.devices import resolve_device

    config = config or ServeConfig()
    resolve_device(config.device)  # refused now, not at the first request
    api = _Api(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # the default model loaded before the first request, which then does not pay for it
        default = api.default.ref if api.default else shading.DEFAULT_MODEL
        await asyncio.wrap_future(api.pool.submit(shading.load_model, default, config.device))
        # the renderer compiles its kernels on first use (seconds): done now, in the background,
        # so that the page's first reference render does not wait for it
        threading.Thread(target=_warm_renderer, name="warm-renderer", daemon=True).start()
        yield
        api.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="neuralshade",
        version=neuralshade.__version__,
        description=(__doc__ or "").split("\n\n")[0],
        lifespan=lifespan,
        responses={
            code: {"model": ErrorBody, "description": text}
            for code, text in (
                (400, "unreadable upload"),
                (404, "unknown model"),
                (408, "upload too slow"),
                (413, "upload too large"),
                (415, "unsupported type"),
                (422, "bad parameter"),
                (503, "busy"),
                (504, "timed out"),
            )
        },
    )
    app.state.api = api
    app.add_middleware(_BodyLimit, limit=int(config.max_upload_mb * 1e6))
    _add_error_handlers(app)
    _add_routes(app, api)
    _mount_page(app, config.web)
    return app


def _error(status: int, message: str, detail: Any = None, headers=None) -> JSONResponse:
    body = {"error": message} | ({"detail": detail} if detail is not None else {})
    return JSONResponse(body, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return _error(exc.status, exc.message, exc.detail, headers)

    @app.exception_handler(NeuralShadeError)
    async def user_error(request: Request, exc: NeuralShadeError):
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        said = "; ".join(f"{p['loc'][-1] if p['loc'] else 'request'}: {p['msg']}" for p in problems)
        return _error(422, f"invalid parameters: {said}", problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # the last line of defence
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, INTERNAL)


class _BodyLimit:
    """Refuse request bodies above ``limit`` bytes: from their Content-Length before reading
    any, else (chunked bodies) as soon as the count passes it."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.isdigit():
                return await _error(400, f"bad Content-Length {length!r}")(scope, receive, send)
            if int(length) > self.limit:
                return await _error(413, self._too_large(int(length)))(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise ApiError(413, self._too_large(received))
            return message

        await self.app(scope, counted, send)

    def _too_large(self, size: int) -> str:
        return (
            f"the request is {size:,} bytes or more, above the limit of {self.limit:,} "
            "(the server's --max-upload-mb)"
        )


class _PageFiles(StaticFiles):
    """The browser page's files, cross-origin isolated and with the WebAssembly and module
    types browsers insist on."""

    def file_response(self, full_path, stat_result, scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        kind = STATIC_TYPES.get(Path(full_path).suffix.lower())
        if kind is not None:
            response.headers["content-type"] = kind
        response.headers.update(ISOLATION)
        return response


def page_folder() -> Path:
    """The installed browser page: the package's ``web`` folder."""
    return Path(str(resources.files("neuralshade") / "web"))


def _mount_page(app: FastAPI, web: str | None) -> None:
    """The browser page at ``/``, after every route (so that /v1, /docs, /healthz win); a
    placeholder where the installed one is missing."""
    folder = Path(web) if web is not None else page_folder()
    if (folder / "index.html").is_file():
        app.mount("/", _PageFiles(directory=folder, html=True), name="web")
        return
    if web is not None:
        raise ConfigError(f"--web {web}: no index.html in that folder")

    @app.get("/", include_in_schema=False)
    async def placeholder():
        return HTMLResponse(
            "<!doctype html><title>neuralshade</title><p>The neuralshade API is running; the "
            'browser page is not installed. See <a href="/docs">/docs</a>.</p>'
        )


# ---- the endpoints ----------------------------------------------------------------------------

Azimuth = Annotated[
    float | None,
    Query(allow_inf_nan=False, description="Light direction, degrees counter-clockwise on "
          "screen from +x (135: from the top left). Default: the model's own."),
]  # fmt: skip
Elevation = Annotated[
    float | None,
    Query(gt=0, le=90, allow_inf_nan=False,
          description="Light elevation above the ground, degrees. Default: the model's own."),
]  # fmt: skip
Height = Annotated[
    float | None,
    Query(gt=0, allow_inf_nan=False,
          description="Height of the shapes, pixels. Default: the model's own."),
]  # fmt: skip


def _image_body(fields: dict[str, str], required: tuple[str, ...], raw: bool) -> dict:
    """OpenAPI's description of a body of uploaded files (and, ``raw``, of one raw image)."""
    props = {n: {"type": "string", "format": "binary", "description": d} for n, d in fields.items()}
    content = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": props, "required": list(required)}
        }
    }
    if raw:
        content |= {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES}
    return {"requestBody": {"required": True, "content": content}}


def _returns(*kinds: str) -> dict:
    content = {BUFFER_TYPES.get(k, k): {} for k in kinds}
    return {200: {"content": content, "description": "the result"}}


def _add_routes(app: FastAPI, api: "_Api") -> None:
    import neuralshade

    models = api.models

    def names(endpoint: str) -> str:
        return ", ".join(m.name for m in models.values() if m.endpoint == endpoint)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """`{"status": "ok", "version": …}` while the server answers."""
        return {"status": "ok", "version": neuralshade.__version__}

    @app.get("/v1/models", summary="The models this server runs")
    async def list_models() -> dict[str, Any]:
        """Every model: name, task, inputs, targets, the endpoint that runs it; for shading
        models their own light (`light`) and the ranges a light-conditioned one was trained on
        (`vary`). `defaults`: each endpoint's model when none is asked for (/v1/shade's: chosen
        by the light, see its documentation)."""
        return {
            "models": [m.describe() for m in models.values()],
            "defaults": {
                "/v1/shade": api.shade_default(),
                "/v1/render": api.shade_default(),
                "/v1/denoise": DENOISE_MODEL,
                "/v1/shadow": shadowing.DEFAULT_MODEL,
                "/v1/scene": api.scene_default,
            },
        }

    shade_model = f"A model of /v1/models: {names('/v1/shade')}."

    @app.post(
        "/v1/shade",
        summary="Shade a white-on-black image with a trained network",
        response_class=Response,
        responses=_returns("png"),
        openapi_extra=_image_body({"image": "the image (PNG, JPEG, …)"}, ("image",), raw=True),
    )
    async def shade(
        request: Request,
        light_azimuth: Azimuth = None,
        light_elevation: Elevation = None,
        height: Height = None,
        model: Annotated[
            str | None,
            Query(
                description=shade_model + " Default: "
                "ao2d-unet-cpu at its own light, else ao2d-unet-light-cpu "
                "(or the server's --model)."
            ),
        ] = None,  # fmt: skip
    ):
        """The image (colour is read as luminance: bright is raised) shaded as shapes standing
        on a plane, with ambient occlusion, soft shadows and Phong lighting: a PNG of the
        image's size. Body: the multipart field `image`, or the raw image with its
        Content-Type. A light the model does not know, or one outside the ranges it was
        trained on, is a 422."""
        light = shading.light_settings(light_azimuth, light_elevation, height)
        return await api.answer(request, api.shade, model, light)

    @app.post(
        "/v1/render",
        summary="Render a white-on-black image with the reference renderer",
        response_class=Response,
        responses=_returns("png"),
        openapi_extra=_image_body({"image": "the image (PNG, JPEG, …)"}, ("image",), raw=True),
    )
    async def render(
        request: Request,
        light_azimuth: Azimuth = None,
        light_elevation: Elevation = None,
        height: Height = None,
        model: Annotated[str | None, Query(description=shade_model + " Its render settings "
                         "are used; default: the server's --model, else ao2d-unet-cpu.")] = None,
    ):  # fmt: skip
        """What /v1/shade's network learned: the reference renderer's beauty image of the
        same inputs (seed 0), for comparisons. Slower (about a second at 512²), hence its
        own pixel limit (the server's --max-render-pixels)."""
        light = shading.light_settings(light_azimuth, light_elevation, height)
        return await api.answer(request, api.render, model, light)

    @app.post(
        "/v1/denoise",
        summary="Denoise a rendered image",
        response_class=Response,
        responses=_returns("png", "exr", "pfm"),
        openapi_extra=_image_body(
            {
                "color": "the noisy image: EXR or PFM (linear HDR radiance) or PNG (sRGB)",
                "albedo": "the first hit's reflectance, in [0, 1] (EXR, PFM or PNG)",
                "normal": "the first hit's normal, in [-1, 1] (EXR or PFM); needs an albedo",
            },
            ("color",),
            raw=False,
        ),
    )
    async def denoise(
        request: Request,
        model: Annotated[str | None, Query(description=f"{names('/v1/denoise')} (our "
                         "networks: they read the albedo and normal too) or oidn (Intel Open "
                         f"Image Denoise, where installed). Default: {DENOISE_MODEL}.")] = None,
        format: Annotated[Literal["png", "exr", "pfm"], Query(description="The result's "
                          "format: png (sRGB, 8-bit), exr or pfm (linear float).")] = "png",
        hdr: Annotated[bool | None, Query(description="The colour is linear HDR radiance. "
                       "Default: true for EXR and PFM, false for PNG.")] = None,
        quality: Annotated[Literal["high", "balanced", "fast"], Query(description="OIDN's "
                           "quality (our networks have one).")] = "high",
    ):  # fmt: skip
        """The colour with its Monte Carlo noise removed, as Open Image Denoise takes it: the
        colour and optionally the albedo and normal (a normal only with an albedo), files of
        one size. NaN, infinite and negative pixels are repaired first."""
        return await api.answer(request, api.denoise, model, format, hdr, quality)

    @app.post(
        "/v1/shadow",
        summary="Give an object pasted into a picture its shadow",
        response_class=Response,
        responses=_returns("png"),
        openapi_extra=_image_body(
            {
                "image": "the picture with the object pasted in (PNG, JPEG, …)",
                "mask": "the object's pixels, white on black, the picture's size",
            },
            ("image", "mask"),
            raw=False,
        ),
    )
    async def shadow(
        request: Request,
        model: Annotated[str | None, Query(description=f"{names('/v1/shadow')}. Default: "
                         f"{shadowing.DEFAULT_MODEL}.")] = None,
    ):  # fmt: skip
        """The picture with the object's shadow on the ground, consistent with the shadows
        already there: a PNG of the picture's size. The object's own pixels are kept."""
        return await api.answer(request, api.shadow, model)

    @app.post("/v1/scene", summary="Shade a view of a random room from a few observed views")
    async def scene(request: Request, body: SceneRequest) -> dict[str, Any]:
        """The scene viewer's frame (a CNSR model, task `cnsr`): room `index` of `seed` is
        rendered by Mitsuba in K observed views (draw `observations`), encoded into its
        partitioned representation, and shaded from the query camera (`azimuth`, `distance`,
        `height` on an orbit; no azimuth: the room's own camera). With `swap`, one partition
        comes from room B, and the reference is the mixed room rendered. JSON: PNG data URLs
        of the `prediction`, the `reference` (Mitsuba at `reference_spp`), the
        `observations`; with `patch`, gradient × input maps (`partitions`, `buffers`); the
        `milliseconds` of each stage; the model's `partition_sizes` and `size`. Radiance is
        shown through the sRGB curve (values above 1 clip)."""
        return await api.answer(request, api.scene, body)

    @app.post(
        "/v1/infer",
        summary="Run any model on its named input buffers",
        response_class=Response,
        responses=_returns("exr", "pfm", "npy"),
        openapi_extra=_image_body(
            {"<input>": "one file per input the model reads (its `inputs` in /v1/models), "
             "named as it: EXR, PFM or .npy (H, W, C) float32"}, (), raw=False),
    )  # fmt: skip
    async def infer(
        request: Request,
        model: Annotated[str, Query(description="Any model of /v1/models.")],
        target: Annotated[str | None, Query(description="The target to return (default: "
                          "the model's first).")] = None,
        fov: Annotated[float | None, Query(gt=0, lt=180, allow_inf_nan=False, description=
                       "The view's field of view in degrees along x: a model with a training "
                       "scale runs a finer view at that scale.")] = None,
        format: Annotated[Literal["exr", "pfm", "npy"], Query(description="The result's "
                          "format.")] = "exr",
    ):  # fmt: skip
        """The model's prediction from its input buffers (the deep-shading models' G-buffers,
        say): one target as a float image."""
        return await api.answer(request, api.infer, model, target, fov, format)


class _Api:
    """The endpoints' work, the models they may use, and the pool it runs in."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.models = served_models(config.model)
        self.default = None
        self.scene_default = SCENE_MODEL
        if config.model is not None:
            chosen = self.models.get(config.model) or self.models[Path(config.model).stem]
            if chosen.endpoint == "/v1/scene":  # a scene model of one's own: /v1/scene's
                self.scene_default = chosen.name
            elif chosen.endpoint != "/v1/shade":
                raise ConfigError(
                    f"--model {config.model} is a model of the task {chosen.task}, not "
                    "one that shades images or scenes"
                )
            else:
                self.default = chosen
        self.pool = ThreadPoolExecutor(config.workers, thread_name_prefix="neuralshade-serve")
        self.pending = 0

    def shade_default(self) -> str:
        return self.default.name if self.default else shading.DEFAULT_MODEL

    # -- the frame: timeout, queue, errors -----------------------------------------------------

    async def answer(self, request: Request, work: Callable[..., Awaitable[Response]], *args):
        """``work(request, *args)`` within the timeout: 408 while the upload was being read,
        503 while waiting for a thread, 504 once computing; any error that is not a user's
        becomes a 500 with a generic message, its traceback logged."""
        request.state.phase = "reading"
        try:
            return await asyncio.wait_for(work(request, *args), self.config.timeout)
        except asyncio.TimeoutError:
            limit = f"{self.config.timeout:g} s"
            phase = request.state.phase
            if phase == "reading":
                raise ApiError(408, f"the upload took longer than {limit}") from None
            if phase == "queued":
                raise ApiError(503, f"the server is busy: waited {limit}; try again") from None
            raise ApiError(504, f"the computation took longer than {limit}; try a smaller "
                           "image") from None  # fmt: skip
        except (ApiError, HTTPException, NeuralShadeError):
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            raise ApiError(500, INTERNAL) from None

    async def run(self, request: Request, fn: Callable[..., Any], *args) -> Any:
        """``fn(*args)`` in the pool; 503 at once when ``queue`` requests already wait."""
        if self.pending >= self.config.workers + self.config.queue:
            raise ApiError(503, "the server is busy (its queue is full); try again")
        loop = asyncio.get_running_loop()

        def job():
            request.state.phase = "computing"
            return fn(*args)

        def done(_):
            loop.call_soon_threadsafe(self._finished)

        request.state.phase = "queued"
        self.pending += 1
        future = self.pool.submit(job)
        future.add_done_callback(done)  # counts a job until its thread is free again
        return await asyncio.wrap_future(future)

    def _finished(self) -> None:
        self.pending -= 1

    def model(self, name: str | None, endpoint: str, default: str) -> ServedModel:
        """The model a request names (404 unknown, 422 one of another endpoint)."""
        chosen = self.models.get(name or default)
        if chosen is None:
            raise ApiError(
                404,
                f"no model {name!r} here: name one of /v1/models (models are named, never "
                "given as paths)",
                {"models": [m for m, s in self.models.items() if s.endpoint == endpoint]},
            )
        if chosen.endpoint != endpoint and endpoint != "/v1/infer":
            raise ApiError(
                422, f"{chosen.name} is a model of the task {chosen.task}: use {chosen.endpoint}"
            )
        return chosen

    # -- the work --------------------------------------------------------------------------------

    async def shade(self, request: Request, name: str | None, light: dict[str, float]):
        if name is not None:
            ref, label = self.model(name, "/v1/shade", "").ref, name
        elif self.default is not None:
            ref, label = self.default.ref, self.default.name
        else:  # the library's choice: the fixed-light model at its own light, else the light one
            ref = label = shading.choose_model(None, light)
            if ref not in self.models:
                raise ApiError(
                    422,
                    f"a light of the request's own needs the light-conditioned {ref}, which this "
                    f"server does not have: leave the light out, or name a model of /v1/models",
                )
        files = await _uploads(request, {"image": True}, raw=True)

        def work():
            mask = _read(files["image"], "image", self.config.max_pixels, _mask)
            start = time.perf_counter()
            image = shading.shade(mask, ref, device=self.config.device, **light)
            return _png(image), label, time.perf_counter() - start

        return _image_response(*await self.run(request, work), "image/png")

    async def scene(self, request: Request, body: SceneRequest) -> dict[str, Any]:
        served = self.model(body.model, "/v1/scene", self.scene_default)
        if body.patch is not None:
            size = int(served.info.get("image_size") or 0)
            if body.patch.x + body.patch.size > size or body.patch.y + body.patch.size > size:
                raise ApiError(422, f"the patch must lie inside the {size}² view")

        def work():
            model, info = _scene_model(served.ref, self.config.device)
            camera = None
            if body.azimuth is not None:
                camera = scene_repr.orbit_camera(body.azimuth, body.distance, body.height)
            swap = (body.swap.index, body.swap.factor) if body.swap else None
            patch = (body.patch.x, body.patch.y, body.patch.size) if body.patch else None
            frame = scene_repr.view(
                model, info, body.seed, body.index, body.observations, camera, swap,
                body.reference_spp, patch,
                observed=lambda s, i, d: _observed(served.ref, info, s, i, d),
            )  # fmt: skip
            return _scene_answer(served.name, model, frame)

        return await self.run(request, work)

    async def render(self, request: Request, name: str | None, light: dict[str, float]):
        from neuralshade.render.heightfield import render
        from neuralshade.render.params import validate_params

        chosen = self.model(name, "/v1/shade", self.shade_default())
        # the render settings the model learned from (its sidecar's), in the light asked for
        params = validate_params({**chosen.info.get("render", {}), **light})
        files = await _uploads(request, {"image": True}, raw=True)

        def work():
            mask = _read(files["image"], "image", self.config.max_render_pixels, _mask)
            start = time.perf_counter()
            beauty = render(mask, params, seed=0, device=self.config.device).beauty
            seconds = time.perf_counter() - start
            return _png(beauty.permute(1, 2, 0).cpu().numpy()), chosen.name, seconds

        return _image_response(*await self.run(request, work), "image/png")

    async def denoise(self, request: Request, name, fmt: str, hdr: bool | None, quality: str):
        # OIDN by its registered name; our networks by theirs
        label = name if name in denoising.DENOISERS else \
            self.model(name, "/v1/denoise", DENOISE_MODEL).ref  # fmt: skip
        files = await _uploads(request, {"color": True, "albedo": False, "normal": False})
        limit = self.config.max_pixels

        def work():
            kinds = ("exr", "pfm", "png")
            color, albedo, normal = (
                _read(files[n], n, limit, _buffer, kinds) if n in files else None
                for n in ("color", "albedo", "normal")
            )
            linear = hdr if hdr is not None else _format(files["color"]) in denoising.HDR_FORMATS
            start = time.perf_counter()
            image = denoising.denoise(color, albedo, normal, model=label, quality=quality,
                                      hdr=linear, max_pixels=limit)  # fmt: skip
            seconds = time.perf_counter() - start
            return _encode(image, fmt), label, seconds

        return _image_response(*await self.run(request, work), BUFFER_TYPES[fmt])

    async def shadow(self, request: Request, name: str | None):
        chosen = self.model(name, "/v1/shadow", shadowing.DEFAULT_MODEL)
        files = await _uploads(request, {"image": True, "mask": True})
        limit = self.config.max_pixels

        def work():
            picture = _read(files["image"], "image", limit, lambda p, n: _picture(p, n, "RGB"))
            mask = _read(files["mask"], "mask", limit, lambda p, n: _picture(p, n, "L"))
            start = time.perf_counter()
            image = shadowing.insert_shadow(picture, mask, chosen.ref, device=self.config.device)
            return _png(image), chosen.name, time.perf_counter() - start

        return _image_response(*await self.run(request, work), "image/png")

    async def infer(self, request: Request, name: str, target: str | None, fov, fmt: str):
        from neuralshade.infer import infer

        chosen = self.model(name, "/v1/infer", "")
        inputs = chosen.info.get("inputs", [])
        targets = chosen.info.get("targets", [])
        if target is not None and target not in targets:
            raise ApiError(422, f"{chosen.name} predicts {targets}, not {target!r}")
        files = await _uploads(request, {n: True for n in inputs})
        limit = self.config.max_pixels

        def work():
            kinds = ("exr", "pfm", "npy")
            buffers = {n: _read(files[n], n, limit, _buffer, kinds) for n in inputs}
            start = time.perf_counter()
            out = infer(chosen.ref, buffers, fov=fov, device=self.config.device)
            seconds = time.perf_counter() - start
            return _encode(out[target or targets[0]], fmt), chosen.name, seconds

        return _image_response(*await self.run(request, work), BUFFER_TYPES[fmt])


# ---- uploads in, images out -----------------------------------------------------------------


async def _uploads(request: Request, fields: dict[str, bool], raw: bool = False) -> dict:
    """The uploaded files by field name (``fields``: name → required): multipart/form-data, or
    (``raw``) the body itself as the one field, with an image Content-Type."""
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if raw and kind in IMAGE_TYPES:
        body = await request.body()
        if not body:
            raise ApiError(400, "the body is empty: send the image's bytes")
        return {next(iter(fields)): body}
    if kind != "multipart/form-data":
        takes = "multipart/form-data" + (f" or {', '.join(IMAGE_TYPES)}" if raw else "")
        raise ApiError(415, f"Content-Type {kind or '(none)'} is not taken here: send {takes}")
    form = await request.form(max_files=len(fields), max_fields=len(fields))
    try:
        files = {}
        for name, required in fields.items():
            given = form.getlist(name)
            if not given:
                if required:
                    raise ApiError(422, f"the multipart field {name!r} is missing (fields: "
                                   f"{', '.join(fields)})")  # fmt: skip
                continue
            if len(given) > 1 or not isinstance(given[0], UploadFile):
                raise ApiError(422, f"the multipart field {name!r} must be one uploaded file")
            part = (given[0].content_type or "application/octet-stream").lower()
            if not (part.startswith("image/") or part == "application/octet-stream"):
                raise ApiError(415, f"{name}: content type {part} is not an image's; send the "
                               "file as image/* or application/octet-stream")  # fmt: skip
            files[name] = await given[0].read()
            if not files[name]:
                raise ApiError(400, f"{name}: the file is empty")
        return files
    finally:
        await form.close()


def _format(data: bytes) -> str:
    """A file's format from its first bytes: exr, pfm, npy, png, or image (for PIL to tell)."""
    if data.startswith(b"v/1\x01"):
        return "exr"
    if data[:2] in (b"PF", b"Pf") and data[2:3].isspace():
        return "pfm"
    if data.startswith(b"\x93NUMPY"):
        return "npy"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return "image"


def _read(data: bytes, name: str, max_pixels: int, reader: Callable, kinds=None) -> Any:
    """An upload read by ``reader(path, fmt)`` from a temporary file: 415 for a format not in
    ``kinds`` (None: any PIL reads), 413 above ``max_pixels`` (told from the header, before
    decoding), 400 for anything unreadable (the message naming the field, not the file)."""
    fmt = _format(data)
    if kinds is not None and fmt not in kinds:
        raise ApiError(415, f"{name}: not a file of the formats taken here ({', '.join(kinds)})")
    with tempfile.TemporaryDirectory(prefix="neuralshade-serve-") as folder:
        path = Path(folder) / f"{name}.{'img' if fmt == 'image' else fmt}"
        path.write_bytes(data)
        size = _size(path, fmt)
        if size is not None and size[0] * size[1] > max_pixels:
            raise ApiError(413, f"{name}: {size[0]} × {size[1]} pixels is above the limit of "
                           f"{max_pixels:,} pixels")  # fmt: skip
        try:
            return reader(path, fmt)
        except NeuralShadeError as exc:
            raise ApiError(400, str(exc).replace(str(path), name)) from None


def _size(path: Path, fmt: str) -> tuple[float, float] | None:
    """(width, height) from a file's header (infinite for a file PIL itself deems a bomb);
    None where it cannot be told (reading it then says why)."""
    try:
        if fmt == "pfm":
            width, height = path.read_bytes()[:64].split()[1:3]
            return int(width), int(height)
        if fmt == "exr":
            import OpenEXR

            with OpenEXR.File(str(path), header_only=True) as f:
                low, high = f.header()["dataWindow"]
            return int(high[0] - low[0] + 1), int(high[1] - low[1] + 1)
        if fmt == "npy":
            with open(path, "rb") as f:
                major, _ = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if major == 1 else \
                    np.lib.format.read_array_header_2_0  # fmt: skip
                shape = read(f)[0]
            return (shape[1], shape[0]) if len(shape) >= 2 else None
        with Image.open(path) as image:
            return image.size
    except Image.DecompressionBombError:  # beyond even PIL's own guard
        return (math.inf, math.inf)
    except Exception:
        return None


def _mask(path: Path, fmt: str) -> np.ndarray:
    from neuralshade.masks import load_mask

    return load_mask(path, max_pixels=math.inf)  # the limit was checked by _read


def _picture(path: Path, fmt: str, mode: str) -> np.ndarray:
    """A picture as uint8 values, made ``mode`` (RGB: grey made RGB, alpha dropped; L: grey)."""
    from neuralshade.imageio import read_image

    return np.asarray(read_image(path, max_pixels=math.inf).convert(mode))


def _buffer(path: Path, fmt: str) -> np.ndarray:
    """A float buffer (H, W, C): EXR, PFM and PNG as :func:`neuralshade.denoise.read_buffer`
    reads them, .npy as stored (pickles refused)."""
    if fmt != "npy":
        return denoising.read_buffer(path, max_pixels=math.inf)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable .npy file ({exc})") from None
    if array.ndim not in (2, 3) or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{path}: expected an (H, W) or (H, W, C) array of numbers, got "
                         f"{array.dtype} {array.shape}")  # fmt: skip
    return array.astype(np.float32)


def _png(image: np.ndarray) -> bytes:
    """(H, W, 3) or (H, W) float in [0, 1] → 8-bit PNG bytes."""
    from neuralshade.imageio import to_uint8

    out = io.BytesIO()
    Image.fromarray(to_uint8(np.squeeze(image))).save(out, format="PNG")
    return out.getvalue()


def _encode(image: np.ndarray, fmt: str) -> bytes:
    """A linear float buffer (H, W, C) as ``fmt``: png (sRGB, 8-bit), exr, pfm, npy."""
    if fmt == "npy":
        out = io.BytesIO()
        np.save(out, np.asarray(image, np.float32), allow_pickle=False)
        return out.getvalue()
    with tempfile.TemporaryDirectory(prefix="neuralshade-serve-") as folder:
        path = Path(folder) / f"out.{fmt}"
        denoising.write_buffer(path, image, fmt)
        return path.read_bytes()


def _image_response(body: bytes, model: str, seconds: float, kind: str) -> Response:
    headers = {"X-Model": model, "X-Milliseconds": f"{seconds * 1e3:.1f}"}
    return Response(body, media_type=kind, headers=headers)


# ---- running it ----------------------------------------------------------------------------


def make_server(config: ServeConfig, log_level: str = "info"):
    """A uvicorn server of :func:`create_app`'s application (``.run()`` serves until stopped;
    ``.should_exit = True`` stops it)."""
    import uvicorn

    app = create_app(config)
    return uvicorn.Server(
        uvicorn.Config(
            app, host=config.host, port=config.port, log_level=log_level, server_header=False
        )  # fmt: skip
    )


@contextmanager
def running(config: ServeConfig | None = None, log_level: str = "warning") -> Iterator[str]:
    """The server in a thread of this process, on a free loopback port unless ``config`` names
    one, for as long as the ``with`` block lasts: yields its base URL (``http://127.0.0.1:N``).
    The browser tests and ``benchmarks/web_speed.py`` drive the page through it."""
    import socket

    config = config or ServeConfig()
    if config.port == 0:
        with socket.socket() as s:
            s.bind((config.host, 0))
            config = config.model_copy(update={"port": s.getsockname()[1]})
    server = make_server(config, log_level)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the server did not start on {config.host}:{config.port}")
            time.sleep(0.02)
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def serve(host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info", **options) -> None:
    """Serve the API and the browser page on ``host``:``port`` until interrupted.

    options: the other fields of :class:`ServeConfig` (``model``, ``device``, ``max_upload_mb``,
    ``max_pixels``, ``max_render_pixels``, ``timeout``, ``workers``, ``queue``, ``web``);
    bad values raise ConfigError naming them.
    """
    config = build(ServeConfig, {"host": host, "port": port, **options}, "serve options")
    make_server(config, log_level).run()


__all__ = [
    "ApiError",
    "ServeConfig",
    "create_app",
    "make_server",
    "running",
    "serve",
    "served_models",
]


#: the default model of /v1/scene
SCENE_MODEL = scene_repr.DEFAULT_MODEL
_SCENE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _scene_model(ref: str, device: str):
    """A scene model, loaded once; it runs on the CPU (its inputs are rendered there, and
    one small view is faster there than a transfer)."""
    return scene_repr.load(ref, "cpu")


_OBSERVED: dict[tuple, Any] = {}


def _observed(ref: str, info: dict[str, Any], seed: int, index: int, draw: int):
    """A room's observed views, rendered once and kept (the last 32 rooms)."""
    key = (ref, seed, index, draw)
    with _SCENE_LOCK:
        if key in _OBSERVED:
            return _OBSERVED[key]
    found = scene_repr.observe(info, seed, index, draw)
    with _SCENE_LOCK:
        _OBSERVED[key] = found
        while len(_OBSERVED) > 32:
            _OBSERVED.pop(next(iter(_OBSERVED)))
    return found


def _data_url(image: np.ndarray) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(_png(image)).decode()


def _scene_answer(name: str, model: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """The viewer's JSON: images as PNG data URLs (radiance through the sRGB curve, as the
    docs' sheets show it; the partitions' maps on one scale, each buffer's on its own)."""
    from neuralshade.sheets import display

    def shown(x: np.ndarray) -> np.ndarray:
        return display(np.maximum(x, 0), "linear")

    out: dict[str, Any] = {
        "model": name,
        "size": int(frame["prediction"].shape[0]),
        "prediction": _data_url(shown(frame["prediction"])),
        "reference": None if frame["reference"] is None else _data_url(shown(frame["reference"])),
        "observations": [_data_url(shown(v)) for v in frame["observations"]],
        "milliseconds": {k: round(v * 1e3, 2) for k, v in frame["seconds"].items()},
        "partition_sizes": dict(zip(("lighting", "geometry", "material"),
                                    model.partition.sizes()[:3].tolist(), strict=True)),
    }  # fmt: skip
    if "partitions" in frame:
        top = max(float(m.max()) for m in frame["partitions"].values()) or 1.0
        out["partitions"] = {k: _data_url(m / top) for k, m in frame["partitions"].items()}
        out["buffers"] = {k: _data_url(m / (float(m.max()) or 1.0))
                          for k, m in frame["buffers"].items()}  # fmt: skip
    return out
