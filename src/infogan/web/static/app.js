// The latent explorer page: controls for every code, the generated image, a traversal strip and Q's
// posterior of an uploaded image. All inference happens on the server (see infogan/web/server.py).
"use strict";

const state = { model: null, seed: 0, values: {}, selected: null, posterior: null };
const $ = (id) => document.getElementById(id);

// One image loader per <img>: coalesces requests so that at most one is in flight and the last
// requested state is always the one shown (a slider drag fires far more events than a CPU can render).
function makeLoader(img, urlOf, delayMs, onLoaded) {
  let timer = null, inflight = false, pending = false, objectUrl = null;
  async function load() {
    if (inflight) { pending = true; return; }
    inflight = true;
    const started = performance.now();
    try {
      const res = await fetch(urlOf(), { cache: "no-store" });
      if (!res.ok) throw new Error((await res.json()).error || res.statusText);
      const blob = await res.blob();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(blob);
      img.src = objectUrl;
      img.dataset.version = String(Number(img.dataset.version) + 1);
      showError(null);
      if (onLoaded) onLoaded(performance.now() - started);
    } catch (err) {
      showError(String(err.message || err));
    } finally {
      inflight = false;
      if (pending) { pending = false; load(); }
    }
  }
  return function schedule() {
    clearTimeout(timer);
    timer = setTimeout(load, delayMs);
  };
}

function query(extra) {
  const params = new URLSearchParams({ seed: String(state.seed) });
  for (const code of state.model.codes) params.set(code.name, String(state.values[code.name]));
  for (const [k, v] of Object.entries(extra || {})) params.set(k, String(v));
  return params.toString();
}

const refreshImage = makeLoader($("sample"), () => `/api/generate?${query()}`, 10, (ms) => {
  $("latency").textContent = `${ms.toFixed(0)} ms per image`;
});
function ordered(code) {
  return code.kind === "categorical" && code.labels && $("order-by-label").checked;
}

const refreshTraversal = makeLoader($("traversal"), () => {
  const code = state.model.codes.find((c) => c.name === state.selected);
  return `/api/traversal?${query({ code: state.selected, ...(ordered(code) ? { order: "label" } : {}) })}`;
}, 80);

function refresh() {
  refreshImage();
  if (state.selected) refreshTraversal();
}

function showError(message, id = "error") {
  const box = $(id);
  box.hidden = !message;
  box.textContent = message || "";
}

// ----- controls ---------------------------------------------------------------------------------------
function buildControls() {
  const container = $("codes");
  const select = $("traverse-code");
  for (const code of state.model.codes) {
    state.values[code.name] = code.default;
    const row = document.createElement("div");
    row.className = "code";
    row.dataset.code = code.name;
    const label = document.createElement("div");
    label.className = "code-name";
    label.textContent = code.kind === "categorical" ? `${code.name}  Cat(${code.k})` : `${code.name}  ${code.prior}`;
    if (code.recovered != null) {  // from the run's info result: what Q reads back of this code
      const what = code.kind === "categorical" ? `${(100 * code.recovered).toFixed(1)}% recovered`
                                               : `R² ${code.recovered.toFixed(3)}`;
      label.textContent += `  (${what})`;
      label.title = code.kind === "categorical" ? "share of generated images whose category Q reads back"
                                                : "fraction of the code's variance that Q's mean recovers";
    }
    row.appendChild(label);
    row.appendChild(code.kind === "categorical" ? picker(code) : slider(code));
    row.addEventListener("pointerdown", () => select_(code.name));
    row.addEventListener("focusin", () => select_(code.name));
    container.appendChild(row);
    select.add(new Option(code.name, code.name));
  }
  select.addEventListener("change", () => select_(select.value));
  if (state.model.codes.length) select_(state.model.codes[0].name);
  else $("traversal-panel").hidden = true;  // a noise-only model has nothing to traverse
}

function picker(code) {
  const group = document.createElement("div");
  group.className = "picker";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `${code.name} category`);
  for (let i = 0; i < code.k; i++) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = `${code.name}-${i}`;
    button.textContent = code.labels ? `${i} - ${code.labels[i]}` : String(i);
    button.addEventListener("click", () => setValue(code.name, i));
    group.appendChild(button);
  }
  return group;
}

function slider(code) {
  const wrap = document.createElement("div");
  wrap.className = "slider";
  const track = document.createElement("div");
  track.className = "track";
  const band = document.createElement("div");
  band.className = "band";
  band.title = code.marked_label;
  const lo = (code.marked[0] - code.min) / (code.max - code.min), hi = (code.marked[1] - code.min) / (code.max - code.min);
  band.style.left = `${(100 * lo).toFixed(2)}%`;
  band.style.width = `${(100 * (hi - lo)).toFixed(2)}%`;
  const input = document.createElement("input");
  input.type = "range";
  input.id = code.name;
  input.min = code.min;
  input.max = code.max;
  input.step = "0.01";
  input.value = code.default;
  input.setAttribute("aria-label", `${code.name} value`);
  input.addEventListener("input", () => setValue(code.name, Number(input.value)));
  const out = document.createElement("output");
  out.id = `${code.name}-value`;
  track.append(band, input);
  const scale = document.createElement("div");
  scale.className = "scale muted";
  for (const text of [String(code.min), code.marked_label, String(code.max)]) {
    const span = document.createElement("span");
    span.textContent = text;
    scale.appendChild(span);
  }
  wrap.append(track, out, scale);
  return wrap;
}

function select_(name) {
  if (state.selected === name) return;
  state.selected = name;
  $("traverse-code").value = name;
  for (const row of document.querySelectorAll(".code")) row.classList.toggle("selected", row.dataset.code === name);
  const code = state.model.codes.find((c) => c.name === name);
  $("order-label").hidden = !(code.kind === "categorical" && code.labels);  // needs the run's code_acc result
  refreshTraversal();
}

function setValue(name, value) {
  state.values[name] = value;
  showValue(name);
  refresh();
}

function showValue(name) {
  const code = state.model.codes.find((c) => c.name === name);
  const value = state.values[name];
  if (code.kind === "categorical") {
    for (let i = 0; i < code.k; i++) $(`${name}-${i}`).setAttribute("aria-pressed", String(i === value));
  } else {
    $(name).value = value;
    $(`${name}-value`).textContent = Number(value).toFixed(2);
  }
}

function setSeed(seed) {
  state.seed = seed;
  $("seed").value = seed;
  refresh();
}

// ----- traversal clicks -------------------------------------------------------------------------------
function jumpFromTraversal(event) {
  const code = state.model.codes.find((c) => c.name === state.selected);
  const img = $("traversal");
  const n = code.kind === "categorical" ? code.k : state.model.steps;
  const cell = Math.min(n - 1, Math.max(0, Math.floor((event.offsetX / img.clientWidth) * n)));
  const category = ordered(code) ? code.order[cell] : cell;
  setValue(code.name, code.kind === "categorical" ? category : code.min + (cell * (code.max - code.min)) / (n - 1));
}

// ----- encoding ---------------------------------------------------------------------------------------
async function encodeFile(file) {
  showError(null, "encode-error");
  if (file.size > state.model.max_upload_bytes) {
    showError(`${file.name} is ${file.size} bytes; the limit is ${state.model.max_upload_bytes}`, "encode-error");
    return;
  }
  try {
    const res = await fetch("/api/encode", { method: "POST", body: file,
                                             headers: { "Content-Type": file.type || "application/octet-stream" } });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    showPosterior(data);
  } catch (err) {
    showError(`${file.name}: ${err.message || err}`, "encode-error");
  }
}

function showPosterior(data) {
  state.posterior = data;
  $("encoded-input").src = data.input;
  const box = $("posterior-codes");
  box.replaceChildren();
  for (const code of data.codes) {
    const block = document.createElement("div");
    block.className = "posterior-code";
    block.dataset.code = code.name;
    const title = document.createElement("div");
    title.className = "code-name";
    if (code.kind === "categorical") {
      title.textContent = `${code.name}: category ${code.category} (${(100 * code.probs[code.category]).toFixed(1)}%)`;
      block.appendChild(title);
      code.probs.forEach((p, i) => {
        const row = document.createElement("div");
        row.className = "bar-row" + (i === code.category ? " best" : "");
        const name = document.createElement("span");
        name.textContent = String(i);
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.style.width = `${(100 * p).toFixed(1)}%`;
        const text = document.createElement("span");
        text.className = "muted";
        text.textContent = `${(100 * p).toFixed(1)}%`;
        const holder = document.createElement("span");
        holder.className = "bar-holder";
        holder.appendChild(bar);
        row.append(name, holder, text);
        block.appendChild(row);
      });
    } else {
      title.textContent = `${code.name}: mean ${code.mean.toFixed(3)}, std ${code.std.toFixed(3)}`;
      block.append(title, gaussian(code, state.model.codes.find((c) => c.name === code.name)));
    }
    box.appendChild(block);
  }
  $("posterior").hidden = false;
}

// Q's Gaussian posterior drawn on the slider's scale: a band for mean ± std and a tick at the mean.
function gaussian(code, spec) {
  const at = (v) => `${(100 * (Math.min(spec.max, Math.max(spec.min, v)) - spec.min) / (spec.max - spec.min)).toFixed(2)}%`;
  const track = document.createElement("div");
  track.className = "gauss";
  track.title = `mean ± std on [${spec.min}, ${spec.max}]`;
  const spread = document.createElement("span");
  spread.className = "spread";
  spread.style.left = at(code.mean - code.std);
  spread.style.right = `calc(100% - ${at(code.mean + code.std)})`;
  const mean = document.createElement("span");
  mean.className = "mean";
  mean.style.left = at(code.mean);
  track.append(spread, mean);
  return track;
}

function useCodes() {
  for (const code of state.posterior.codes) {
    const spec = state.model.codes.find((c) => c.name === code.name);
    state.values[code.name] = code.kind === "categorical" ? code.category
      : Math.min(spec.max, Math.max(spec.min, Math.round(code.mean * 100) / 100));
    showValue(code.name);
  }
  refresh();
}

function wireEncoding() {
  $("file").addEventListener("change", (e) => { if (e.target.files.length) encodeFile(e.target.files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) encodeFile(e.dataTransfer.files[0]);
  });
  $("use-codes").addEventListener("click", useCodes);
}

// ----- start ------------------------------------------------------------------------------------------
async function init() {
  const res = await fetch("/api/model");
  state.model = await res.json();
  const m = state.model;
  $("model-info").textContent = `${m.preset || "model"} at step ${m.step} · ${m.image_shape.join("×")} · ${m.latent}`;
  $("seed").max = m.max_seed;
  buildControls();
  for (const code of m.codes) showValue(code.name);
  $("seed").addEventListener("change", () => {
    const seed = Number($("seed").value);
    if (Number.isInteger(seed) && seed >= 0 && seed <= m.max_seed) setSeed(seed);
    else showError(`the seed must be an integer in 0..${m.max_seed}`);
  });
  $("new-noise").addEventListener("click", () => setSeed(Math.floor(Math.random() * m.max_seed)));
  $("traversal").addEventListener("click", jumpFromTraversal);
  $("order-by-label").addEventListener("change", () => refreshTraversal());
  wireEncoding();
  refresh();
  document.body.dataset.ready = "true";
}

init().catch((err) => showError(`cannot reach the explorer server: ${err.message || err}`));
