// neuralshade's page: a mask (drawn, typed or dropped) shaded by the network in the browser.
//
// The network runs in onnxruntime-web (vendor/onnxruntime-web: WebGPU where the browser has
// it, else WebAssembly), on the ONNX files and the manifest that `python -m
// neuralshade.webmodels` writes into models/. Where neither can start (no WebAssembly, the
// page opened from a file), or with ?backend=server, the server's POST /v1/shade shades it.
// The input tensor is (1, C, H, W): the mask (white = 1; colour read as Rec. 709 luminance,
// as the server reads it), then, for a light-conditioned model, the constants of the unit
// vector towards the light, (cos e cos a, cos e sin a, sin e) (a: azimuth counter-clockwise on
// screen from +x, e: elevation), and height / unit.
// Renders never queue up: while one runs, later changes only mark the state dirty, and the
// latest state is rendered when it ends.

import * as ort from "./vendor/onnxruntime-web/ort.webgpu.min.mjs";

const query = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const REC709 = [0.2126, 0.7152, 0.0722];

ort.env.wasm.wasmPaths = new URL("./vendor/onnxruntime-web/", import.meta.url).href;
ort.env.wasm.numThreads = self.crossOriginIsolated
  ? Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8)) : 1;
ort.env.logLevel = "error";
// WebGPU only where the browser offers an adapter (headless and blocklisted GPUs offer none)
const gpuAdapter = navigator.gpu
  ? navigator.gpu.requestAdapter().catch(() => null) : Promise.resolve(null);

const state = {
  size: 256,
  models: [],
  model: null,          // the manifest entry in use
  session: null,        // an ort.InferenceSession, or null for the server
  backend: "starting",
  light: { azimuth: 135, elevation: 30, height: 24 },
  busy: false,
  dirty: false,
  idle: [],             // resolvers waiting for the renders to settle
  lastMs: null,         // inference alone
  lastTotalMs: null,    // mask read, tensor, inference, drawing
  frames: 0,
};

const maskCanvas = $("mask");
const outCanvas = $("output");
const refCanvas = $("reference-canvas");
const mctx = maskCanvas.getContext("2d", { willReadFrequently: true });
const octx = outCanvas.getContext("2d", { willReadFrequently: true });
const rctx = refCanvas.getContext("2d", { willReadFrequently: true });

function setStatus(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

// ---- models and backends ----

async function loadManifest() {
  const response = await fetch("models/models.json");
  if (!response.ok) throw new Error(`models/models.json: HTTP ${response.status}`);
  const manifest = await response.json();
  if (!manifest.models || !manifest.models.length) throw new Error("no models in models.json");
  return manifest.models;
}

async function startSession(model) {
  const forced = query.get("backend");
  // onnxruntime-web needs WebAssembly for either provider (WebGPU's runtime is WebAssembly too)
  if (forced === "server" || typeof WebAssembly !== "object") {
    return { session: null, backend: "server" };
  }
  const providers = [];
  if (forced !== "wasm" && (await gpuAdapter)) providers.push("webgpu");
  if (forced !== "webgpu") providers.push("wasm");
  // The WebAssembly provider runs in a worker (onnxruntime-web's proxy), so the page keeps
  // answering the pointer while a frame is computed. The proxy cannot host WebGPU and is
  // fixed by the first session, so it follows the provider tried first (the same every time).
  ort.env.wasm.proxy = providers[0] === "wasm";
  for (const ep of providers) {
    try {
      const session = await ort.InferenceSession.create(`models/${model.file}`, {
        executionProviders: [ep],
        graphOptimizationLevel: "all",
      });
      return { session, backend: ep };
    } catch (err) {
      console.warn(`onnxruntime-web could not start ${ep}: ${err.message || err}`);
    }
  }
  return { session: null, backend: "server" };
}

async function useModel(name) {
  const model = state.models.find((m) => m.name === name) || state.models[0];
  state.model = model;
  $("model").value = model.name;
  setStatus(`loading ${model.name}…`);
  if (state.session) await state.session.release();
  const { session, backend } = await startSession(model);
  state.session = session;
  state.backend = backend;
  configureLight();
  const threads = backend !== "wasm" ? "" :
    `, ${ort.env.wasm.numThreads} thread(s)${ort.env.wasm.proxy ? " in a worker" : ""}`;
  setStatus(`${model.name} · ${backend === "server" ? "server (POST /v1/shade)" : backend}${threads}`);
}

const conditioned = () => state.model && state.model.channels.length > 1;

function configureLight() {
  const { model } = state;
  const keys = { azimuth: "light_azimuth", elevation: "light_elevation", height: "height" };
  for (const [id, key] of Object.entries(keys)) {
    const input = $(id);
    const range = model.ranges[key];
    if (conditioned() && range) {
      input.min = range[0];
      input.max = range[1];
      input.disabled = false;
    } else {
      input.disabled = true;
      state.light[id] = model.light[key];  // a fixed-light model knows its own only
    }
    input.value = state.light[id] = clamp(state.light[id], +input.min, +input.max);
  }
  showLight();
  $("light-note").textContent = conditioned()
    ? "Drag on the network's image: the light comes from the pointer's side, lower the farther out."
    : `${model.name} knows one light; pick a light-conditioned model to move it.`;
}

function showLight() {
  $("azimuth-value").textContent = `${Math.round(state.light.azimuth)}°`;
  $("elevation-value").textContent = `${Math.round(state.light.elevation)}°`;
  $("height-value").textContent = `${Math.round(state.light.height)} px`;
}

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// ---- the mask ----

function clearMask() {
  mctx.fillStyle = "#000";
  mctx.fillRect(0, 0, state.size, state.size);
}

function drawText(text, size) {
  mctx.fillStyle = "#fff";
  mctx.font = `bold ${size}px sans-serif`;
  mctx.textAlign = "center";
  mctx.textBaseline = "middle";
  const lines = text.split("\\n");
  lines.forEach((line, i) => {
    const y = state.size / 2 + (i - (lines.length - 1) / 2) * size * 1.1;
    mctx.fillText(line, state.size / 2, y, state.size * 0.95);
  });
}

function drawExample() {
  clearMask();
  const s = state.size / 256;
  mctx.fillStyle = "#fff";
  mctx.beginPath();
  mctx.arc(70 * s, 70 * s, 34 * s, 0, 2 * Math.PI);
  mctx.fill();
  mctx.fillRect(140 * s, 40 * s, 80 * s, 50 * s);
  drawText("neural", Math.round(56 * s));
  mctx.font = `bold ${Math.round(40 * s)}px sans-serif`;
  mctx.fillText("shade", 128 * s, 200 * s);
}

// the picture as luminance, fitted inside the square on black, written back as grey
async function loadPicture(blob) {
  const bitmap = await createImageBitmap(blob);
  clearMask();
  const scale = Math.min(state.size / bitmap.width, state.size / bitmap.height);
  const w = bitmap.width * scale, h = bitmap.height * scale;
  mctx.drawImage(bitmap, (state.size - w) / 2, (state.size - h) / 2, w, h);
  const image = mctx.getImageData(0, 0, state.size, state.size);
  const d = image.data;
  for (let i = 0; i < d.length; i += 4) {
    const alpha = d[i + 3] / 255;  // transparent areas are ground
    const y = Math.round(alpha * (REC709[0] * d[i] + REC709[1] * d[i + 1] + REC709[2] * d[i + 2]));
    d[i] = d[i + 1] = d[i + 2] = y;
    d[i + 3] = 255;
  }
  mctx.putImageData(image, 0, 0);
}

function resize(size) {
  const copy = document.createElement("canvas");
  copy.width = copy.height = state.size;
  copy.getContext("2d").drawImage(maskCanvas, 0, 0);
  state.size = size;
  for (const c of [maskCanvas, outCanvas, refCanvas]) c.width = c.height = size;
  clearMask();
  mctx.imageSmoothingEnabled = true;
  mctx.drawImage(copy, 0, 0, size, size);
  $("reference-figure").hidden = true;
}

function readMask() {
  const d = mctx.getImageData(0, 0, state.size, state.size).data;
  const n = state.size * state.size;
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const j = 4 * i;
    mask[i] = (REC709[0] * d[j] + REC709[1] * d[j + 1] + REC709[2] * d[j + 2]) / 255;
  }
  return mask;
}

function inputTensor(mask) {
  const n = mask.length;
  const channels = state.model.channels;
  const data = new Float32Array(channels.length * n);
  data.set(mask, 0);
  const a = (state.light.azimuth * Math.PI) / 180;
  const e = (state.light.elevation * Math.PI) / 180;
  const constants = {
    light_x: Math.cos(e) * Math.cos(a),
    light_y: Math.cos(e) * Math.sin(a),
    light_z: Math.sin(e),
    height_over_unit: state.light.height / state.model.height_unit,
  };
  channels.slice(1).forEach((name, k) => data.fill(constants[name], (k + 1) * n, (k + 2) * n));
  return new ort.Tensor("float32", data, [1, channels.length, state.size, state.size]);
}

function drawOutput(data) {
  const n = state.size * state.size;
  const image = octx.createImageData(state.size, state.size);
  const d = image.data;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) d[4 * i + c] = Math.round(clamp(data[c * n + i], 0, 1) * 255);
    d[4 * i + 3] = 255;
  }
  octx.putImageData(image, 0, 0);
}

// ---- rendering: at most one at a time, always ending on the latest state ----

function lightQuery() {
  const q = new URLSearchParams({ model: state.model.name });
  if (conditioned()) {
    q.set("light_azimuth", state.light.azimuth.toFixed(3));
    q.set("light_elevation", state.light.elevation.toFixed(3));
    q.set("height", state.light.height.toFixed(3));
  }
  return q;
}

const maskPNG = () => new Promise((resolve) => maskCanvas.toBlob(resolve, "image/png"));

async function serverImage(path, ctx) {
  const response = await fetch(`${path}?${lightQuery()}`, {
    method: "POST",
    headers: { "Content-Type": "image/png" },
    body: await maskPNG(),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `HTTP ${response.status}`);
  }
  const bitmap = await createImageBitmap(await response.blob(), { colorSpaceConversion: "none" });
  ctx.drawImage(bitmap, 0, 0);
  return Number(response.headers.get("X-Milliseconds"));
}

async function renderOnce() {
  const start = performance.now();
  let inferenceMs;
  if (state.session) {
    const tensor = inputTensor(readMask());
    const t0 = performance.now();
    const result = await state.session.run({ input: tensor });
    inferenceMs = performance.now() - t0;
    drawOutput(await result.output.getData());
    tensor.dispose?.();
  } else {
    inferenceMs = await serverImage("/v1/shade", octx);
  }
  state.lastMs = inferenceMs;
  state.lastTotalMs = performance.now() - start;
  state.frames += 1;
  $("timing").textContent =
    `inference ${inferenceMs.toFixed(1)} ms · frame ${state.lastTotalMs.toFixed(1)} ms · ` +
    `${state.size}² · ${state.backend}`;
}

async function requestRender() {
  state.dirty = true;
  if (state.busy || !state.model) return;
  state.busy = true;
  try {
    while (state.dirty) {
      state.dirty = false;
      await renderOnce();
    }
  } catch (err) {
    setStatus(`render failed: ${err.message || err}`, true);
    console.error(err);
  } finally {
    state.busy = false;
    state.idle.splice(0).forEach((resolve) => resolve());
  }
}

function settled() {
  return new Promise((resolve) => {
    if (!state.busy && !state.dirty) resolve();
    else state.idle.push(resolve);
  });
}

async function showReference() {
  const button = $("reference");
  button.disabled = true;
  $("reference-note").textContent = "rendering on the server…";
  try {
    await settled();
    const t0 = performance.now();
    await serverImage("/v1/render", rctx);
    const seconds = (performance.now() - t0) / 1000;
    const a = octx.getImageData(0, 0, state.size, state.size).data;
    const b = rctx.getImageData(0, 0, state.size, state.size).data;
    let sum = 0;
    for (let i = 0; i < a.length; i += 4) {
      sum += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
    }
    const mad = sum / (3 * 255 * state.size * state.size);
    $("reference-figure").hidden = false;
    $("reference-caption").textContent = `Reference render (${seconds.toFixed(2)} s on the server)`;
    $("reference-note").textContent = `mean absolute difference, network vs renderer: ${mad.toFixed(4)}`;
    return mad;
  } catch (err) {
    $("reference-note").textContent = `reference failed: ${err.message || err}`;
    throw err;
  } finally {
    button.disabled = false;
  }
}

// ---- input events ----

function canvasPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  return [
    ((event.clientX - rect.left) / rect.width) * canvas.width,
    ((event.clientY - rect.top) / rect.height) * canvas.height,
  ];
}

function wireDrawing() {
  let last = null;
  maskCanvas.addEventListener("pointerdown", (event) => {
    maskCanvas.setPointerCapture(event.pointerId);
    last = canvasPoint(maskCanvas, event);
    stroke(last, last);
  });
  maskCanvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const point = canvasPoint(maskCanvas, event);
    stroke(last, point);
    last = point;
  });
  const end = () => { last = null; };
  maskCanvas.addEventListener("pointerup", end);
  maskCanvas.addEventListener("pointercancel", end);

  function stroke(from, to) {
    const scale = state.size / 256;
    mctx.strokeStyle = $("eraser").checked ? "#000" : "#fff";
    mctx.lineWidth = +$("brush").value * scale;
    mctx.lineCap = mctx.lineJoin = "round";
    mctx.beginPath();
    mctx.moveTo(...from);
    mctx.lineTo(...to);
    mctx.stroke();
    requestRender();
  }

  // a dropped picture
  maskCanvas.addEventListener("dragover", (event) => {
    event.preventDefault();
    maskCanvas.classList.add("dragover");
  });
  maskCanvas.addEventListener("dragleave", () => maskCanvas.classList.remove("dragover"));
  maskCanvas.addEventListener("drop", async (event) => {
    event.preventDefault();
    maskCanvas.classList.remove("dragover");
    const file = event.dataTransfer.files[0];
    if (file) { await loadPicture(file); requestRender(); }
  });
}

function wireLightDrag() {
  let dragging = false;
  const move = (event) => {
    if (!conditioned()) return;
    const [x, y] = canvasPoint(outCanvas, event);
    const dx = x - state.size / 2, dy = state.size / 2 - y;  // y up, as the azimuth counts
    const azimuth = ((Math.atan2(dy, dx) * 180) / Math.PI + 360) % 360;
    const range = state.model.ranges.light_elevation || [state.light.elevation, state.light.elevation];
    const r = clamp(Math.hypot(dx, dy) / (state.size / 2), 0, 1);
    setLight(azimuth, range[1] - r * (range[1] - range[0]), state.light.height);
  };
  outCanvas.addEventListener("pointerdown", (event) => {
    dragging = true;
    outCanvas.setPointerCapture(event.pointerId);
    move(event);
  });
  outCanvas.addEventListener("pointermove", (event) => dragging && move(event));
  outCanvas.addEventListener("pointerup", () => { dragging = false; });
}

function setLight(azimuth, elevation, height) {
  const ids = { azimuth, elevation, height };
  for (const [id, value] of Object.entries(ids)) {
    const input = $(id);
    if (input.disabled) continue;
    state.light[id] = clamp(+value, +input.min, +input.max);
    input.value = state.light[id];
  }
  showLight();
  requestRender();
}

function wireControls() {
  for (const id of ["azimuth", "elevation", "height"]) {
    $(id).addEventListener("input", () => {
      state.light[id] = +$(id).value;
      showLight();
      requestRender();
    });
  }
  $("clear").addEventListener("click", () => { clearMask(); requestRender(); });
  $("example").addEventListener("click", () => { drawExample(); requestRender(); });
  $("addtext").addEventListener("click", () => {
    drawText($("text").value, +$("fontsize").value * (state.size / 256));
    requestRender();
  });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter") $("addtext").click();
  });
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    if (file) { await loadPicture(file); requestRender(); }
  });
  $("size").addEventListener("change", () => { resize(+$("size").value); requestRender(); });
  $("model").addEventListener("change", async () => {
    await settled();
    await useModel($("model").value);
    requestRender();
  });
  $("reference").addEventListener("click", () => showReference().catch(() => {}));
}

// ---- start, and the hook the browser tests drive ----

async function start() {
  clearMask();
  drawExample();
  wireDrawing();
  wireLightDrag();
  wireControls();
  state.models = await loadManifest();
  for (const m of state.models) $("model").add(new Option(m.name, m.name));
  // a light-conditioned model first: the page is about moving the light
  const first = query.get("model") || (state.models.find((m) => m.channels.length > 1) || state.models[0]).name;
  await useModel(first);
  await requestRender();
}

const ready = start().catch((err) => {
  setStatus(`could not start: ${err.message || err}`, true);
  console.error(err);
  throw err;
});

window.neuralshade = {
  ready,
  state,
  async setMask(dataURL) {
    const blob = await (await fetch(dataURL)).blob();
    await loadPicture(blob);
    await requestRender();
    await settled();
  },
  async setLight(azimuth, elevation, height) {
    setLight(azimuth, elevation, height);
    await settled();
  },
  async setModel(name) {
    await settled();
    await useModel(name);
    await requestRender();
    await settled();
  },
  async setSize(size) {
    $("size").value = String(size);
    resize(size);
    await requestRender();
    await settled();
  },
  async render() {
    await requestRender();
    await settled();
    return { ms: state.lastMs, totalMs: state.lastTotalMs };
  },
  settled,
  reference: showReference,
  maskPNG: () => maskCanvas.toDataURL("image/png"),
  outputPNG: () => outCanvas.toDataURL("image/png"),
  get backend() { return state.backend; },
  get ortVersion() { return ort.env.versions?.web ?? null; },
  get threads() { return state.backend === "wasm" ? ort.env.wasm.numThreads : null; },
  get lastMs() { return state.lastMs; },
};
