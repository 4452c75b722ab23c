/* heartsound web app: the page. Records (getUserMedia + an AudioWorklet) or opens a file,
 * resamples to 4 kHz (HeartDSP.resample, soxr's response), runs the quality gate
 * (HeartQuality, the Python gate's port) and the raw-audio ONNX model on the device
 * (onnxruntime-web, WebAssembly, one thread), and shows the answer. A file is read from
 * its start, as `heartsound predict` reads it; a recording made here from its clearest 7.5 s.
 *
 * Automation contract: index.html?url=<wav>&model=<name> fetches that recording (same
 * origin only), classifies it without a click and writes the answer into #result:
 * data-label, data-probabilities (JSON object class → probability), data-quality,
 * data-reason, data-model, data-source; on failure data-error (one message). The same is
 * written after every recording or opened file. window.heartsound.classifyUrl(url, model)
 * does the same from a script.
 */
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const state = {
    app: null, quality: null, models: new Map(), sessions: new Map(), model: null,
    busy: false, recording: null, installPrompt: null, saveUrl: null,
  };
  const RESULT_KEYS = ["label", "probabilities", "quality", "reason", "model", "source",
    "heartRate", "error", "resampler", "timing", "start"];

  // ---------------------------------------------------------------- small helpers
  /** The status line (announced to screen readers); `quiet` hides it from view when the
   * result itself shows the same. */
  function setStatus(text, quiet = false) {
    $("status").textContent = text;
    $("status").classList.toggle("sr-only", quiet);
  }

  function oneLine(err) {
    const text = err && err.message ? err.message : String(err);
    return text.split("\n")[0].trim() || "unknown error";
  }

  async function fetchJson(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  }

  // the classes in words (data-label keeps the class names)
  const NAMES = { extrahls: "Extra heart sound", extrastole: "Extrasystole" };

  function pretty(name) {
    return NAMES[name] || name.charAt(0).toUpperCase() + name.slice(1);
  }

  function percent(p) {
    return `${(100 * p).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1)} %`;
  }

  function clearResult() {
    const el = $("result");
    for (const k of RESULT_KEYS) delete el.dataset[k];
    el.dataset.state = "working";
  }

  function writeError(message) {
    const el = $("result");
    for (const k of RESULT_KEYS) delete el.dataset[k];
    el.dataset.error = message;
    el.dataset.state = "error";
    setStatus(`Could not classify: ${message}`);
  }

  // ------------------------------------------------------------------- start-up
  async function init() {
    if (typeof ort === "undefined" || !self.HeartDSP || !self.HeartQuality) {
      throw new Error("the app's scripts did not load");
    }
    ort.env.logLevel = "error";
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
    const [app, quality] = await Promise.all([fetchJson("models.json"), fetchJson("quality.json")]);
    state.app = app;
    state.quality = quality;
    for (const m of app.models) state.models.set(m.name, m);
    const select = $("model");
    select.textContent = "";
    for (const m of app.models) {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = m.title || m.name;
      select.append(opt);
    }
    const params = new URLSearchParams(location.search);
    const wanted = params.get("model");
    const initial = wanted && state.models.has(wanted) ? wanted
      : state.models.has(app.default_model) ? app.default_model : app.models[0].name;
    select.value = initial;
    selectModel(initial);
    select.disabled = false;
    select.addEventListener("change", () => selectModel(select.value));
    $("record").addEventListener("click", () => toggleRecording());
    $("open").addEventListener("click", () => $("file").click());
    $("file").addEventListener("change", (e) => {
      const file = e.target.files && e.target.files[0];
      e.target.value = "";
      if (file) run(() => classifyFile(file));
    });
    $("record").disabled = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
    $("open").disabled = false;
    $("about").textContent = `heartsound ${app.version} · ONNX Runtime Web ${app.ort_version} · ` +
      `build ${app.build}`;
    registerServiceWorker();
    window.addEventListener("beforeinstallprompt", (e) => {
      e.preventDefault();
      state.installPrompt = e;
      $("install").hidden = false;
    });
    $("install").addEventListener("click", async () => {
      if (!state.installPrompt) return;
      state.installPrompt.prompt();
      state.installPrompt = null;
      $("install").hidden = true;
    });
    if (params.has("url")) {
      if (wanted && !state.models.has(wanted)) {
        writeError(`unknown model ${JSON.stringify(wanted)} (known: ${[...state.models.keys()].join(", ")})`);
        return;
      }
      await run(() => classifyUrl(params.get("url"), initial));
    } else {
      setStatus("Ready: record, or open a recording.");
      getSession(state.models.get(initial)).catch(() => {}); // warm up; errors show later
    }
  }

  function selectModel(name) {
    state.model = name;
    const m = state.models.get(name);
    $("model-note").textContent = `${m.description} Classes: ${m.classes.join(", ")}.`;
    $("length-note").textContent = lengthNote(m);
  }

  /** What of a recording made here the model hears (a whole-recording model reads on from
   * the clearest 7.5 s, up to its read_seconds). */
  function lengthNote(m) {
    const fe = m.frontend;
    const read = fe.duration_s + fe.crop_margin_s;
    return m.whole
      ? `The model listens to up to ${m.read_seconds} s in ${fe.duration_s}-s windows; ` +
        `from a longer recording the app starts at its clearest ${read} s.`
      : `The model listens to ${read} s; from a longer recording the app takes its ` +
        `clearest ${read} s.`;
  }

  function registerServiceWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("sw.js").catch((err) => {
      // not fatal: the app works online without it (e.g. on a plain http:// address)
      $("about").textContent += ` · offline use unavailable (${oneLine(err)})`;
    });
  }

  async function getSession(model) {
    let s = state.sessions.get(model.name);
    if (!s) {
      s = ort.InferenceSession.create(model.file, { executionProviders: ["wasm"],
        graphOptimizationLevel: "all" });
      state.sessions.set(model.name, s);
      s.catch(() => state.sessions.delete(model.name));
    }
    return s;
  }

  /** One analysis at a time; any failure ends as data-error with one line. */
  async function run(task) {
    if (state.busy) {
      setStatus("Still working on the previous recording…");
      return;
    }
    state.busy = true;
    $("result").setAttribute("aria-busy", "true");
    clearResult();
    try {
      await task();
    } catch (err) {
      writeError(oneLine(err));
    } finally {
      state.busy = false;
      $("result").removeAttribute("aria-busy");
    }
  }

  // ------------------------------------------------------------------- sources
  async function classifyUrl(url, modelName) {
    const target = new URL(url, location.href);
    if (target.origin !== location.origin) {
      throw new Error(`only recordings on this page's own origin can be fetched (${target.origin})`);
    }
    const model = state.models.get(modelName || state.model);
    if (!model) throw new Error(`unknown model ${JSON.stringify(modelName)}`);
    setStatus(`Fetching ${target.pathname.split("/").pop()}…`);
    const r = await fetch(target.href);
    if (!r.ok) throw new Error(`${target.pathname}: HTTP ${r.status}`);
    const decoded = await decode(await r.arrayBuffer());
    const name = decodeURIComponent(target.pathname.split("/").pop());
    await analyseAndShow(decoded.samples, decoded.sampleRate, model, name);
  }

  async function classifyFile(file) {
    setStatus(`Reading ${file.name}…`);
    const decoded = await decode(await file.arrayBuffer());
    await analyseAndShow(decoded.samples, decoded.sampleRate, state.models.get(state.model),
      file.name, null, true);
  }

  /** WAV PCM/float parsed exactly (libsndfile's scaling); anything else by the browser's
   * decoder at 48 kHz (its sample rate cannot be kept), channels averaged. */
  async function decode(buffer) {
    try {
      return HeartDSP.parseWav(buffer);
    } catch (err) {
      const msg = oneLine(err);
      if (!/^(not a RIFF WAVE file|unsupported WAV encoding)/.test(msg)) throw err;
    }
    const ctx = new OfflineAudioContext(1, 1, 48000);
    let audio;
    try {
      audio = await ctx.decodeAudioData(buffer.slice(0));
    } catch (err) {
      throw new Error("not a readable sound file");
    }
    const out = new Float32Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const ch = audio.getChannelData(c);
      for (let i = 0; i < out.length; i++) out[i] += ch[i] / audio.numberOfChannels;
    }
    return { samples: out, sampleRate: audio.sampleRate };
  }

  // ------------------------------------------------------------------ analysis
  /** heartsound.audio.validate: the reasons `predict` refuses a recording for. */
  function validate(x, rate, fe) {
    if (x.length === 0) throw new Error("no audio samples (zero-length recording)");
    let hi = -Infinity;
    let lo = Infinity;
    for (let i = 0; i < x.length; i++) {
      if (x[i] > hi) hi = x[i];
      if (x[i] < lo) lo = x[i];
    }
    if (!Number.isFinite(hi) || !Number.isFinite(lo)) {
      throw new Error("contains NaN or infinite samples");
    }
    const duration = x.length / rate;
    if (duration < fe.min_duration_s) {
      throw new Error(`too short (${duration.toFixed(2)} s < ${fe.min_duration_s} s)`);
    }
    const peak = Math.max(hi, -lo);
    const db = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
    if (db < fe.silence_dbfs) {
      const shown = peak === 0 ? "-inf" : db.toFixed(1);
      throw new Error(`digital silence (peak ${shown} dBFS is below ${fe.silence_dbfs} dBFS)`);
    }
  }

  async function analyse(raw, rate, model, resampler) {
    const fe = model.frontend;
    const q = state.quality;
    // The model reads model.read_seconds (a whole-recording model: up to 60 s, its graph
    // slides the windows); the gate, as `heartsound predict`'s, the first 7.5 s of it.
    const gated = fe.duration_s + fe.crop_margin_s;
    const x32 = HeartDSP.readWindow(raw, rate, model.read_seconds || gated, q.silent_peak);
    validate(x32, rate, fe);
    const x = Float64Array.from(x32);
    const xg = x.subarray(0, Math.min(x.length, Math.ceil(gated * rate)));
    let mu = 0;
    for (let i = 0; i < xg.length; i++) mu += xg[i];
    mu /= xg.length;
    const centred = Float64Array.from(xg, (v) => v - mu);
    const times = [performance.now()];
    let y4;
    let g4;
    if (resampler === "webaudio") {
      y4 = await HeartDSP.resampleWebAudio(x, rate, fe.sample_rate);
      g4 = await HeartDSP.resampleWebAudio(centred, rate, fe.sample_rate);
    } else if (xg.length === x.length) {
      [y4, g4] = HeartDSP.resamplePair(x, centred, rate, fe.sample_rate);
    } else {
      y4 = HeartDSP.resample(x, rate, fe.sample_rate);
      g4 = HeartDSP.resample(centred, rate, fe.sample_rate);
    }
    times.push(performance.now());
    const bp = model.bandpass;
    const verdict = HeartQuality.assess(xg, rate, g4, bp, q);
    times.push(performance.now());
    const session = await getSession(model);
    const input = new ort.Tensor("float32", Float32Array.from(y4), [1, y4.length]);
    const out = await session.run({ [session.inputNames[0]]: input });
    const probs = Array.from(out[session.outputNames[0]].data);
    let best = 0;
    for (let i = 1; i < probs.length; i++) if (probs[i] > probs[best]) best = i;
    const label = verdict.usable ? model.classes[best] : "unusable";
    times.push(performance.now());
    const shown = HeartDSP.fitLength(HeartDSP.sosfiltfilt(bp.sos, bp.zi, bp.pad, y4),
      Math.round(fe.duration_s * fe.sample_rate));
    const map = HeartDSP.logMel(shown, fe);
    times.push(performance.now());
    const timing = {};
    ["resample", "gate", "model", "map"].forEach((k, i) => {
      timing[k] = Math.round(times[i + 1] - times[i]);
    });
    return { label, probs, best, verdict, y4, map, rate, seconds: x.length / rate, timing };
  }

  /** Where the clearest part of a long recording starts (a sample index): the read window
   * (7.5 s), every 1.25 s, ranked by the quality gate's score on a quick resampling (Web
   * Audio's, whole recording at once); the earliest on a tie, 0 for a short recording. Only
   * for recordings made here: a file is read from its start, as by `heartsound predict`. */
  async function clearestStart(raw, rate, model) {
    const fe = model.frontend;
    const q = state.quality;
    const read = fe.duration_s + fe.crop_margin_s;
    if (raw.length / rate < read + 1) return 0;
    const approx = await HeartDSP.resampleWebAudio(raw, rate, fe.sample_rate);
    const n4 = Math.round(read * fe.sample_rate);
    const hop4 = Math.round(1.25 * fe.sample_rate);
    let best = 0;
    let bestQuality = -1;
    for (let s4 = 0; s4 + n4 <= approx.length; s4 += hop4) {
      const start = Math.round((s4 * rate) / fe.sample_rate);
      const x = raw.subarray(start, start + Math.ceil(read * rate));
      const g = approx.slice(s4, s4 + n4);
      let mu = 0;
      for (let i = 0; i < g.length; i++) mu += g[i];
      mu /= g.length;
      for (let i = 0; i < g.length; i++) g[i] -= mu;
      const v = HeartQuality.assess(x, rate, g, model.bandpass, q);
      if (v.quality > bestQuality + 1e-9) {
        bestQuality = v.quality;
        best = start;
      }
    }
    return best;
  }

  async function analyseAndShow(raw, rate, model, source, recording = null, user = false,
    clearest = false) {
    setStatus("Analysing…");
    const resampler = new URLSearchParams(location.search).get("resampler") || "soxr";
    const t0 = performance.now();
    const from = clearest ? await clearestStart(raw, rate, model) : 0;
    if (from > 0) {
      source += ` · the clearest part, from ${(from / rate).toFixed(1)} s of ` +
        `${(raw.length / rate).toFixed(1)} s`;
    }
    const res = await analyse(raw.subarray(from), rate, model, resampler);
    res.start = from / rate;
    const ms = Math.round(performance.now() - t0);
    const el = $("result");
    const probObj = {};
    model.classes.forEach((c, i) => { probObj[c] = res.probs[i]; });
    show(res, model, source, recording, ms);
    el.dataset.probabilities = JSON.stringify(probObj);
    el.dataset.quality = res.verdict.quality.toFixed(3);
    el.dataset.reason = res.verdict.reason;
    el.dataset.model = model.name;
    el.dataset.source = source;
    el.dataset.resampler = resampler;
    el.dataset.heartRate = res.verdict.indices.heart_rate_bpm.toFixed(0);
    el.dataset.timing = JSON.stringify(res.timing);
    el.dataset.start = res.start.toFixed(2);
    el.dataset.label = res.label;
    el.dataset.state = "done";
    if (user) { // a person pressed Record or opened a file: take them to the answer
      el.focus({ preventScroll: true });
      const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      el.scrollIntoView({ block: "start", behavior: still ? "auto" : "smooth" });
    }
  }

  // ------------------------------------------------------------------- display
  function show(res, model, source, recording, ms) {
    $("placeholder").hidden = true;
    $("answer").hidden = false;
    const v = res.verdict;
    const top = res.probs[res.best];
    const labelEl = $("label");
    labelEl.textContent = res.label === "unusable" ? "Unusable recording" : pretty(res.label);
    labelEl.className = `label ${res.label === "unusable" ? "bad"
      : res.label === "normal" ? "ok" : "warn"}`;
    $("confidence").textContent = res.label === "unusable" ? ""
      : `${percent(top)} confidence`;
    $("verdict").textContent = v.usable ? `Quality: usable (score ${v.quality.toFixed(2)} of 1)`
      : `Not usable: ${v.reason}.`;
    $("verdict").className = `verdict ${v.usable ? "ok" : "bad"}`;
    $("tip").hidden = v.usable;
    $("probs-note").textContent = v.usable ? "(calibrated)"
      : "(calibrated; not an answer: the recording is unusable)";
    $("source").textContent = `${source} · ${res.seconds.toFixed(1)} s analysed · ` +
      `${model.name} · ${ms} ms on this device`;
    const list = $("probs");
    list.textContent = "";
    model.classes.forEach((c, i) => {
      const li = document.createElement("li");
      if (i === res.best && v.usable) li.className = "top";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = pretty(c);
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.style.width = `${(100 * res.probs[i]).toFixed(1)}%`;
      bar.append(fill);
      const val = document.createElement("span");
      val.className = "value";
      val.textContent = percent(res.probs[i]);
      li.append(name, bar, val);
      list.append(li);
    });
    if (!v.usable) list.classList.add("muted"); else list.classList.remove("muted");
    drawWave($("wave"), res.y4);
    drawMap($("map"), res.map);
    $("wave").setAttribute("aria-label", `Waveform of the ${res.seconds.toFixed(1)} s analysed`);
    $("map").setAttribute("aria-label", `${model.frontend.cepstrum ? "Log-mel map under the model's MFCCs" : "Log-mel map the model reads"}: ` +
      `${res.map.frames} frames by ${res.map.bands} mel bands, 0 to 2 kHz`);
    $("map-note").textContent = model.frontend.cepstrum ? "(log-mel, 0–2 kHz; the model reads its MFCCs)"
      : "(log-mel, 0–2 kHz, what the model reads)";
    $("map-end").textContent = `${model.frontend.duration_s} s`;
    if (state.saveUrl) URL.revokeObjectURL(state.saveUrl);
    state.saveUrl = null;
    if (recording) {
      state.saveUrl = URL.createObjectURL(new Blob([recording], { type: "audio/wav" }));
      $("save").href = state.saveUrl;
    }
    $("save-row").hidden = !recording;
    setStatus(res.label === "unusable" ? `Result: unusable recording (${v.reason}).`
      : `Result: ${res.label}, ${percent(top)} confidence; quality usable.`, true);
  }

  function sizeCanvas(canvas) {
    const dpr = Math.min(3, window.devicePixelRatio || 1);
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    return [w, h];
  }

  function cssVar(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  }

  function drawWave(canvas, y) {
    const [w, h] = sizeCanvas(canvas);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    let peak = 1e-12;
    for (let i = 0; i < y.length; i++) peak = Math.max(peak, Math.abs(y[i]));
    ctx.fillStyle = cssVar("--wave", "#a4262c");
    const per = y.length / w;
    for (let px = 0; px < w; px++) {
      let lo = Infinity;
      let hi = -Infinity;
      const a = Math.floor(px * per);
      const b = Math.max(a + 1, Math.floor((px + 1) * per));
      for (let i = a; i < b && i < y.length; i++) {
        if (y[i] < lo) lo = y[i];
        if (y[i] > hi) hi = y[i];
      }
      if (lo === Infinity) continue;
      const top = h / 2 - (hi / peak) * (h / 2 - 2);
      const bottom = h / 2 - (lo / peak) * (h / 2 - 2);
      ctx.fillRect(px, top, 1, Math.max(1, bottom - top));
    }
  }

  // viridis, five stops
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

  function colour(t) {
    const x = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(x));
    const f = x - i;
    return STOPS[i].map((c, k) => Math.round(c + f * (STOPS[i + 1][k] - c)));
  }

  function drawMap(canvas, map) {
    const [w, h] = sizeCanvas(canvas);
    const { data, frames, bands } = map;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      if (data[i] < lo) lo = data[i];
      if (data[i] > hi) hi = data[i];
    }
    const img = new ImageData(frames, bands);
    for (let t = 0; t < frames; t++) {
      for (let b = 0; b < bands; b++) {
        const [r, g, bl] = colour((data[t * bands + b] - lo) / Math.max(1e-9, hi - lo));
        const o = ((bands - 1 - b) * frames + t) * 4; // low frequencies at the bottom
        img.data[o] = r; img.data[o + 1] = g; img.data[o + 2] = bl; img.data[o + 3] = 255;
      }
    }
    const off = document.createElement("canvas");
    off.width = frames;
    off.height = bands;
    off.getContext("2d").putImageData(img, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, w, h);
  }

  // ----------------------------------------------------------------- recording
  function setLevel(db) {
    const meter = $("level");
    const clamped = Math.max(-60, Math.min(0, db));
    meter.querySelector(".fill").style.width = `${((clamped + 60) / 60) * 100}%`;
    meter.classList.toggle("hot", db > -3);
    meter.setAttribute("aria-valuenow", clamped.toFixed(0));
    meter.setAttribute("aria-valuetext", db <= -60 ? "no signal"
      : `${clamped.toFixed(0)} dB${db > -3 ? ", too loud" : ""}`);
  }

  async function toggleRecording() {
    if (state.recording) {
      state.recording.cancel("Recording stopped; nothing was analysed.");
      return;
    }
    if (state.busy) return;
    const seconds = Number($("duration").value);
    const button = $("record");
    const ctx = new AudioContext(); // created in the click, so that it may start
    let stream = null;
    const rec = { done: false };
    state.recording = rec;
    const cleanup = () => {
      rec.done = true;
      clearInterval(rec.timer);
      if (stream) stream.getTracks().forEach((t) => t.stop());
      ctx.close().catch(() => {});
      state.recording = null;
      button.classList.remove("recording");
      $("record-text").textContent = "Record";
      button.setAttribute("aria-pressed", "false");
      $("progress-fill").style.width = "0%";
      $("progress").hidden = true;
      setLevel(-100);
    };
    rec.cancel = (message) => {
      if (rec.done) return;
      cleanup();
      $("countdown").textContent = message;
      setStatus(message);
    };
    button.classList.add("recording");
    $("progress").hidden = false;
    button.setAttribute("aria-pressed", "true");
    $("record-text").textContent = "Stop";
    $("countdown").textContent = "Asking for the microphone…";
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false,
          autoGainControl: false },
      });
      if (rec.done) return;
      await ctx.audioWorklet.addModule("recorder-worklet.js");
      await ctx.resume();
    } catch (err) {
      rec.cancel(`Microphone unavailable: ${oneLine(err)}`);
      writeError(`microphone unavailable: ${oneLine(err)}`);
      return;
    }
    if (rec.done) return;
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "heartsound-recorder", {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], channelCount: 1,
      channelCountMode: "explicit", channelInterpretation: "speakers",
    });
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(ctx.destination);
    const rate = ctx.sampleRate;
    const need = Math.round(seconds * rate);
    const chunks = [];
    let got = 0;
    const tick = () => {
      const left = Math.max(0, Math.ceil(seconds - got / rate));
      $("countdown").textContent = `Recording… ${left} s left`;
      $("progress-fill").style.width = `${Math.min(100, (100 * got) / need)}%`;
    };
    tick();
    setStatus(`Recording ${seconds} s…`);
    rec.timer = setInterval(tick, 500);
    node.port.onmessage = (e) => {
      if (rec.done) return;
      const chunk = e.data;
      chunks.push(chunk);
      got += chunk.length;
      let ms = 0;
      for (let i = 0; i < chunk.length; i++) ms += chunk[i] * chunk[i];
      setLevel(10 * Math.log10(ms / Math.max(1, chunk.length) + 1e-12));
      if (got >= need) finish();
    };
    const finish = () => {
      cleanup();
      const samples = new Float32Array(need);
      let o = 0;
      for (const c of chunks) {
        if (o >= need) break;
        samples.set(c.subarray(0, need - o), o);
        o += c.length;
      }
      $("countdown").textContent = `Recorded ${seconds} s.`;
      const wav = HeartDSP.encodeWav(samples, rate);
      run(() => analyseAndShow(samples, rate, state.models.get(state.model),
        `microphone recording (${rate} Hz)`, wav, true, true));
    };
  }

  // ------------------------------------------------------------------ start
  window.heartsound = {
    classifyUrl: (url, model) => run(() => classifyUrl(url, model)),
    // samples: mono samples at `rate` Hz, as decoded (writes #result like the rest);
    // clearest: analyse the clearest 7.5 s, as for a recording made here
    classifySamples: (samples, rate, model, source = "samples", clearest = false) => run(() => {
      const m = state.models.get(model || state.model);
      if (!m) throw new Error(`unknown model ${JSON.stringify(model)}`);
      return analyseAndShow(Float32Array.from(samples), rate, m, source, null, false, clearest);
    }),
  };
  function start() {
    init().catch((err) => writeError(oneLine(err)));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
