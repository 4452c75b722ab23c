/* heartsound web app: the signal-quality gate, a port of heartsound/quality.py.
 *
 * The same indices, thresholds, scores and reasons as `heartsound predict`: the numbers
 * (DEFAULT_THRESHOLDS, ANCHORS and the constants) come from quality.json, written by
 * `heartsound web` from the Python module, so the two sides cannot drift apart. Indices on
 * the raw decoded samples (duration, DC, AC peak, clipping) and on the 4-kHz band-limited
 * signal (level, band ratio, kurtosis, envelope variation, periodicity, heart rate).
 *
 * Loads as a classic script (globalThis.HeartQuality) or with require() in Node (tests).
 */
(function (root, factory) {
  "use strict";
  const dsp = typeof module === "object" && module.exports ? require("./dsp.js") : root.HeartDSP;
  const api = factory(dsp);
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.HeartQuality = api;
})(typeof self !== "undefined" ? self : globalThis, function (dsp) {
  "use strict";

  const INDEX_NAMES = ["duration_s", "dc_ratio", "ac_peak_dbfs", "clipped", "level_dbfs",
    "band_ratio", "kurtosis", "envelope_cv", "periodicity", "heart_rate_bpm"];
  const CALIBRATED = ["clipped", "band_ratio", "kurtosis", "envelope_cv", "periodicity"];

  function mean(x) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i];
    return x.length ? s / x.length : 0;
  }

  // ------------------------------------------------------------ raw-signal indices
  function dcRatio(x, q) {
    if (x.length === 0) return 0;
    const m = mean(x);
    if (m === 0) return 0;
    let s = 0;
    for (let i = 0; i < x.length; i++) s += (x[i] - m) ** 2;
    const rms = Math.sqrt(s / x.length);
    return rms * q.dc_max <= Math.abs(m) ? q.dc_max : Math.abs(m) / rms;
  }

  function acPeakDbfs(x, q) {
    if (x.length === 0) return q.floor_dbfs;
    const m = mean(x);
    let peak = 0;
    for (let i = 0; i < x.length; i++) peak = Math.max(peak, Math.abs(x[i] - m));
    return peak > 0 ? Math.max(q.floor_dbfs, 20 * Math.log10(peak)) : q.floor_dbfs;
  }

  function clippingShare(x, rate, tolerance = 1e-3, minRun = 3, minRail = 0.01, maxRate = 4000) {
    const step = Math.max(1, Math.ceil(rate / maxRate));
    const n = Math.ceil(x.length / step);
    if (n < minRun) return 0;
    let hi = -Infinity;
    let lo = Infinity;
    for (let i = 0; i < x.length; i += step) {
      if (x[i] > hi) hi = x[i];
      if (x[i] < lo) lo = x[i];
    }
    const top = hi >= minRail ? Math.min(1, (1 - tolerance) * hi) : 1;
    const bottom = lo <= -minRail ? Math.max(-1, (1 - tolerance) * lo) : -1;
    let count = 0;
    let inRails = 0;
    let run = 0;
    for (let i = 0; i < x.length; i += step) {
      if (x[i] >= top || x[i] <= bottom) {
        run++;
        inRails++;
      } else {
        if (run >= minRun) count += run;
        run = 0;
      }
    }
    if (run >= minRun) count += run;
    if (inRails < minRun) return 0;
    return count / n;
  }

  // ---------------------------------------------------------- band-limited indices
  function bins(n, rate, band) {
    return [Math.ceil((band[0] * n) / rate), Math.min(Math.floor(n / 2),
      Math.floor((band[1] * n) / rate)) + 1];
  }

  function kurtosis(y) {
    if (y.length === 0) return 0;
    const m = mean(y);
    let s2 = 0;
    let s4 = 0;
    for (let i = 0; i < y.length; i++) {
      const d2 = (y[i] - m) ** 2;
      s2 += d2;
      s4 += d2 * d2;
    }
    const m2 = s2 / y.length;
    if (!(m2 > 0)) return 0;
    return s4 / y.length / (m2 * m2);
  }

  /** quality.fft_length: the next power of two (a radix-2 transform, and the same bins as
   * numpy's for any recording length). */
  function fftLength(n) {
    let p = 2;
    while (p < n) p *= 2;
    return p;
  }

  /** quality._spectrum: rfft of y - mean(y), zero-padded to fftLength. */
  function spectrum(y) {
    const m = mean(y);
    const padded = new Float64Array(fftLength(y.length));
    for (let i = 0; i < y.length; i++) padded[i] = y[i] - m;
    return dsp.rfft(padded);
  }

  function envelopeFromSpectrum(spec, n, rate, band, envRate) {
    const nFft = 2 * (spec.re.length - 1); // spec: a spectrum() of the n-sample signal
    const k = Math.max(1, Math.floor(rate / (2.5 * band[1])));
    const m = Math.floor(nFft / k);
    const size = Math.floor(m / 2) + 1;
    const sub = { re: new Float64Array(size), im: new Float64Array(size) };
    const [start, stop0] = bins(nFft, rate, band);
    const stop = Math.min(stop0, size);
    for (let i = start; i < stop; i++) {
      sub.re[i] = spec.re[i];
      sub.im[i] = spec.im[i];
    }
    const h = dsp.irfft(sub, m);
    const block = Math.max(1, Math.round(rate / k / envRate));
    const blocks = Math.floor(Math.floor(n / k) / block);
    const env = new Float64Array(blocks);
    for (let b = 0; b < blocks; b++) {
      let s = 0;
      for (let i = b * block; i < (b + 1) * block; i++) s += Math.abs(h[i]);
      env[b] = (s / block) * (m / nFft);
    }
    return env;
  }

  function envelopeCv(env) {
    const m = mean(env);
    if (!(m > 0)) return 0;
    let s = 0;
    for (let i = 0; i < env.length; i++) s += (env[i] - m) ** 2;
    return Math.sqrt(s / env.length) / m;
  }

  /** Pearson correlation of env[:n-k] with env[k:] for each lag k (0 where constant). */
  function laggedCorrelations(env, lags) {
    const n = env.length;
    const m0 = mean(env);
    const e = Float64Array.from(env, (v) => v - m0);
    const c1 = new Float64Array(n + 1);
    const c2 = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      c1[i + 1] = c1[i] + e[i];
      c2[i + 1] = c2[i] + e[i] * e[i];
    }
    return lags.map((k) => {
      const m = n - k;
      let cross = 0;
      for (let t = 0; t < m; t++) cross += e[t] * e[t + k];
      const sa = c1[m];
      const sb = c1[n] - c1[k];
      const va = Math.max(c2[m] - (sa * sa) / m, 0);
      const vb = Math.max(c2[n] - c2[k] - (sb * sb) / m, 0);
      const denom = Math.sqrt(va * vb);
      if (!(denom > 1e-12 * Math.max(c2[n], 1e-300))) return 0;
      return Math.max(-1, Math.min(1, (cross - (sa * sb) / m) / denom));
    });
  }

  function envelopePeriodicity(env, rate, bpmRange, cycleShare) {
    const n = env.length;
    const lo = Math.max(1, Math.ceil((60 / bpmRange[1]) * rate));
    const hi = Math.min(Math.floor((60 / bpmRange[0]) * rate), Math.floor(n / 2));
    if (hi < lo) return [0, 0];
    const lags = [];
    for (let k = lo - 1; k <= hi + 1; k++) lags.push(k);
    const r = laggedCorrelations(env, lags);
    let best = -Infinity;
    const peaks = [];
    for (let i = 1; i < r.length - 1; i++) {
      const p = r[i] >= r[i - 1] && r[i] >= r[i + 1] && r[i] > 0;
      peaks.push(p);
      if (p && r[i] > best) best = r[i];
    }
    if (best === -Infinity) return [0, 0];
    for (let i = 0; i < peaks.length; i++) {
      if (peaks[i] && r[i + 1] >= cycleShare * best) return [best, (60 * rate) / lags[i + 1]];
    }
    return [best, 0];
  }

  function bandIndices(y, rate, q) {
    const out = { level_dbfs: q.floor_dbfs, band_ratio: 0, kurtosis: 0, envelope_cv: 0,
      periodicity: 0, heart_rate_bpm: 0 };
    if (y.length < 2 || !y.every(Number.isFinite)) return out;
    const spec = spectrum(y);
    let total = 0;
    for (let i = 0; i < spec.re.length; i++) total += spec.re[i] ** 2 + spec.im[i] ** 2;
    const [start, stop] = bins(2 * (spec.re.length - 1), rate, q.band_hz);
    let inBand = 0;
    for (let i = start; i < stop; i++) inBand += spec.re[i] ** 2 + spec.im[i] ** 2;
    const env = envelopeFromSpectrum(spec, y.length, rate, q.band_hz, q.envelope_rate);
    const [r, bpm] = envelopePeriodicity(env, q.envelope_rate, q.bpm_range, q.cycle_share);
    let ms = 0;
    for (let i = 0; i < y.length; i++) ms += y[i] * y[i];
    ms /= y.length;
    out.level_dbfs = ms > 0 ? Math.max(q.floor_dbfs, 10 * Math.log10(ms)) : q.floor_dbfs;
    out.band_ratio = total > 0 ? inBand / total : 0;
    out.kurtosis = kurtosis(y);
    out.envelope_cv = envelopeCv(env);
    out.periodicity = r;
    out.heart_rate_bpm = bpm;
    return out;
  }

  /** Every index of one recording: `x` the raw mono samples at `rate` (already cut to what
   * the classifier reads), `y` the 4-kHz band-limited signal of x - mean(x) (resampled and
   * band-passed; null when x is too short for it). */
  function indices(x, rate, y, q) {
    const out = {};
    for (const name of INDEX_NAMES) out[name] = 0;
    out.ac_peak_dbfs = out.level_dbfs = q.floor_dbfs;
    out.duration_s = x.length / rate;
    if (x.length === 0 || !x.every(Number.isFinite)) return out;
    out.dc_ratio = dcRatio(x, q);
    out.ac_peak_dbfs = acPeakDbfs(x, q);
    out.clipped = clippingShare(x, rate);
    if (y && y.length >= q.min_band_samples && out.ac_peak_dbfs > q.floor_dbfs) {
      Object.assign(out, bandIndices(y, q.sample_rate, q));
    }
    return out;
  }

  // ---------------------------------------------------------------------- verdict
  function indexScore(name, value, threshold, q) {
    let [bad, good] = q.anchors[name];
    if (name === "clipped") [value, threshold, bad, good] = [-value, -threshold, -bad, -good];
    if (value >= threshold) {
      const span = good - threshold;
      return span <= 0 ? 1 : 0.5 + 0.5 * Math.min(1, (value - threshold) / span);
    }
    const span = threshold - bad;
    return span <= 0 ? 0 : Math.min(0.4999, 0.5 * Math.max(0, (value - bad) / span));
  }

  const fmt = (v, d) => v.toFixed(d);

  function fixedFailures(ix, t, q) {
    const out = [];
    if (ix.duration_s < t.min_duration_s) {
      out.push(["duration_s", `too short (${fmt(ix.duration_s, 2)} s < ${t.min_duration_s} s)`]);
    }
    if (ix.dc_ratio > t.dc_ratio_max) out.push(["dc_ratio", "constant offset (DC)"]);
    if (ix.ac_peak_dbfs < t.silence_dbfs) {
      out.push(["ac_peak_dbfs", "digital silence" + (ix.ac_peak_dbfs > q.floor_dbfs
        ? ` (peak ${fmt(ix.ac_peak_dbfs, 0)} dBFS)` : "")]);
    }
    if (ix.level_dbfs < t.level_min_dbfs) {
      const shown = ix.level_dbfs <= q.floor_dbfs ? "-inf" : fmt(ix.level_dbfs, 0);
      out.push(["level_dbfs", `near-silent (${shown} dBFS rms in 20–1800 Hz)`]);
    }
    return out;
  }

  function reason(name, ix, q) {
    const v = ix[name];
    if (name === "clipped") {
      return `clipped: ${fmt(100 * v, v >= 0.02 ? 0 : 1)} % of samples`;
    }
    if (name === "band_ratio") {
      return v < 0.05 ? "no energy in 20–400 Hz"
        : `too little energy in 20–400 Hz (${fmt(100 * v, 0)} % of 20–1800 Hz)`;
    }
    if (name === "kurtosis") return `not impulsive (kurtosis ${fmt(v, 1)}): a tone, hum or steady noise`;
    if (name === "envelope_cv") {
      return `flat envelope (variation ${fmt(v, 2)}): a tone, hum or steady noise`;
    }
    if (ix.duration_s < (2 * 60) / q.bpm_range[1]) {
      return `no periodic heart sounds: too short to hold two cycles (${fmt(ix.duration_s, 2)} s)`;
    }
    return `no periodic heart sounds (envelope autocorrelation ${fmt(v, 2)})`;
  }

  /** {usable, quality, reason, indices, failed}, as heartsound.quality.verdict. */
  function verdict(ix, q) {
    const t = q.thresholds;
    const limits = { clipped: t.clipped_max, band_ratio: t.band_ratio_min,
      kurtosis: t.kurtosis_min, envelope_cv: t.envelope_cv_min, periodicity: t.periodicity_min };
    const fixed = fixedFailures(ix, t, q);
    const failedCal = CALIBRATED.filter((n) => (n === "clipped" ? ix[n] > limits[n]
      : ix[n] < limits[n]));
    const scores = {};
    for (const n of CALIBRATED) scores[n] = indexScore(n, ix[n], limits[n], q);
    const failed = [...fixed.map((f) => f[0]), ...failedCal];
    const lowest = Math.min(...Object.values(scores));
    if (fixed.length) return { usable: false, quality: 0, reason: fixed[0][1], indices: ix, failed };
    if (failedCal.length) {
      const low = Math.min(...failedCal.map((n) => scores[n]));
      const worst = failedCal.find((n) => scores[n] <= low + q.tie);
      return { usable: false, quality: lowest, reason: reason(worst, ix, q), indices: ix, failed };
    }
    return { usable: true, quality: lowest, reason: "", indices: ix, failed: [] };
  }

  /** The verdict on one recording: `x` its raw samples at `rate` (what the classifier reads),
   * `g4` x - mean(x) resampled to 4 kHz; `bandpass` the model's {sos, zi, pad}. As
   * heartsound.quality.assess, given the resampling. */
  function assess(x, rate, g4, bandpass, q) {
    if (x.length && !x.every(Number.isFinite)) {
      const ix = {};
      for (const name of INDEX_NAMES) ix[name] = 0;
      ix.duration_s = x.length / rate;
      ix.ac_peak_dbfs = ix.level_dbfs = q.floor_dbfs;
      return { usable: false, quality: 0, reason: "contains NaN or infinite samples",
        indices: ix, failed: ["finite"] };
    }
    const band = g4 && g4.length > bandpass.pad
      ? dsp.sosfiltfilt(bandpass.sos, bandpass.zi, bandpass.pad, g4) : null;
    return verdict(indices(x, rate, band, q), q);
  }

  return { INDEX_NAMES, CALIBRATED, indices, bandIndices, verdict, assess, indexScore, clippingShare,
    fftLength, laggedCorrelations, envelopePeriodicity };
});
