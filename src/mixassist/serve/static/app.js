// mixassist console: the page of `mixassist serve`. Plain JS, no dependencies, everything from this server.
// The server owns the session (state, history, renders); the page shows it, sends edits and plays previews.
"use strict";

// The listening window: the session's excerpt (10–20 s; the server's meters measure it and its
// renders of it are cached, so an edit's preview of it is quick), movable by the user.
let EDIT_SECONDS = 10;
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids) if (kid) node.append(kid);
  return node;
};

// What the page exposes for its tests and the latency benchmark (read-only for them).
const app = (window.mixassist = {
  state: null, session: null, ready: false, readyAt: null, which: "mix", windowStart: 0,
  previews: {}, lastPreview: null, edits: [], proposed: {}, variation: null, errors: [],
});

// ---------------------------------------------------------------- labels and units
const LABELS = {
  gain_db: "Fader", pan: "Pan", width: "Width", polarity: "Polarity", delay_ms: "Delay", hpf_hz: "High-pass",
  reverb_send_db: "Reverb", comp_threshold_db: "Threshold", comp_ratio: "Ratio", comp_attack_ms: "Attack",
  comp_release_ms: "Release", comp_knee_db: "Knee", comp_makeup_db: "Make-up", output_gain_db: "Output gain",
  limiter_ceiling_dbtp: "Ceiling", limiter_release_ms: "Release", rt60_low_s: "Decay (lows)",
  rt60_mid_s: "Decay (mids)", rt60_high_s: "Decay (highs)", predelay_ms: "Pre-delay", return_db: "Return level",
};
const BANDS = { low_shelf: "Low shelf", peak1: "Bell 1", peak2: "Bell 2", peak3: "Bell 3", peak4: "Bell 4", high_shelf: "High shelf" };
const PARTS = { hz: "freq", db: "gain", q: "Q" };

function label(name) {
  if (LABELS[name]) return LABELS[name];
  const m = /^eq_(.+)_(hz|db|q)$/.exec(name);
  if (m && BANDS[m[1]]) return `${BANDS[m[1]]} ${PARTS[m[2]]}`;
  return name.replace(/_/g, " ");
}

function fmt(spec, v) {
  if (v === null || v === undefined) return "off";
  const u = spec.unit;
  if (spec.name === "pan") return Math.abs(v) < 0.005 ? "C" : `${v < 0 ? "L" : "R"}${Math.round(Math.abs(v) * 100)}`;
  if (spec.name === "polarity") return v < 0 ? "inverted" : "normal";
  if (spec.name.endsWith("ratio")) return v <= 1.0001 ? "1:1 (off)" : `${v.toFixed(v < 10 ? 1 : 0)}:1`;
  if (spec.name === "width") return `${Math.round(v * 100)} %`;
  if (u === "Hz") return v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 1 : 2)} kHz` : `${Math.round(v)} Hz`;
  if (u === "dB" || u === "dBTP" || u === "LUFS") return `${v > 0.05 ? "+" : ""}${v.toFixed(1)} ${u}`;
  if (u === "ms") return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
  if (u === "s") return `${v.toFixed(2)} s`;
  return v.toFixed(2);
}

// Slider positions: linear settings move in their own unit; log settings on 0…1000. An optional
// setting (high-pass, reverb send, limiter) has one more position at the far left: off.
function sliderModel(spec) {
  let m;
  if (spec.scale === "log") {
    const lo = Math.log(spec.min), hi = Math.log(spec.max);
    m = {
      min: 0, max: 1000, step: 1,
      toPos: (v) => Math.round(((Math.log(v) - lo) / (hi - lo)) * 1000),
      fromPos: (p) => quantise(spec, Math.exp(lo + (p / 1000) * (hi - lo))),
    };
  } else {
    const span = spec.max - spec.min;
    const step = spec.unit === "dB" || spec.unit === "dBTP" ? 0.1 : span <= 2.5 ? 0.01 : span <= 20 ? 0.05 : 0.5;
    m = { min: spec.min, max: spec.max, step, toPos: (v) => v, fromPos: (p) => quantise(spec, +p) };
  }
  if (!spec.optional) return m;
  const off = m.min - m.step;
  return {
    min: off, max: m.max, step: m.step, off,
    toPos: (v) => (v === null ? off : m.toPos(v)),
    fromPos: (p) => (+p <= off + m.step / 2 ? null : m.fromPos(p)),
  };
}

function quantise(spec, v) {
  const digits = spec.unit === "Hz" ? (v >= 1000 ? -1 : 0) : spec.unit === "ms" ? 1 : spec.unit === "" ? 2 : 2;
  const f = Math.pow(10, digits);
  return Math.min(spec.max, Math.max(spec.min, Math.round(v * f) / f));
}

const mmss = (t) => `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`;

// ---------------------------------------------------------------- server calls
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const res = await fetch(`/api${path}`, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) throw new Error((data && data.error) || `${method} ${path}: HTTP ${res.status}`);
  return data;
}

function toast(text, kind = "error") {
  const t = $("#toast");
  t.textContent = text; t.className = `toast ${kind === "info" ? "info" : ""}`; t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, kind === "info" ? 2500 : 7000);
  if (kind !== "info") app.errors.push(text);
}

let busyCount = 0;
async function busy(text, fn) {
  busyCount += 1; $("#busy").textContent = text;
  document.querySelectorAll("[data-busy-off]").forEach((b) => { b.disabled = true; });
  try { return await fn(); }
  catch (e) { toast(e.message); return null; }
  finally {
    busyCount -= 1;
    if (!busyCount) { $("#busy").textContent = ""; document.querySelectorAll("[data-busy-off]").forEach((b) => { b.disabled = false; }); updateHistory(); }
  }
}

// ---------------------------------------------------------------- the strips
const controls = new Map(); // key "section|track|param" -> {spec, input, val, tip, lock, box, model}
const keyOf = (section, track, param) => `${section}|${track || ""}|${param}`;
const LOCK_SVG = '<svg viewBox="0 0 12 13" aria-hidden="true"><rect x="1" y="6" width="10" height="7" rx="1.5" fill="currentColor"/><path d="M3 6V4a3 3 0 0 1 6 0v2" fill="none" stroke="currentColor" stroke-width="1.6"/></svg>';

function control(section, track, spec, extraClass = "") {
  const key = keyOf(section, track, spec.name);
  const id = `c-${section}-${(track || "bus").replace(/[^A-Za-z0-9_-]/g, "_")}-${spec.name}`;
  const model = sliderModel(spec);
  const who = track ? `${track} ${label(spec.name)}` : `${section} ${label(spec.name)}`;
  const input = el("input", {
    type: "range", id, min: model.min, max: model.max, step: model.step, "aria-describedby": `${id}-tip`,
    "aria-label": who, "data-section": section, "data-track": track, "data-param": spec.name,
  });
  const val = el("output", { class: "cval", for: id });
  const lock = el("button", { type: "button", class: "lock", "aria-pressed": "false", "aria-label": `Lock ${who}`, "data-lock": key });
  lock.innerHTML = LOCK_SVG;
  const tip = el("span", { class: "tip", role: "tooltip", id: `${id}-tip` });
  const box = el("div", { class: `ctl ${extraClass}`, "data-key": key }, el("label", { class: "clabel", for: id, text: label(spec.name) }), val, lock, input);
  box.append(tip);
  const c = { key, section, track, spec, input, val, tip, lock, box, model, value: null };
  input.addEventListener("input", () => {
    const v = model.fromPos(input.value);
    val.textContent = fmt(spec, v);
    input.setAttribute("aria-valuetext", val.textContent);
  });
  input.addEventListener("change", (ev) => edit(c, model.fromPos(input.value), ev.timeStamp));
  lock.addEventListener("click", () => setLock(c, lock.getAttribute("aria-pressed") !== "true"));
  controls.set(key, c);
  return box;
}

function paramSpec(section, name) {
  return ((app.state.schema || {})[section] || []).find((p) => p.name === name);
}

function buildGroup(section, track, title, names, opts = {}) {
  const g = el("div", { class: `group ${opts.class || ""}` });
  if (title) g.append(el("div", { class: "group-title", text: title }));
  for (const n of names) { const spec = paramSpec(section, n); if (spec) g.append(control(section, track, spec, opts.ctlClass || "")); }
  return g;
}

function eqNames(section) {
  return ((app.state.schema || {})[section] || []).map((p) => p.name).filter((n) => n.startsWith("eq_"));
}

function buildStrip(section, track, role) {
  const name = track || (section === "master" ? "Master" : "Reverb");
  const strip = el("div", { class: `strip ${section !== "track" ? "master" : ""}`, "data-strip": section, "data-track": track },
    el("div", { class: "strip-head" }, el("span", { class: "strip-name", title: name, text: name }), el("span", { class: "strip-role", text: role || "" })));
  const placed = new Set();
  const take = (names) => { names.forEach((n) => placed.add(n)); return names; };
  if (section === "reverb") {
    strip.append(buildGroup(section, null, "Reverb bus", take(["return_db", "predelay_ms", "rt60_low_s", "rt60_mid_s", "rt60_high_s"])));
    return strip;
  }
  if (section === "track") strip.append(buildGroup(section, track, "", take(["hpf_hz"])));
  const eq = el("div", { class: "group eq" }, el("div", { class: "group-title", text: "EQ" }),
    el("canvas", { width: 320, height: 148, "data-eq": keyOf(section, track, "eq"), title: "The response the console applies: high-pass, six bands, shelves (20 Hz – 20 kHz)", "aria-label": `${name} EQ curve` }));
  const bands = el("details", {}, el("summary", { text: "EQ bands" }));
  for (const n of take(eqNames(section))) bands.append(control(section, track, paramSpec(section, n)));
  eq.append(bands);
  strip.append(eq);
  const comp = buildGroup(section, track, section === "master" ? "Glue compressor" : "Compressor", take(["comp_threshold_db", "comp_ratio"]));
  comp.append(el("div", { class: "gr", title: "Gain reduction on the current render (the most the compressor pulls down)" },
    el("span", { class: "muted", text: "GR" }), el("div", { class: "bar" }, el("span", { "data-gr": section + "|" + (track || "") })),
    el("span", { class: "grval", "data-grval": section + "|" + (track || "") })));
  const more = el("details", {}, el("summary", { text: "Attack, release, more" }));
  for (const n of take(["comp_attack_ms", "comp_release_ms", "comp_knee_db", "comp_makeup_db"])) {
    const spec = paramSpec(section, n); if (spec) more.append(control(section, track, spec));
  }
  comp.append(more);
  strip.append(comp);
  if (section === "master") {
    strip.append(buildGroup(section, null, "Limiter", take(["limiter_ceiling_dbtp", "limiter_release_ms"])));
    strip.append(buildGroup(section, null, "", take(["output_gain_db"]), { ctlClass: "fader" }));
  } else {
    strip.append(buildGroup(section, track, "", take(["reverb_send_db", "pan"])));
    const rest = ((app.state.schema || {})[section] || []).map((p) => p.name).filter((n) => !placed.has(n) && n !== "gain_db");
    if (rest.length) {
      const other = el("details", { class: "group" }, el("summary", { text: "Width, polarity, delay" }));
      for (const n of rest) other.append(control(section, track, paramSpec(section, n)));
      strip.append(other);
    }
    strip.append(buildGroup(section, track, "", ["gain_db"], { ctlClass: "fader" }));
  }
  return strip;
}

function buildDesk() {
  controls.clear();
  const strips = $("#strips"), busses = $("#busses");
  strips.replaceChildren(); busses.replaceChildren(); $("#reverb-slot").replaceChildren();
  for (const t of app.state.tracks) strips.append(buildStrip("track", t.name, t.role));
  busses.append(buildStrip("master", null, "2-bus"));
  $("#reverb-slot").replaceChildren(buildStrip("reverb", null, "send bus"));
  app.deskSignature = deskSignature(app.state);
}

const deskSignature = (s) => JSON.stringify([s.tracks.map((t) => t.name), Object.keys(s.schema || {})]);

// ---------------------------------------------------------------- showing the state
function sectionState(section, track) {
  if (section === "track") return app.state.tracks.find((t) => t.name === track);
  return app.state[section] || { params: {}, reasons: {}, locked: [] };
}

// "Proposed" = what the mixer proposed for the current history step (the last solve, pick or
// opening before it). The server's own `proposed`, where it sends one, wins.
function proposedOf(section, track, param, st) {
  if (st.proposed && param in st.proposed) return st.proposed[param];
  const k = keyOf(section, track, param);
  return k in app.proposed ? app.proposed[k] : undefined;
}

app.proposals = {};
function rememberProposal(state) {
  app.proposed = {};
  const keep = (section, track, st) => { for (const [p, v] of Object.entries(st.params || {})) app.proposed[keyOf(section, track, p)] = v; };
  state.tracks.forEach((t) => keep("track", t.name, t));
  keep("master", null, state.master || {}); keep("reverb", null, state.reverb || {});
}

function trackProposal(state, proposal, previous) {
  const h = state.history || { index: 0 };
  if (proposal || !previous) rememberProposal(state);
  else if (h.index in app.proposals && h.index !== (previous.history || {}).index) app.proposed = app.proposals[h.index];
  app.proposals[h.index] = app.proposed;
}

function showControl(c) {
  const st = sectionState(c.section, c.track);
  if (!st) return;
  const v = st.params[c.spec.name];
  c.value = v === undefined ? null : v;
  const locked = (st.locked || []).includes(c.spec.name);
  const proposed = proposedOf(c.section, c.track, c.spec.name, st);
  const reason = (st.reasons || {})[c.spec.name];
  const moving = (inFlight.get(c.key) || 0) > 0 || (document.activeElement === c.input && c.input.matches(":active"));
  if (!moving) {
    c.input.value = c.model.toPos(c.value);
    c.val.textContent = fmt(c.spec, c.value);
    c.input.setAttribute("aria-valuetext", c.val.textContent);
  }
  const edited = proposed !== undefined && proposed !== c.value;
  c.val.classList.toggle("edited", edited);
  c.box.classList.toggle("locked", locked);
  c.box.classList.toggle("off", c.value === null);
  c.input.disabled = false;
  c.lock.setAttribute("aria-pressed", String(locked));
  c.lock.title = locked ? "Locked: re-solving keeps this value exactly (click to unlock)" : "Lock this value so re-solving keeps it";
  const range = `${fmt(c.spec, c.spec.min)} … ${fmt(c.spec, c.spec.max)}${c.spec.optional ? " (far left: off)" : ""}`;
  const lines = [
    `Proposed: ${proposed === undefined ? "–" : fmt(c.spec, proposed)}${edited ? ` · now ${fmt(c.spec, c.value)}` : ""}${locked ? " · locked" : ""}`,
    `Why: ${reason || "no reason recorded for this setting (left where the mixer started)"}`,
    `${c.spec.doc ? c.spec.doc[0].toUpperCase() + c.spec.doc.slice(1) + ". " : ""}Range ${range}.`,
  ];
  c.input.title = lines.join("\n");
  c.tip.replaceChildren(el("b", { text: `${label(c.spec.name)}: ${fmt(c.spec, c.value)}` }), el("br"),
    document.createTextNode(lines[0]), el("br"), el("span", { class: "why", text: lines[1] }), el("br"),
    el("span", { class: "muted", text: lines[2] }));
}

function showState(state, { proposal = false } = {}) {
  const first = !app.state, previous = app.state;
  app.state = state;
  trackProposal(state, proposal, previous);
  if (first || deskSignature(state) !== app.deskSignature) buildDesk();
  controls.forEach(showControl);
  // compressor gain reduction
  const grs = [...state.tracks.map((t) => ["track", t.name, t.gain_reduction_db]), ["master", "", (state.master || {}).gain_reduction_db]];
  for (const [section, track, gr] of grs) {
    const bar = document.querySelector(`[data-gr="${section}|${CSS.escape(track)}"]`);
    const txt = document.querySelector(`[data-grval="${section}|${CSS.escape(track)}"]`);
    if (!bar) continue;
    const g = Math.abs(gr || 0);
    bar.style.width = `${Math.min(100, (g / 12) * 100)}%`;
    txt.textContent = gr == null ? "–" : g < 0.05 ? "0.0 dB" : `−${g.toFixed(1)} dB`;
  }
  $("#session-name").textContent = `${state.name} · ${state.tracks.length} tracks · ${mmss(state.seconds || 0)}`;
  const ctx = state.context || {};
  if (document.activeElement !== $("#words")) $("#words").value = ctx.words || "";
  const refs = ctx.reference || (state.reference || {}).files || [];
  if (document.activeElement !== $("#reference")) $("#reference").value = Array.isArray(refs) ? refs.join(", ") : String(refs);
  if (ctx.method) $("#method").value = ctx.method;
  const nlocked = [...controls.values()].filter((c) => c.box.classList.contains("locked")).length;
  $("#lock-count").textContent = nlocked ? `${nlocked} setting${nlocked > 1 ? "s" : ""} locked` : "nothing locked: re-solving may change every setting";
  updateHistory();
  showMeters();
  showVariations();
  showReference();
  refreshEq();
  const win = $("#window");
  win.max = Math.max(0, (state.seconds || 0) - EDIT_SECONDS);
  if (first && state.excerpt) {
    const d = state.excerpt.seconds;
    if (d >= 10 && d <= 20) EDIT_SECONDS = d;
    win.max = Math.max(0, (state.seconds || 0) - EDIT_SECONDS);
    app.windowStart = state.excerpt.start_s || 0; win.value = app.windowStart; showWindow();
  }
  const span = (state.meters || {}).span_s;
  $("#meter-span").textContent = span ? `meters: mix ${mmss(span[0])}–${mmss(span[1])}` : "";
  $("[data-which=reference]").disabled = !(state.reference && (state.reference.files || []).length);
}

function updateHistory() {
  const h = (app.state && app.state.history) || {};
  $("#undo").disabled = !h.can_undo || busyCount > 0;
  $("#redo").disabled = !h.can_redo || busyCount > 0;
  $("#history-pos").textContent = h.length ? `step ${h.index + 1} of ${h.length}` : "";
  const labels = h.labels || [];
  $("#undo").title = h.can_undo && labels[h.index] ? `Undo: ${labels[h.index]}` : "Nothing to undo";
  $("#redo").title = h.can_redo && labels[h.index + 1] ? `Redo: ${labels[h.index + 1]}` : "Nothing to redo";
}

function showMeters() {
  const m = app.state.meters || {};
  $("#m-int").textContent = m.integrated_lufs == null ? "–" : m.integrated_lufs.toFixed(1);
  const tp = m.true_peak_dbtp;
  $("#m-tp").textContent = tp == null ? "–" : tp.toFixed(1);
  $("#m-tp").classList.toggle("hot", tp != null && tp > -1.0);
  drawSpark();
}

function shortTermAt(t) {
  const pts = (app.state.meters || {}).short_term_lufs || [];
  let best = pts.length ? pts[0][1] : null; // before the first full 3-s window: the first reading
  for (const [ti, v] of pts) { if (ti <= t + 1e-6) best = v; else break; }
  return best;
}

function drawSpark() {
  const cv = $("#m-spark"), g = cv.getContext("2d"), W = cv.width, H = cv.height;
  g.clearRect(0, 0, W, H);
  const meters = (app.state || {}).meters || {};
  const pts = meters.short_term_lufs || [];
  const [t0, t1] = meters.span_s || [0, app.state.seconds || 1];
  const x = (t) => ((t - t0) / Math.max(1e-6, t1 - t0)) * W;
  g.fillStyle = "rgba(79,179,255,0.18)";
  g.fillRect(x(app.windowStart), 0, x(app.windowStart + EDIT_SECONDS) - x(app.windowStart), H);
  const vals = pts.map((p) => p[1]).filter((v) => Number.isFinite(v));
  if (vals.length) {
    const hi = Math.max(...vals) + 1, lo = Math.max(hi - 30, Math.min(...vals) - 1);
    const y = (v) => H - ((v - lo) / (hi - lo)) * (H - 4) - 2;
    g.strokeStyle = "#5ecf7a"; g.lineWidth = 1.5; g.beginPath();
    pts.forEach(([t, v], i) => { if (Number.isFinite(v)) (i ? g.lineTo : g.moveTo).call(g, x(t), y(v)); });
    g.stroke();
  }
  const player = $("#player");
  const now = app.windowStart + (player.currentTime || 0);
  g.fillStyle = "#fff"; g.fillRect(x(now) - 0.5, 0, 1.5, H);
  const st = shortTermAt(now);
  $("#m-short").textContent = st == null || !Number.isFinite(st) ? "–" : st.toFixed(1);
}

// ---------------------------------------------------------------- EQ curves (the console's actual response)
const eqCache = new Map();
function eqSignature(section, track) {
  const st = sectionState(section, track) || { params: {} };
  return JSON.stringify(Object.entries(st.params).filter(([k]) => k.startsWith("eq_") || k === "hpf_hz"));
}

function refreshEq() {
  document.querySelectorAll("canvas[data-eq]").forEach((cv) => {
    const [section, track] = cv.dataset.eq.split("|");
    const sig = eqSignature(section, track || null);
    if (eqCache.get(cv.dataset.eq) === sig) return;
    eqCache.set(cv.dataset.eq, sig);
    const q = section === "track" ? `section=track&track=${encodeURIComponent(track)}` : `section=${section}`;
    fetch(`/api/sessions/${app.session}/eq?${q}`).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`EQ for ${track || section}: HTTP ${r.status}`))))
      .then((curve) => { if (eqCache.get(cv.dataset.eq) === sig) drawEq(cv, curve); })
      .catch((e) => { eqCache.delete(cv.dataset.eq); app.errors.push(e.message); });
  });
}

function drawEq(cv, curve) {
  const g = cv.getContext("2d"), W = cv.width, H = cv.height;
  g.clearRect(0, 0, W, H);
  const peak = Math.max(12, ...curve.db.map((d) => Math.min(24, Math.abs(d))));
  const range = peak > 12 ? 24 : 12;
  const x = (f) => ((Math.log10(f) - Math.log10(20)) / (Math.log10(20000) - Math.log10(20))) * W;
  const y = (d) => H / 2 - (Math.max(-range, Math.min(range, d)) / range) * (H / 2 - 6);
  g.strokeStyle = "#2c323b"; g.lineWidth = 1; g.fillStyle = "#6f7885"; g.font = "16px sans-serif";
  for (const f of [100, 1000, 10000]) { g.beginPath(); g.moveTo(x(f), 0); g.lineTo(x(f), H); g.stroke(); g.fillText(f >= 1000 ? `${f / 1000}k` : `${f}`, x(f) + 3, H - 4); }
  for (const d of [-range / 2, range / 2]) { g.beginPath(); g.moveTo(0, y(d)); g.lineTo(W, y(d)); g.stroke(); }
  g.strokeStyle = "#4a525e"; g.beginPath(); g.moveTo(0, y(0)); g.lineTo(W, y(0)); g.stroke();
  g.fillText(`±${range} dB`, 4, 16);
  g.strokeStyle = "#4fb3ff"; g.lineWidth = 3; g.beginPath();
  curve.hz.forEach((f, i) => { if (f >= 20 && f <= 20000) (i ? g.lineTo : g.moveTo).call(g, x(f), y(curve.db[i])); });
  g.stroke();
  cv.dataset.drawn = String(curve.hz.length);
  if (!app.eqDrawnAt && !document.querySelector("canvas[data-eq]:not([data-drawn])")) app.eqDrawnAt = performance.now();
}

// ---------------------------------------------------------------- edits, locks, solving, history
let editChain = Promise.resolve();
app.idle = () => editChain;
// Edits of a control still on their way: its slider is not reset to an older answer meanwhile
// (quick key presses would otherwise be lost).
const inFlight = new Map();
function edit(c, value, inputTime) {
  const t0 = Number.isFinite(inputTime) ? inputTime : performance.now();
  const body = { section: c.section, param: c.spec.name, value };
  if (c.track) body.track = c.track;
  const record = { key: c.key, value, inputAt: t0 };
  app.edits.push(record);
  inFlight.set(c.key, (inFlight.get(c.key) || 0) + 1);
  // Edits go out one after another, in order; the preview of the last one plays.
  editChain = editChain.then(async () => {
    try {
      let state;
      try { state = await api("PATCH", `/sessions/${app.session}/params`, body); }
      finally { inFlight.set(c.key, inFlight.get(c.key) - 1); }
      record.stateAt = performance.now();
      const last = app.edits[app.edits.length - 1] === record;
      // ask for the new preview first, then redraw the desk while the server renders it
      let pending = null;
      if (last) { delete app.previews.mix; pending = fetchPreview("mix"); }
      showState(state);
      if (pending) await playPreview("mix", { record, restart: true, pending });
    } catch (e) { toast(e.message); record.error = e.message; showState(app.state); }
  });
  return editChain;
}

async function setLock(c, locked) {
  const body = { section: c.section, param: c.spec.name, locked };
  if (c.track) body.track = c.track;
  await busy(locked ? "locking…" : "unlocking…", async () => showState(await api("POST", `/sessions/${app.session}/locks`, body)));
}

function contextBody() {
  const body = { words: $("#words").value.trim(), method: $("#method").value };
  const refs = $("#reference").value.split(",").map((s) => s.trim()).filter(Boolean);
  body.reference = refs;
  return body;
}

async function solve() {
  await busy("re-solving the unlocked settings…", async () => {
    showState(await api("POST", `/sessions/${app.session}/solve`, contextBody()), { proposal: true });
    invalidatePreviews();
    await playPreview(app.which === "variation" ? "mix" : app.which, { restart: false });
  });
}

async function moveHistory(step) {
  await busy(step === "undo" ? "undoing…" : "redoing…", async () => {
    showState(await api("POST", `/sessions/${app.session}/${step}`));
    invalidatePreviews();
    await playPreview("mix", { restart: false, autoplay: !$("#player").paused });
  });
}

// ---------------------------------------------------------------- variations
function showVariations() {
  const list = $("#var-list");
  const vars = app.state.variations || [];
  list.replaceChildren(...vars.map((v) => {
    const k = v.index;
    const li = el("li", { class: app.variation === k && app.which === "variation" ? "auditioning" : "", "data-variation": k },
      el("span", { class: "vlabel", text: `${v.label || `Variation ${k + 1}`} ` }),
      el("button", { type: "button", "data-audition": k, onclick: () => audition(k), text: "Audition" }),
      el("button", { type: "button", "data-pick": k, onclick: () => pick(k), text: "Pick as new start", "data-busy-off": true }),
      el("span", { class: "vsum", text: v.summary || "" }));
    const moves = describeDiff(v.params_diff || {});
    if (moves) li.append(el("span", { class: "vsum", text: `Moves: ${moves}` }));
    return li;
  }));
}

// "track/bass/gain_db": [-12.8, -10.3] -> "bass fader −12.8 → −10.3 dB"
function describeDiff(diff) {
  return Object.entries(diff).map(([key, [a, b]]) => {
    const parts = key.split("/");
    const section = parts[0], param = parts[parts.length - 1], track = parts.length > 2 ? parts.slice(1, -1).join("/") : null;
    const spec = paramSpec(section, param);
    if (!spec) return null;
    const who = track || (section === "master" ? "master" : "reverb");
    return `${who} ${label(param).toLowerCase()} ${fmt(spec, a)} → ${fmt(spec, b)}`;
  }).filter(Boolean).join(", ");
}

async function askVariations() {
  const n = Math.max(2, Math.min(8, parseInt($("#var-n").value, 10) || 3));
  await busy(`proposing ${n} variations…`, async () => showState(await api("POST", `/sessions/${app.session}/variations`, { n })));
}

async function audition(k) {
  app.variation = k;
  await playPreview("variation", { restart: false, autoplay: true });
  showVariations();
}

async function pick(k) {
  await busy("taking the variation as the new start…", async () => {
    showState(await api("POST", `/sessions/${app.session}/variations/${k}/pick`), { proposal: true });
    app.variation = null; invalidatePreviews();
    await playPreview("mix", { restart: false });
  });
}

// ---------------------------------------------------------------- listening (A/B/C keeps the position)
function previewUrl(which) {
  app.windowSeconds = EDIT_SECONDS;
  const q = `start=${app.windowStart}&seconds=${EDIT_SECONDS}`;
  if (which === "variation") return `/api/sessions/${app.session}/variations/${app.variation}/preview.wav?${q}`;
  return `/api/sessions/${app.session}/preview.wav?which=${which}&${q}`;
}

function invalidatePreviews() { app.previews = {}; }

async function fetchPreview(which) {
  const url = previewUrl(which);
  const cached = app.previews[which];
  if (cached && cached.url === url) return cached;
  const t0 = performance.now();
  const res = await fetch(url);
  if (!res.ok) {
    let msg = `${which} preview: HTTP ${res.status}`;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  const buf = await res.arrayBuffer();
  const digest = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", buf))).slice(0, 12).map((b) => b.toString(16).padStart(2, "0")).join("");
  const p = {
    which, url, digest, bytes: buf.byteLength, blob: URL.createObjectURL(new Blob([buf], { type: "audio/wav" })),
    lufs: parseFloat(res.headers.get("X-Integrated-LUFS")), renderMs: parseFloat(res.headers.get("X-Render-Ms")),
    truePeak: parseFloat(res.headers.get("X-True-Peak-Dbtp")),
    fetchMs: performance.now() - t0,
  };
  if (app.previews[which] && app.previews[which].blob) URL.revokeObjectURL(app.previews[which].blob);
  app.previews[which] = p;
  return p;
}

// Plays WHICH at the current position (or from the start of the window when restart is set).
async function playPreview(which, { record = null, restart = false, autoplay = true, pending = null } = {}) {
  const player = $("#player");
  const position = restart ? 0 : player.currentTime || 0;
  if (which === "mix" && !pending) delete app.previews.mix; // the mix may have changed: always ask again
  let p;
  try { p = await (pending || fetchPreview(which)); } catch (e) { toast(e.message); return; }
  if (record) { record.fetchedAt = performance.now(); record.preview = { lufs: p.lufs, renderMs: p.renderMs, digest: p.digest }; }
  app.which = which;
  app.lastPreview = { which, lufs: p.lufs, renderMs: p.renderMs, digest: p.digest, bytes: p.bytes, url: p.url, at: performance.now() };
  document.querySelectorAll(".abc button").forEach((b) => b.setAttribute("aria-checked", String(b.dataset.which === which)));
  const what = which === "variation" ? `Variation ${app.variation + 1}` : { mix: "Mix", reference: "Reference", raw: "Raw sum" }[which];
  const facts = [
    Number.isFinite(p.lufs) ? `${p.lufs.toFixed(1)} LUFS${which === "mix" || which === "variation" ? "" : " before matching"}` : "",
    Number.isFinite(p.truePeak) ? `${p.truePeak.toFixed(1)} dBTP` : "",
    Number.isFinite(p.renderMs) ? `rendered in ${Math.round(p.renderMs)} ms` : "",
  ].filter(Boolean);
  $("#preview-info").textContent = `${what}: ${facts.join(" · ")}`;
  await new Promise((resolve) => {
    const onMeta = () => {
      player.removeEventListener("loadedmetadata", onMeta);
      player.currentTime = Math.min(position, Math.max(0, player.duration - 0.05));
      resolve();
    };
    player.addEventListener("loadedmetadata", onMeta);
    player.src = p.blob;
    player.load();
  });
  $("#dur").textContent = mmss(app.windowStart + (player.duration || 0));
  if (!autoplay) return;
  if (record) {
    player.addEventListener("playing", () => { record.playingAt = performance.now(); record.latencyMs = record.playingAt - record.inputAt; }, { once: true });
  }
  try { await player.play(); } catch (e) {
    // a newer preview replacing this one mid-start aborts this play(): expected, not an error
    if (e.name !== "AbortError") app.errors.push(`play: ${e.message}`);
  }
}

async function switchTo(which) {
  if (which === app.which) return;
  const player = $("#player");
  const wasPlaying = !player.paused;
  app.switches = (app.switches || 0) + 1;
  const before = player.currentTime;
  await playPreview(which, { restart: false, autoplay: wasPlaying });
  app.lastSwitch = { from: before, to: player.currentTime, which };
}

// ---------------------------------------------------------------- reference: style plot and fidelity
function showReference() {
  const ref = app.state.reference;
  const has = !!(ref && ((ref.fidelity || []).length || ref.style));
  $("#ref-none").hidden = has;
  $("#fidelity").hidden = !(ref && (ref.fidelity || []).length);
  $("#style-plot").hidden = !(ref && ref.style);
  if (!ref) return;
  const tbody = $("#fidelity tbody");
  const num = (v) => (typeof v === "number" ? v.toFixed(1) : v == null ? "–" : String(v));
  tbody.replaceChildren(...(ref.fidelity || []).map((r) => el("tr", {},
    el("td", { text: r.unit ? `${r.feature} (${r.unit})` : r.feature }), el("td", { class: "num", text: num(r.reference) }), el("td", { class: "num", text: num(r.mix) }),
    el("td", { class: "num", text: r.tolerance == null ? "–" : `±${num(r.tolerance)}` }),
    el("td", { class: r.ok == null ? "" : r.ok ? "ok" : "no", text: r.ok == null ? "–" : r.ok ? "yes" : "no" }),
    el("td", { text: r.reason || "" }))));
  if (ref.style) drawStyle(ref.style);
}

function drawStyle(style) {
  const mix = style.mix || style.result || {}, refs = style.reference || {};
  const bands = style.band_centres_hz || mix.band_centres_hz || refs.band_centres_hz || [];
  const cv = $("#style-plot"), g = cv.getContext("2d"), W = cv.width, H = cv.height;
  g.clearRect(0, 0, W, H);
  if (!bands.length) return;
  const pick = (d, keys) => keys.map((k) => d[k]).find(Array.isArray);
  const panes = [["Level per band (mid), dB", ["mid_db", "spectral_mid_db"]], ["Width per band (side − mid), dB", ["width_db"]]];
  const pw = (W - 60) / 2;
  panes.forEach(([title, key], i) => {
    const x0 = 30 + i * (pw + 30), y0 = 22, ph = H - 52;
    const series = [[pick(refs, key), "#f0b429", "reference"], [pick(mix, key), "#4fb3ff", "mix"]].filter((s) => Array.isArray(s[0]));
    const vals = series.flatMap((s) => s[0]).filter(Number.isFinite);
    if (!vals.length) return;
    const lo = Math.floor(Math.min(...vals) - 2), hi = Math.ceil(Math.max(...vals) + 2);
    const x = (j) => x0 + (j / Math.max(1, bands.length - 1)) * (pw - 10);
    const y = (v) => y0 + ph - ((v - lo) / (hi - lo)) * ph;
    g.fillStyle = "#cfd6de"; g.font = "12px sans-serif"; g.fillText(title, x0, 14);
    g.strokeStyle = "#2c323b"; g.strokeRect(x0, y0, pw - 10, ph);
    g.fillStyle = "#9aa3ae"; g.font = "10px sans-serif";
    let lastLabel = -1e9;
    bands.forEach((f, j) => {
      if (x(j) - lastLabel < 34) return;
      lastLabel = x(j);
      g.fillText(f >= 1000 ? `${+(f / 1000).toFixed(1)}k` : `${Math.round(f)}`, x(j) - 8, y0 + ph + 13);
    });
    g.textAlign = "right"; g.fillText(`${hi}`, x0 - 3, y0 + 9); g.fillText(`${lo}`, x0 - 3, y0 + ph); g.textAlign = "left";
    for (const [data, color] of series) {
      g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
      data.forEach((v, j) => (j ? g.lineTo : g.moveTo).call(g, x(j), y(v)));
      g.stroke();
    }
  });
  g.font = "12px sans-serif";
  g.fillStyle = "#4fb3ff"; g.fillText("━ this mix", 30, H - 6);
  g.fillStyle = "#f0b429"; g.fillText("━ reference", 110, H - 6);
  g.fillStyle = "#9aa3ae"; g.fillText("band centre, Hz", W - 110, H - 6);
}

// ---------------------------------------------------------------- export
async function exportFile(what) {
  await busy(`preparing ${what}…`, async () => {
    const res = await fetch(`/api/sessions/${app.session}/export/${what}`);
    if (!res.ok) {
      let msg = `${what}: HTTP ${res.status}`;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: what });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`${what} saved to your downloads`, "info");
  });
}

// ---------------------------------------------------------------- sessions
async function showChooser() {
  $("#chooser").hidden = false; $("#console").hidden = true; $(".history").hidden = true;
  try {
    const { sessions } = await api("GET", "/sessions");
    $("#session-list").replaceChildren(...sessions.map((s) => el("li", {}, el("a", { href: `/?session=${encodeURIComponent(s.id)}`, text: s.name }),
      el("span", { class: "muted", text: ` · ${s.tracks} tracks · ${s.created || ""}` }))));
  } catch (e) { toast(e.message); }
  app.ready = true; app.readyAt = performance.now();
}

async function openSession(id) {
  app.session = id;
  $("#chooser").hidden = true; $("#console").hidden = false; $(".history").hidden = false;
  const state = await api("GET", `/sessions/${id}`);
  showState(state, { proposal: true });
  app.ready = true; app.readyAt = performance.now();
  document.body.dataset.ready = "1";
}

function wire() {
  $("#undo").addEventListener("click", () => moveHistory("undo"));
  $("#redo").addEventListener("click", () => moveHistory("redo"));
  $("#solve").addEventListener("click", solve);
  $("#solve").dataset.busyOff = "1";
  $("#var-ask").addEventListener("click", askVariations);
  $("#var-ask").dataset.busyOff = "1";
  document.querySelectorAll(".abc button").forEach((b) => b.addEventListener("click", () => switchTo(b.dataset.which)));
  document.querySelectorAll("[data-export]").forEach((b) => b.addEventListener("click", () => exportFile(b.dataset.export)));
  const player = $("#player");
  $("#play").addEventListener("click", async () => {
    if (player.paused) { if (!player.src) await playPreview(app.which === "variation" ? "variation" : app.which, { restart: true }); else await player.play(); }
    else player.pause();
  });
  player.addEventListener("play", () => { $("#play").textContent = "Pause"; });
  player.addEventListener("pause", () => { $("#play").textContent = "Play"; });
  player.addEventListener("timeupdate", () => { $("#pos").textContent = mmss(app.windowStart + player.currentTime); if (app.state) drawSpark(); });
  $("#window").addEventListener("input", showWindow);
  $("#window").addEventListener("change", async () => {
    app.windowStart = +$("#window").value; invalidatePreviews(); drawSpark();
    await playPreview(app.which, { restart: true, autoplay: !player.paused });
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.target.matches("input[type=text], input[type=number], select")) return;
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") { ev.preventDefault(); moveHistory(ev.shiftKey ? "redo" : "undo"); }
    else if (ev.key === " " && !ev.target.matches("button, input")) { ev.preventDefault(); $("#play").click(); }
    else if (["1", "2", "3"].includes(ev.key) && !ev.target.matches("input")) switchTo(["mix", "reference", "raw"][+ev.key - 1]);
  });
  $("#open-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { stems: $("#open-stems").value.trim(), words: $("#open-words").value.trim() };
    const ref = $("#open-reference").value.trim();
    if (ref) body.reference = [ref];
    await busy("proposing a first mix…", async () => { const s = await api("POST", "/sessions", body); location.search = `?session=${encodeURIComponent(s.id)}`; });
  });
  $("#upload-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = new FormData();
    for (const f of $("#upload-files").files) form.append("files", f);
    await busy("uploading and proposing…", async () => {
      const res = await fetch("/api/sessions/upload", { method: "POST", body: form });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.error || `upload: HTTP ${res.status}`);
      location.search = `?session=${encodeURIComponent(data.id)}`;
    });
  });
  showWindow();
}

function showWindow() {
  const a = +$("#window").value;
  $("#window-label").textContent = `${mmss(a)}–${mmss(a + EDIT_SECONDS)}`;
  if ($("#player").paused) { $("#pos").textContent = mmss(a); $("#dur").textContent = mmss(a + EDIT_SECONDS); }
}

function placeTip(ev) {
  const box = ev.target.closest && ev.target.closest(".ctl");
  if (!box) return;
  const tip = box.querySelector(".tip"), r = box.getBoundingClientRect();
  const below = r.bottom + 180 < window.innerHeight;
  tip.style.left = `${Math.min(r.left, window.innerWidth - 270)}px`;
  tip.style.top = below ? `${r.bottom + 4}px` : "";
  tip.style.bottom = below ? "" : `${window.innerHeight - r.top + 4}px`;
}
document.addEventListener("mouseover", placeTip);
document.addEventListener("focusin", placeTip);

wire();
const sid = new URLSearchParams(location.search).get("session");
if (sid) openSession(sid).catch((e) => { toast(e.message); showChooser(); });
else showChooser();
