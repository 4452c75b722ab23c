/* heartsound web app: signal processing in plain JavaScript (float64), no dependencies.
 *
 * - fft / rfft / irfft: any length (radix-2, Bluestein's chirp-z for other lengths), numpy's
 *   conventions (forward unnormalised, irfft divides by n and ignores the imaginary parts
 *   of the DC and Nyquist bins).
 * - resample: band-limited resampling to the model's 4 kHz, in the frequency domain, with
 *   soxr's HQ magnitude response (what `heartsound predict` uses, through python-soxr):
 *   flat to ~1850 Hz, -6 dB at ~1913 Hz, nothing from 2000 Hz, zero phase; the input is
 *   zero-extended (as soxr starts and flushes with zeros) and the output has soxr's length,
 *   round-half-up(n · out / in). Web Audio's own resampling (OfflineAudioContext) is
 *   available as resampleWebAudio, for comparison (docs/web.md).
 * - sosfiltfilt: scipy.signal.sosfiltfilt (odd extension, steady-state initial conditions),
 *   the front end's zero-phase band-pass, from the coefficients the build exports.
 * - logMel: the model's log-mel map (for display).
 * - parseWav / encodeWav: RIFF WAVE PCM 8/16/24/32-bit and IEEE float, as libsndfile reads it
 *   (integers scaled to [-1, 1), channels averaged to mono).
 *
 * Loads as a classic script (globalThis.HeartDSP) or with require() in Node (the tests).
 */
(function (root, factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.HeartDSP = api;
})(typeof self !== "undefined" ? self : globalThis, function () {
  "use strict";

  // ------------------------------------------------------------------------ FFT
  const twiddleCache = new Map();

  /** Twiddles of every stage, contiguous (stage of half-size h at [h, 2h): cos, sin of
   * pi k / h), and the bit-reversal permutation. */
  function twiddles(n) {
    let t = twiddleCache.get(n);
    if (!t) {
      t = { cos: new Float64Array(n), sin: new Float64Array(n), rev: new Uint32Array(n) };
      for (let h = 1; h < n; h <<= 1) {
        for (let k = 0; k < h; k++) {
          t.cos[h + k] = Math.cos((Math.PI * k) / h);
          t.sin[h + k] = Math.sin((Math.PI * k) / h);
        }
      }
      const bits = Math.round(Math.log2(n));
      for (let i = 1; i < n; i++) t.rev[i] = (t.rev[i >> 1] >> 1) | ((i & 1) << (bits - 1));
      if (twiddleCache.size > 16) twiddleCache.clear();
      twiddleCache.set(n, t);
    }
    return t;
  }

  /** In place, n a power of two; sign -1 forward (e^{-i...}), +1 inverse (unnormalised). */
  function fftPow2(re, im, sign) {
    const n = re.length;
    if (n <= 1) return;
    const { cos, sin, rev } = twiddles(n);
    for (let i = 0; i < n; i++) {
      const j = rev[i];
      if (j > i) {
        let tmp = re[i]; re[i] = re[j]; re[j] = tmp;
        tmp = im[i]; im[i] = im[j]; im[j] = tmp;
      }
    }
    for (let a = 0; a < n; a += 2) { // the first stage needs no multiplications
      const xr = re[a + 1];
      const xi = im[a + 1];
      re[a + 1] = re[a] - xr; im[a + 1] = im[a] - xi;
      re[a] += xr; im[a] += xi;
    }
    for (let h = 2; h < n; h <<= 1) {
      const size = h << 1;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < h; k++) {
          const wr = cos[h + k];
          const wi = sign * sin[h + k];
          const a = start + k;
          const b = a + h;
          const br = re[b];
          const bi = im[b];
          const xr = br * wr - bi * wi;
          const xi = br * wi + bi * wr;
          re[b] = re[a] - xr; im[b] = im[a] - xi;
          re[a] += xr; im[a] += xi;
        }
      }
    }
  }

  const chirpCache = new Map();

  function chirp(n, sign) {
    const key = n * 2 + (sign > 0 ? 1 : 0);
    let c = chirpCache.get(key);
    if (!c) {
      let m = 1;
      while (m < 2 * n - 1) m <<= 1;
      const wr = new Float64Array(n);
      const wi = new Float64Array(n);
      const twoN = 2 * n;
      for (let k = 0; k < n; k++) {
        const k2 = (k * k) % twoN; // exact below 2^53 (n up to ~9e7)
        const ang = (sign * Math.PI * k2) / n;
        wr[k] = Math.cos(ang);
        wi[k] = Math.sin(ang);
      }
      const br = new Float64Array(m);
      const bi = new Float64Array(m);
      br[0] = wr[0]; bi[0] = -wi[0];
      for (let k = 1; k < n; k++) {
        br[k] = br[m - k] = wr[k];
        bi[k] = bi[m - k] = -wi[k];
      }
      fftPow2(br, bi, -1);
      c = { m, wr, wi, br, bi };
      if (chirpCache.size > 8) chirpCache.clear();
      chirpCache.set(key, c);
    }
    return c;
  }

  /** Complex DFT of any length, in place on (re, im); sign -1 forward, +1 inverse
   * (unnormalised, as numpy's fft; divide by n for ifft). */
  function fft(re, im, sign = -1) {
    const n = re.length;
    if (n <= 1) return;
    if ((n & (n - 1)) === 0) {
      fftPow2(re, im, sign);
      return;
    }
    const { m, wr, wi, br, bi } = chirp(n, sign);
    const ar = new Float64Array(m);
    const ai = new Float64Array(m);
    for (let k = 0; k < n; k++) {
      ar[k] = re[k] * wr[k] - im[k] * wi[k];
      ai[k] = re[k] * wi[k] + im[k] * wr[k];
    }
    fftPow2(ar, ai, -1);
    for (let k = 0; k < m; k++) {
      const r = ar[k] * br[k] - ai[k] * bi[k];
      ai[k] = ar[k] * bi[k] + ai[k] * br[k];
      ar[k] = r;
    }
    fftPow2(ar, ai, 1);
    for (let k = 0; k < n; k++) {
      const r = ar[k] / m;
      const i = ai[k] / m;
      re[k] = r * wr[k] - i * wi[k];
      im[k] = r * wi[k] + i * wr[k];
    }
  }

  /** numpy.fft.rfft: bins 0..floor(n/2) of a real signal, as {re, im}. */
  function rfft(x) {
    const n = x.length;
    const re = Float64Array.from(x);
    const im = new Float64Array(n);
    fft(re, im, -1);
    const h = Math.floor(n / 2) + 1;
    return { re: re.slice(0, h), im: im.slice(0, h) };
  }

  /** numpy.fft.irfft(spec, n): a real signal of length n from bins 0..floor(n/2). */
  function irfft(spec, n) {
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    const h = Math.floor(n / 2);
    const avail = spec.re.length;
    for (let k = 0; k <= h && k < avail; k++) {
      re[k] = spec.re[k];
      im[k] = spec.im[k];
      if (k > 0 && n - k > h) {
        re[n - k] = spec.re[k];
        im[n - k] = -spec.im[k];
      }
    }
    im[0] = 0;
    if (n % 2 === 0) im[h] = 0;
    fft(re, im, 1);
    for (let i = 0; i < n; i++) re[i] /= n;
    return re;
  }

  // ------------------------------------------------------------------ resampling
  // soxr HQ's magnitude response (python-soxr's default), measured with sines through
  // soxr.resample(44100 → 4000): frequency as a fraction of the lower Nyquist → gain.
  const SOXR_F = [0, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.825];
  const SOXR_G = [1, 0.99999, 0.99997, 0.99993, 0.99987, 0.99978, 0.99963, 0.99953];
  const SOXR_TABLE = [0.9994, 0.99939, 0.99938, 0.99936, 0.99935, 0.99933, 0.99932, 0.9993,
    0.99928, 0.99927, 0.99925, 0.99924, 0.99922, 0.9992, 0.99918, 0.99917, 0.99915, 0.99913,
    0.99911, 0.99909, 0.99907, 0.99905, 0.99903, 0.99901, 0.99899, 0.99897, 0.99894, 0.99891,
    0.99882, 0.99856, 0.99789, 0.99634, 0.99314, 0.98716, 0.97688, 0.96045, 0.93591, 0.90142,
    0.85562, 0.79797, 0.72902, 0.65051, 0.56528, 0.47702, 0.38979, 0.30754, 0.23356, 0.17018,
    0.11853, 0.07857, 0.04932, 0.02913, 0.01607, 0.00819, 0.0038, 0.00158, 0.00057, 0.00017,
    4e-05, 0.0, 0.0]; // 0.85, 0.8525, ..., 1.0
  for (let i = 0; i < SOXR_TABLE.length; i++) {
    SOXR_F.push(0.85 + 0.0025 * i);
    SOXR_G.push(SOXR_TABLE[i]);
  }

  function soxrGain(f) {
    if (f >= 1) return 0;
    let lo = 0;
    let hi = SOXR_F.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (SOXR_F[mid] <= f) lo = mid; else hi = mid;
    }
    const t = (f - SOXR_F[lo]) / (SOXR_F[hi] - SOXR_F[lo]);
    return SOXR_G[lo] + t * (SOXR_G[hi] - SOXR_G[lo]);
  }

  function gcd(a, b) {
    while (b) [a, b] = [b, a % b];
    return a;
  }

  /** Output length of soxr.resample: round-half-up(n · out / rate). */
  function resampledLength(n, rate, out) {
    return Math.floor((2 * n * out + rate) / (2 * rate));
  }

  /** Resample the real signals a and b (same length) from `rate` to `out` Hz at once (one
   * complex FFT: a in the real part, b in the imaginary part; the filter is real and even,
   * so they stay apart). Returns [a', b'] as Float64Arrays. */
  function resamplePair(a, b, rate, out) {
    const n = a.length;
    if (rate === out) return [Float64Array.from(a), Float64Array.from(b)];
    if (!(rate > 0 && out > 0 && Number.isInteger(rate) && Number.isInteger(out))) {
      throw new Error(`sample rates must be positive integers (got ${rate} and ${out})`);
    }
    const g = gcd(rate, out);
    const L = rate / g; // input samples per block
    const M = out / g; // output samples per block
    const pad = L * Math.ceil((0.1 * rate) / L); // 0.1 s of zeros either side, whole blocks
    const nin = L * Math.ceil((2 * pad + n) / L);
    const nout = (nin / L) * M;
    const re = new Float64Array(nin);
    const im = new Float64Array(nin);
    re.set(a, pad);
    im.set(b, pad);
    fft(re, im, -1);
    const yr = new Float64Array(nout);
    const yi = new Float64Array(nout);
    const nyquist = Math.min(rate, out) / 2;
    for (let k = 0; k < nout; k++) {
      const kk = k <= nout / 2 ? k : k - nout; // signed frequency index
      if (2 * Math.abs(kk) >= nin) continue; // past the input's Nyquist (upsampling)
      const gain = soxrGain((Math.abs(kk) * rate) / nin / nyquist);
      if (gain === 0) continue;
      const src = kk >= 0 ? kk : nin + kk;
      yr[k] = re[src] * gain;
      yi[k] = im[src] * gain;
    }
    fft(yr, yi, 1);
    const start = (pad / L) * M;
    const len = resampledLength(n, rate, out);
    const oa = new Float64Array(len);
    const ob = new Float64Array(len);
    for (let i = 0; i < len; i++) {
      oa[i] = yr[start + i] / nin;
      ob[i] = yi[start + i] / nin;
    }
    return [oa, ob];
  }

  function resample(x, rate, out) {
    return resamplePair(x, new Float64Array(x.length), rate, out)[0];
  }

  /** Web Audio's resampling, for comparison: an OfflineAudioContext at `out` Hz playing a
   * buffer at `rate` Hz (browsers only). */
  async function resampleWebAudio(x, rate, out) {
    const len = resampledLength(x.length, rate, out);
    const ctx = new OfflineAudioContext(1, Math.max(1, len), out);
    const buf = ctx.createBuffer(1, x.length, rate);
    buf.getChannelData(0).set(Float32Array.from(x));
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    src.start();
    const rendered = await ctx.startRendering();
    return Float64Array.from(rendered.getChannelData(0));
  }

  // ------------------------------------------------------------------- band-pass
  /** scipy.signal.sosfilt(sos, x, zi=zi)[0] (direct form II transposed), reversed input if
   * `reverse`; sos rows [b0, b1, b2, a0, a1, a2], zi [[z0, z1], ...] (already scaled). */
  function sosfilt(sos, x, zi, reverse = false) {
    const n = x.length;
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) y[i] = reverse ? x[n - 1 - i] : x[i];
    for (let s = 0; s < sos.length; s++) {
      const [b0r, b1r, b2r, a0, a1r, a2r] = sos[s];
      const b0 = b0r / a0, b1 = b1r / a0, b2 = b2r / a0, a1 = a1r / a0, a2 = a2r / a0;
      let z0 = zi[s][0];
      let z1 = zi[s][1];
      for (let i = 0; i < n; i++) {
        const xi = y[i];
        const yi = b0 * xi + z0;
        z0 = b1 * xi - a1 * yi + z1;
        z1 = b2 * xi - a2 * yi;
        y[i] = yi;
      }
    }
    return y;
  }

  /** scipy.signal.sosfiltfilt(sos, x) with odd extension by `pad` samples and steady-state
   * initial conditions `zi` (sosfilt_zi), as heartsound.audio.bandpass. */
  function sosfiltfilt(sos, zi, pad, x) {
    const n = x.length;
    if (n <= pad) throw new Error(`too short to filter (${n} samples, at least ${pad + 1})`);
    const ext = new Float64Array(n + 2 * pad);
    for (let i = 0; i < pad; i++) ext[i] = 2 * x[0] - x[pad - i];
    for (let i = 0; i < n; i++) ext[pad + i] = x[i];
    for (let i = 0; i < pad; i++) ext[pad + n + i] = 2 * x[n - 1] - x[n - 2 - i];
    const scaled = (v) => zi.map((row) => [row[0] * v, row[1] * v]);
    const fwd = sosfilt(sos, ext, scaled(ext[0]));
    const back = sosfilt(sos, fwd, scaled(fwd[fwd.length - 1]), true); // reversed order
    const y = new Float64Array(n);
    // back[i] is the output at position ext.length - 1 - i
    for (let i = 0; i < n; i++) y[i] = back[ext.length - 1 - (pad + i)];
    return y;
  }

  /** The paper's repeat rule: tile a short signal to n samples, cut a long one. */
  function fitLength(x, n) {
    const y = new Float64Array(n);
    if (x.length === 0) return y;
    for (let i = 0; i < n; i++) y[i] = x[i % x.length];
    return y;
  }

  /** What heartsound.audio.load(path, max_seconds=seconds) keeps of a recording: its
   * first `seconds`, or as many from the first audible sample (|x| >= silentPeak) when those
   * are digital silence and the recording goes on. A view into `raw`. */
  function readWindow(raw, rate, seconds, silentPeak) {
    const n = Math.ceil(seconds * rate);
    const head = Math.min(n, raw.length);
    let peak = 0;
    for (let i = 0; i < head; i++) peak = Math.max(peak, Math.abs(raw[i]));
    if (head > 0 && peak < silentPeak) {
      for (let i = head; i < raw.length; i++) {
        if (Math.abs(raw[i]) >= silentPeak) return raw.subarray(i, i + n);
      }
    }
    return raw.subarray(0, head);
  }

  // ----------------------------------------------------------------- log-mel map
  const melCache = new Map();

  function hzToMel(f, scale) {
    if (scale === "htk") return 2595 * Math.log10(1 + f / 700);
    const fSp = 200 / 3;
    const minLogHz = 1000;
    const minLogMel = minLogHz / fSp;
    const logstep = Math.log(6.4) / 27;
    return f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logstep : f / fSp;
  }

  function melToHz(m, scale) {
    if (scale === "htk") return 700 * (10 ** (m / 2595) - 1);
    const fSp = 200 / 3;
    const minLogHz = 1000;
    const minLogMel = minLogHz / fSp;
    const logstep = Math.log(6.4) / 27;
    return m >= minLogMel ? minLogHz * Math.exp(logstep * (m - minLogMel)) : fSp * m;
  }

  /** librosa.filters.mel (triangles; unit peak, or unit area with norm "slaney"). */
  function melFilters(cfg) {
    const key = JSON.stringify([cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin_hz,
      cfg.fmax_hz, cfg.mel_scale, cfg.mel_norm]);
    let w = melCache.get(key);
    if (w) return w;
    const bins = cfg.n_fft / 2 + 1;
    const lo = hzToMel(cfg.fmin_hz, cfg.mel_scale);
    const hi = hzToMel(cfg.fmax_hz, cfg.mel_scale);
    const edges = [];
    for (let i = 0; i < cfg.n_mels + 2; i++) {
      edges.push(melToHz(lo + ((hi - lo) * i) / (cfg.n_mels + 1), cfg.mel_scale));
    }
    w = [];
    for (let m = 0; m < cfg.n_mels; m++) {
      const row = new Float64Array(bins);
      const [f0, f1, f2] = [edges[m], edges[m + 1], edges[m + 2]];
      const norm = cfg.mel_norm === "slaney" ? 2 / (f2 - f0) : 1;
      for (let k = 0; k < bins; k++) {
        const f = (k * cfg.sample_rate) / cfg.n_fft;
        const v = Math.max(0, Math.min((f - f0) / (f1 - f0), (f2 - f) / (f2 - f1)));
        row[k] = v * norm;
      }
      w.push(row);
    }
    melCache.set(key, w);
    return w;
  }

  /** Log-mel map (frames × n_mels, row-major Float32Array) of a fixed-length 4-kHz signal,
   * with the model's framing (periodic Hann, no centring), power, mel bank, dB, top_db. */
  function logMel(y, cfg) {
    const nfft = cfg.n_fft;
    const flen = cfg.frame_length;
    const hop = cfg.hop_length;
    const frames = 1 + Math.floor((y.length - nfft) / hop);
    const bank = melFilters(cfg);
    const nm = cfg.n_mels;
    const out = new Float32Array(Math.max(0, frames) * nm);
    const win = new Float64Array(flen);
    for (let i = 0; i < flen; i++) win[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / flen);
    const off = Math.floor((nfft - flen) / 2);
    const re = new Float64Array(nfft);
    const im = new Float64Array(nfft);
    const power = new Float64Array(nfft / 2 + 1);
    let peak = -Infinity;
    const amin = cfg.amin || 1e-10;
    for (let t = 0; t < frames; t++) {
      re.fill(0);
      im.fill(0);
      for (let i = 0; i < flen; i++) re[off + i] = y[t * hop + off + i] * win[i];
      fftPow2(re, im, -1);
      for (let k = 0; k <= nfft / 2; k++) power[k] = re[k] * re[k] + im[k] * im[k];
      for (let m = 0; m < nm; m++) {
        const row = bank[m];
        let s = 0;
        for (let k = 0; k <= nfft / 2; k++) s += row[k] * power[k];
        const db = 10 * Math.log10(Math.max(s, amin));
        out[t * nm + m] = db;
        if (db > peak) peak = db;
      }
    }
    if (cfg.top_db != null) {
      const floor = peak - cfg.top_db;
      for (let i = 0; i < out.length; i++) if (out[i] < floor) out[i] = floor;
    }
    return { data: out, frames, bands: nm };
  }

  // ------------------------------------------------------------------------- WAV
  /** Samples of a RIFF WAVE file (PCM 8/16/24/32-bit, IEEE float 32/64, extensible), mixed
   * to mono: {samples: Float32Array, sampleRate, channels, frames}. Throws a one-line Error
   * for anything else (the caller falls back to the browser's decoder). */
  function parseWav(buffer) {
    const v = new DataView(buffer);
    const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2),
      v.getUint8(o + 3));
    if (buffer.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") {
      throw new Error("not a RIFF WAVE file");
    }
    let pos = 12;
    let fmt = null;
    let data = null;
    while (pos + 8 <= buffer.byteLength) {
      const id = tag(pos);
      const size = v.getUint32(pos + 4, true);
      const body = pos + 8;
      if (id === "fmt ") {
        let format = v.getUint16(body, true);
        const channels = v.getUint16(body + 2, true);
        const rate = v.getUint32(body + 4, true);
        const bits = v.getUint16(body + 14, true);
        if (format === 0xfffe && size >= 26) format = v.getUint16(body + 24, true);
        fmt = { format, channels, rate, bits };
      } else if (id === "data") {
        const available = buffer.byteLength - body;
        if (size > available && size !== 0xffffffff) {
          throw new Error(`truncated WAV: header declares ${size} bytes of audio, file holds ` +
            `${available}`);
        }
        data = { offset: body, size: Math.min(size, available) };
        break;
      }
      pos = body + size + (size & 1);
    }
    if (!fmt) throw new Error("WAV without a fmt chunk");
    if (!data) throw new Error("WAV without a data chunk");
    const { format, channels, rate, bits } = fmt;
    const width = bits / 8;
    const ok = channels > 0 && ((format === 1 && [1, 2, 3, 4].includes(width)) ||
      (format === 3 && [4, 8].includes(width)));
    if (!ok) throw new Error(`unsupported WAV encoding (format ${format}, ${bits} bits)`);
    const frames = Math.floor(data.size / (width * channels));
    const out = new Float32Array(frames);
    const read = (o) => {
      if (format === 3) return width === 4 ? v.getFloat32(o, true) : v.getFloat64(o, true);
      if (width === 1) return (v.getUint8(o) - 128) / 128;
      if (width === 2) return v.getInt16(o, true) / 32768;
      if (width === 3) {
        const u = v.getUint8(o) | (v.getUint8(o + 1) << 8) | (v.getInt8(o + 2) << 16);
        return u / 8388608;
      }
      return v.getInt32(o, true) / 2147483648;
    };
    const stride = width * channels;
    for (let f = 0; f < frames; f++) {
      const o = data.offset + f * stride;
      if (channels === 1) {
        out[f] = read(o);
      } else {
        let s = 0;
        for (let c = 0; c < channels; c++) s += Math.fround(read(o + c * width));
        out[f] = s / channels;
      }
    }
    return { samples: out, sampleRate: rate, channels, frames };
  }

  /** A mono 16-bit PCM WAV of samples in [-1, 1] (for saving a recording). */
  function encodeWav(samples, rate) {
    const n = samples.length;
    const buf = new ArrayBuffer(44 + 2 * n);
    const v = new DataView(buf);
    const put = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    put(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); put(8, "WAVE");
    put(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, rate, true); v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true);
    v.setUint16(34, 16, true); put(36, "data"); v.setUint32(40, 2 * n, true);
    for (let i = 0; i < n; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      v.setInt16(44 + 2 * i, Math.round(s < 0 ? s * 32768 : s * 32767), true);
    }
    return buf;
  }

  return {
    fft, rfft, irfft, resample, resamplePair, resampleWebAudio, resampledLength, soxrGain,
    sosfilt, sosfiltfilt, fitLength, readWindow, logMel, melFilters, parseWav, encodeWav,
  };
});
