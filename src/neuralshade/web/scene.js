// The scene viewer: every frame comes from the server's POST /v1/scene (Mitsuba renders the
// observed views and the query G-buffer there; the network is small and runs there too).
// A test hook: window.neuralshade = {ready, frame(), last, request()}.

const $ = (id) => document.getElementById(id);
const state = { draw: 0, patch: null, inflight: false, pending: false, last: null };

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function request() {
  const own = $("own-camera").checked;
  const body = {
    seed: +$("seed").value,
    index: +$("room").value,
    observations: state.draw,
    reference_spp: +$("spp").value,
  };
  if (!own) {
    body.azimuth = +$("cam-azimuth").value;
    body.distance = +$("cam-distance").value;
    body.height = +$("cam-height").value;
  }
  if ($("swap-factor").value) {
    body.swap = { index: +$("room-b").value, factor: $("swap-factor").value };
  }
  if (state.patch) body.patch = state.patch;
  return body;
}

function figure(src, caption) {
  const fig = document.createElement("figure");
  const img = document.createElement("img");
  img.src = src;
  img.alt = caption;
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.append(img, cap);
  return fig;
}

function outline(patch, size) {
  // the clicked patch, drawn over the prediction where its attributions come from
  const box = $("patch-box");
  box.hidden = !patch;
  if (!patch) return;
  const pct = (v) => `${(100 * v) / size}%`;
  Object.assign(box.style, { left: pct(patch.x), top: pct(patch.y), width: pct(patch.size), height: pct(patch.size) });
}

function show(answer, body) {
  $("prediction").src = answer.prediction;
  outline(body.patch, answer.size);
  $("reference").hidden = !answer.reference;
  if (answer.reference) $("reference").src = answer.reference;
  $("reference-caption").textContent = answer.reference
    ? `Mitsuba, ${$("spp").value} spp${$("swap-factor").value ? " (the mixed room)" : ""}`
    : "Mitsuba (off)";
  $("observations").replaceChildren(
    ...answer.observations.map((src, k) => figure(src, `observed ${k + 1}`)));
  const maps = [];
  if (answer.partitions) {
    for (const [name, src] of Object.entries(answer.partitions)) maps.push(figure(src, `partition ${name}`));
    for (const [name, src] of Object.entries(answer.buffers)) maps.push(figure(src, name));
  }
  $("attribution-title").hidden = maps.length === 0;
  $("attributions").replaceChildren(...maps);
  const sizes = Object.entries(answer.partition_sizes)
    .map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`).join(", ");
  $("partitions").textContent = `The representation's partitions: ${sizes}.`;
  const ms = answer.milliseconds;
  $("timing").textContent = `network ${ms.network.toFixed(1)} ms · query G-buffer ` +
    `${ms.query.toFixed(0)} ms · observations ${ms.observe.toFixed(0)} ms (${answer.size}²)`;
}

async function frame() {
  // one request at a time; the newest settings win
  if (state.inflight) { state.pending = true; return state.done; }
  state.inflight = true;
  const body = request();
  setStatus("rendering…");
  state.done = (async () => {
    try {
      const response = await fetch("/v1/scene", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
      show(answer, body);
      state.last = { body, answer };
      setStatus("ready");
    } catch (err) {
      setStatus(`error: ${err.message}`, true);
    } finally {
      state.inflight = false;
    }
    if (state.pending) { state.pending = false; await frame(); }
  })();
  return state.done;
}

function wire() {
  const rerender = () => frame();
  for (const id of ["seed", "room", "spp", "swap-factor", "room-b"]) {
    $(id).addEventListener("change", () => { state.patch = null; rerender(); });
  }
  for (const [id, unit, digits] of [["cam-azimuth", "°", 0], ["cam-distance", "", 2], ["cam-height", "", 2]]) {
    $(id).addEventListener("input", () => {
      $(`${id}-value`).textContent = `${(+$(id).value).toFixed(digits)}${unit}`;
      rerender();
    });
  }
  $("own-camera").addEventListener("change", () => {
    for (const id of ["cam-azimuth", "cam-distance", "cam-height"]) $(id).disabled = $("own-camera").checked;
    rerender();
  });
  $("random-room").addEventListener("click", () => {
    $("room").value = Math.floor(Math.random() * 1e6); state.draw = 0; state.patch = null;
    $("draw-value").textContent = "draw 0"; rerender();
  });
  $("random-b").addEventListener("click", () => { $("room-b").value = Math.floor(Math.random() * 1e6); rerender(); });
  $("redraw").addEventListener("click", () => {
    state.draw += 1; $("draw-value").textContent = `draw ${state.draw}`; rerender();
  });
  $("prediction").addEventListener("click", (event) => {
    const img = $("prediction");
    const size = state.last ? state.last.answer.size : img.naturalWidth;
    const rect = img.getBoundingClientRect();
    const side = Math.max(2, Math.round(size / 8));
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * size - side / 2);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * size - side / 2);
    state.patch = { x: Math.min(size - side, Math.max(0, x)), y: Math.min(size - side, Math.max(0, y)), size: side };
    rerender();
  });
}

wire();
const ready = frame();
window.neuralshade = { ready, frame, request, get last() { return state.last; } };
