"""Raw-audio models: a shipped model with its whole front end in front, in one ONNX graph.

``NAME-audio.onnx`` takes input ``audio``: the 4-kHz mono waveform, float32, shape
``(batch, samples)`` (any length of at least the front end's ``min_duration_s``, 0.5 s; the
graph itself does not check it: :meth:`heartsound.infer.Classifier.predict_audio` does, as
``predict`` validates every recording). Its output ``probabilities`` ``(batch, classes)`` are
the calibrated class probabilities (temperature scaling inside). The graph computes what
:func:`heartsound.audio.preprocess` and :func:`heartsound.features.feature_map` do after the
resampling, in plain opset-17 operators (no DFT/STFT, no custom ops, so onnxruntime on a CPU
and onnxruntime-web's WebAssembly backend both run it):

1. the first ``read_seconds`` (7.5 s, 30,000 samples): ``Slice``;
2. the zero-phase Butterworth band-pass, ``scipy.signal.sosfiltfilt``'s exact definition:
   odd extension by ``pad`` (27) samples at both ends (``Slice`` with step -1, ``Mul``,
   ``Sub``, ``Concat``); the forward pass from its steady-state initial conditions
   (``sosfilt_zi`` times the first extended sample), the backward pass likewise on the
   reversed forward output; that reversed back and the extension cropped (one ``Slice``).
   Each pass is the SOS cascade as one linear state-space system computed a block of ``B``
   (48) samples at a time, as the numpy front end does it
   (:class:`heartsound.audio._BlockSosfilt`, :func:`_causal_iir`): per block the outputs
   are the block's inputs times a ``(B, B)`` Toeplitz matrix plus its start state times a
   ``(states, B)`` matrix, and the start states come from a log-depth prefix scan
   (``MatMul``, ``Slice``, ``Add``, ``Concat``), so no ``Loop`` and no per-sample recursion.
   Exact, edges included (steady-state initial conditions as ``sosfiltfilt``'s), to float32
   rounding; until 2026-12-02 each pass was a 1,583-tap FIR (the impulse response cut
   where the rest's L1 norm fell below 1e-8) as a block convolution, 26 times the products;
3. fit to ``duration_s`` (28,000 samples): ``Tile`` by ``ceil(28000 / n)`` (1 for a long
   recording) and ``Slice``, the paper's repeat rule;
4. frames, periodic Hann window, DFT and power: the frames ``Gather``ed as runs of
   ``gcd(n_fft, hop)`` samples (zeros ``Pad``ded first when centring); as cos is even and sin
   odd in the sample ``m``, each frame's windowed samples ``m`` and ``n_fft - m`` are added
   (and subtracted) and meet ``(bins, bins)`` cos (and sin) tables in a ``MatMul``: half the
   products of a ``Conv`` with ``n_fft``-long kernels. The tables are built in the graph from
   ones of ``cos(2πm/n_fft)`` by ``Gather`` at ``k·m mod n_fft``, so the file stays small;
   then ``re² + im²``;
5. the mel filter bank (``MatMul``), ``10·log10(max(S, amin))`` (``Max``, ``Log``, ``Mul``),
   the ``top_db`` clip below each map's own peak (``ReduceMax`` per item, ``Sub``, ``Max``),
   and the DCT-II (``MatMul``) for MFCC maps;
6. the shipped network unchanged (its standardisation is inside it), its tensors renamed
   ``net/...``;
7. temperature scaling ``softmax(log(max(p, 1e-12)) / T)`` (``Max``, ``Log``, ``Div``,
   ``Softmax``), as :func:`heartsound.calibration.scale`.

A whole-recording model (metadata ``heartsound.window_hop_s``: trained on crops, it averages
its probabilities over ``duration_s`` windows every ``hop`` frames, see
:meth:`heartsound.infer.Classifier.file_windows`) gets the windows in the graph, as
``preprocess(whole=True)``, :func:`heartsound.features.windows` and ``predict_files`` do:

- step 1 reads the first :data:`heartsound.audio.WHOLE_MAX_S` (60 s, 240,000 samples), not
  ``read_seconds``, all of it band-passed (the block FIR takes any length);
- step 3 tiles a recording shorter than ``duration_s`` to it but does not cut a longer one
  (the ``Slice`` keeps ``max(n, n_samples)``);
- step 4 frames all of it, the count from its length (``Shape``, integer ``Div``), so the
  frames' index is built at run time;
- step 5 clips ``top_db`` below the whole map's peak, per recording (``features.log_mel`` of
  the whole signal);
- then the windows: starts ``min(Range(0, T - N + hop, hop), T - N)`` for a map of ``T``
  frames and windows of ``N`` (``T ≥ N`` always), which is ``0, hop, 2·hop, …`` plus the
  end-aligned ``T - N`` when it is not on that grid, and the one window ``[0, N)`` when
  ``T = N``; the windows ``Gather``ed (batch, windows, N, coefficients) and ``Reshape``d to
  (batch·windows, N, coefficients) for the network; its output ``Reshape``d to (batch,
  windows, classes) and averaged (``ReduceMean``);
- step 7 scales that mean, as ``predict_files`` scales the mean of the softmax outputs.

A batch of recordings of one length has one set of windows, so batches work as before.
:meth:`heartsound.infer.Classifier.file_audio` reads ``WHOLE_MAX_S`` for such a model, and
the graph keeps ``heartsound.window_hop_s`` in its metadata, so tools can tell it averages
windows.

onnxruntime folds what is built from constants (``W``, the DFT tables, a fixed-length model's
frames' index) once when it loads the model. The file carries the source model's metadata
plus ``heartsound.input = "audio"`` and ``heartsound.source_model = NAME``.
``python -m heartsound.training.audio_model`` writes ``NAME-audio.onnx`` beside every shipped
``*-light*.onnx``; parity with ``heartsound predict`` is measured by
``python -m heartsound.research.audio_parity``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.atomic import write_with
from heartsound.config import FrontEndConfig

SUFFIX = "-audio"
INPUT = "audio"
OUTPUT = "probabilities"
OPSET = 17
PROB_FLOOR = 1e-12  # calibration.scale's clip before the log
_INT_MAX = 2**62


class _Builder:
    """Nodes and initializers of a graph under construction, named ``fe/...``."""

    def __init__(self, prefix: str = "fe/") -> None:
        self.prefix, self.count = prefix, 0
        self.nodes: list[Any] = []  # onnx.NodeProto
        self.inits: list[Any] = []  # onnx.TensorProto

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}{self.count}"

    def const(self, value: object, hint: str = "c", dtype: type | None = None) -> str:
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, dtype=np.int64), "i")

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        output = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output],
                                           name=self.name("n"), **attrs))
        return output

    def slice(self, x: str, start: int, end: int, axis: int, step: int = 1) -> str:
        return self.op("Slice", x, self.ints(start), self.ints(end), self.ints(axis),
                       self.ints(step))


def _range(b: _Builder, start: int | str, limit: int | str, delta: int = 1) -> str:
    def scalar(v: int | str) -> str:
        return v if isinstance(v, str) else b.const(np.int64(v))

    return b.op("Range", scalar(start), scalar(limit), scalar(delta))


NEGLIGIBLE = 2.0**-40  # a scan matrix this small (norm) adds nothing at float32 precision


def _balanced_filter(config: FrontEndConfig) -> tuple[np.ndarray, ...]:
    """The band-pass's block state-space matrices (:class:`heartsound.audio._BlockSosfilt`,
    row-vector form) in balanced coordinates, and its steady-state initial state there.

    The cascade's own state basis (scipy's direct-form-II-transposed sections) is far from
    normal: in float32 the graph's output missed the band-pass tests' bound (1e-5 of the
    peak, tests/training/test_audio_model.py), from the matrices' rounding and the
    arithmetic alike. A balanced realisation (Moore, 1981: controllability and
    observability Gramians equal and diagonal, the Hankel singular values) is the same
    filter and stays well inside it in float32 (docs/audio-models.md). Gramians of the block system
    ``s' = M s + K x``, ``y = O s + T x`` by ``scipy.linalg.solve_discrete_lyapunov``;
    ``s = T_b s_b`` with ``T_b = L U Σ^(-1/2)`` (``P = L Lᵀ``, ``Lᵀ Q L = U Σ² Uᵀ``).
    Returns ``(k_t, t_t, o_t, scan, zi)``; scan matrices below :data:`NEGLIGIBLE` dropped."""
    from scipy.linalg import solve_discrete_lyapunov

    from heartsound.audio import _sos_zi, _sosfilt, band_key

    key = band_key(config)
    filt, zi = _sosfilt(*key), np.ravel(_sos_zi(*key))
    m, k, o = filt.m_t.T, filt.k_t.T, filt.o_t.T  # column form
    gram_c = solve_discrete_lyapunov(m, k @ k.T)
    gram_o = solve_discrete_lyapunov(m.T, o.T @ o)
    lower = np.linalg.cholesky(gram_c)
    u, sigma2, _ = np.linalg.svd(lower.T @ gram_o @ lower)
    # A singular vector's sign is LAPACK's choice, and builds differ: fixed here (each
    # column's largest entry positive) so that every machine writes the same file.
    u = u * np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    t_b = lower @ u @ np.diag(sigma2 ** -0.25)  # Σ^(-1/2), Σ = sqrt(sigma2)
    to_b, from_b = np.linalg.inv(t_b).T, t_b.T  # row form: s_b = s @ to_b, s = s_b @ from_b
    scan = [from_b @ p @ to_b for p in filt.scan]
    scan = [p for p in scan if np.linalg.norm(p) > NEGLIGIBLE]
    return filt.k_t @ to_b, filt.t_t, from_b @ filt.o_t, scan, zi @ to_b


def _filter_constants(b: _Builder, config: FrontEndConfig) -> dict[str, Any]:
    """The constants of :func:`_causal_iir`, made once for both passes. ``T`` (Toeplitz,
    ``T[i, o] = h[o - i]``) is a ``Gather`` from the ``B`` taps of the impulse response
    zero-padded, at an index of ``Range``s: onnxruntime folds it at load, the file holds
    ``2·B - 1`` floats instead of ``B²``."""
    k_t, t_t, o_t, scan, zi = _balanced_filter(config)
    block = t_t.shape[0]
    padded = np.concatenate([np.zeros(block - 1), t_t[0]])  # padded[B-1 + o - i] = h[o - i]
    index = b.op("Add", b.op("Unsqueeze", _range(b, block - 1, -1, -1), b.ints(1)),
                 b.op("Unsqueeze", _range(b, 0, block), b.ints(0)))
    return {"block": block, "k": b.const(k_t, "k"), "o": b.const(o_t, "o"),
            "t": b.op("Gather", b.const(padded, "impulse"), index),
            "zi": b.const(zi[None, None, :], "zi"),
            "scan": [b.const(m_t, "scan") for m_t in scan]}


def _causal_iir(b: _Builder, x: str, consts: dict[str, Any]) -> str:
    """``scipy.signal.sosfilt(sos, x, zi=zi·x[0])`` over ``x`` (batch, 1, n): the causal
    band-pass from steady state, in the block state-space form of
    :class:`heartsound.audio._BlockSosfilt` (the numpy front end's own filter), balanced
    (:func:`_balanced_filter`; ``consts``: :func:`_filter_constants`). ``x`` zero-padded to
    whole blocks of ``B`` samples and ``Reshape``d (batch, Q, B); each block's effect on the
    state (``MatMul`` by ``K``); the block start states from a log-depth prefix scan
    (``Slice``, ``MatMul`` by ``M^(2^d)``, ``Add``, ``Concat``: the few steps before
    ``M^(2^d)`` is negligible); outputs ``x·T + s·O`` (two ``MatMul``s), cut to ``n``. About
    ``n·(B + 2·states)`` products a pass, against ``n·L`` for an ``L``-tap FIR of the same
    filter (1,583 taps: 20 Hz needs a long tail)."""
    block = consts["block"]
    length = b.slice(b.op("Shape", x), 2, 3, 0)  # (1,): n
    short = b.op("Mod", b.op("Sub", b.ints(block), b.op("Mod", length, b.ints(block))),
                 b.ints(block))  # zeros that fill the last block
    padded = b.op("Pad", x, b.op("Concat", b.ints(0, 0, 0, 0, 0), short, axis=0))
    blocks = b.op("Reshape", padded, b.ints(0, -1, block))  # (batch, Q, B)
    kx = b.op("MatMul", blocks, consts["k"])  # (batch, Q, states)
    start = b.op("Mul", b.slice(x, 0, 1, 2), consts["zi"])
    states = b.op("Concat", start, b.slice(kx, 0, -1, 1), axis=1)  # s_0, K·x_0, K·x_1, ...
    shift = 1
    for m_t in consts["scan"]:  # s_j += M^shift · s_(j-shift), all j ≥ shift at once
        later = b.op("Add", b.slice(states, shift, _INT_MAX, 1),
                     b.op("MatMul", b.slice(states, 0, -shift, 1), m_t))
        states = b.op("Concat", b.slice(states, 0, shift, 1), later, axis=1)
        shift *= 2
    y = b.op("Add", b.op("MatMul", blocks, consts["t"]), b.op("MatMul", states, consts["o"]))
    y = b.op("Reshape", y, b.ints(0, 1, -1))
    return b.op("Slice", y, b.ints(0), length, b.ints(2))


def _frames(b: _Builder, cfg: FrontEndConfig, signal: str) -> str:
    """The ``n_fft``-sample frames every ``hop`` of ``signal`` (batch, 1, samples), their
    count from its (dynamic) length, shape (batch, frames, n_fft): ``Gather``ed as runs of
    ``g = gcd(n_fft, hop)`` samples, ``Range``s of the count; a whole recording's map."""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    g = math.gcd(n_fft, hop)
    length = b.slice(b.op("Shape", signal), 2, 3, 0)
    count = b.op("Add", b.op("Div", b.op("Sub", length, b.ints(n_fft)), b.ints(hop)),
                 b.ints(1))  # 1 + (samples - n_fft) // hop, samples ≥ n_fft
    used = b.op("Add", b.op("Mul", count, b.ints(hop)), b.ints(n_fft - hop))
    blocks = b.op("Reshape", b.op("Slice", signal, b.ints(0), used, b.ints(2)),
                  b.op("Concat", b.ints(0), b.op("Div", used, b.ints(g)), b.ints(g), axis=0))
    runs = b.op("Squeeze", b.op("Mul", count, b.ints(hop // g)), b.ints(0))
    index = b.op("Add", b.op("Unsqueeze", _range(b, 0, runs, hop // g), b.ints(1)),
                 b.op("Unsqueeze", _range(b, 0, n_fft // g), b.ints(0)))  # (frames, n_fft/g)
    return b.op("Reshape", b.op("Gather", blocks, index, axis=1), b.ints(0, -1, n_fft))


def _power_spectrum(b: _Builder, cfg: FrontEndConfig, fixed: str, whole: bool = False) -> str:
    """``|rfft(frame · window)|²`` of every frame of ``fixed`` (batch, 1, n_samples, or any
    length with ``whole``), shape (batch, frames, bins): half the products of a ``Conv`` with
    ``n_fft``-long kernels, as cos is even and sin odd in the sample ``m``: sample ``m`` of
    each frame, windowed, plus (and minus) sample ``n_fft - m`` meet ``(bins, bins)`` cos (and
    sin) tables in a ``MatMul``."""
    from heartsound.features import _window

    n_fft, bins, hop = cfg.n_fft, cfg.n_fft // 2 + 1, cfg.hop_length
    half = n_fft // 2 if cfg.center else 0  # features.log_mel pads zeros when centring
    signal = b.op("Pad", fixed, b.ints(0, 0, half, 0, 0, half)) if half else fixed
    if whole:
        frames = _frames(b, cfg, signal)
    else:  # a fixed count: the frames' index is a constant onnxruntime folds
        count = (cfg.n_samples + 2 * half - n_fft) // hop + 1
        # frames as whole blocks of g samples (g divides hop and n_fft): Gather copies runs
        g = math.gcd(n_fft, hop)
        used = (count - 1) * hop + n_fft
        blocks = b.op("Reshape", b.slice(signal, 0, used, 2), b.ints(0, used // g, g))
        index = b.op("Add",
                     b.op("Unsqueeze", _range(b, 0, count * hop // g, hop // g), b.ints(1)),
                     b.op("Unsqueeze", _range(b, 0, n_fft // g), b.ints(0)))
        frames = b.op("Reshape", b.op("Gather", blocks, index, axis=1),
                      b.ints(0, count, n_fft))
    window = _window(cfg.window, cfg.frame_length, n_fft)
    m = np.arange(bins)
    mirror = (n_fft - m) % n_fft
    weight = np.where(m == mirror, 0.5, 1.0)  # m = 0, n_fft/2: their own pair
    near = b.op("Mul", b.slice(frames, 0, bins, 2), b.const(weight * window[m], "window"))
    far = b.op("Concat", b.slice(frames, 0, 1, 2), b.slice(frames, n_fft - 1, n_fft - bins, 2, -1),
               axis=2)  # sample (n_fft - m) mod n_fft
    far = b.op("Mul", far, b.const(weight * window[mirror], "window"))
    size = b.const(np.int64(n_fft))
    at = _range(b, 0, bins)
    mk = b.op("Mod", b.op("Mul", b.op("Unsqueeze", at, b.ints(1)),
                          b.op("Unsqueeze", at, b.ints(0))), size)  # m·k mod n_fft
    angle = 2 * np.pi * np.arange(n_fft) / n_fft
    re = b.op("MatMul", b.op("Add", near, far), b.op("Gather", b.const(np.cos(angle), "cos"), mk))
    im = b.op("MatMul", b.op("Sub", near, far), b.op("Gather", b.const(np.sin(angle), "sin"), mk))
    return b.op("Add", b.op("Mul", re, re), b.op("Mul", im, im))


def _front_end(b: _Builder, config: FrontEndConfig, out: str,
               whole: bool = False) -> dict[str, str]:
    """Nodes from the graph input ``audio`` (batch, samples) to the map ``out``; returns the
    names of the band-passed signal (``band``: batch, 1, min(samples, read)) and the
    fixed-length one (``fixed``: batch, 1, n_samples). ``whole``: ``preprocess(whole=True)``
    and the whole recording's map, for sliding windows: up to ``WHOLE_MAX_S`` read, a short
    recording tiled to ``n_samples`` but a longer one not cut (``fixed``: batch, 1,
    max(samples read, n_samples)), every frame of it in ``out``."""
    from heartsound.audio import WHOLE_MAX_S, band_key, bandpass_pad, bandpass_sos
    from heartsound.features import _dct_matrix, mel_filterbank

    cfg = config
    pad = bandpass_pad(bandpass_sos(*band_key(cfg)))
    read = int(math.ceil((WHOLE_MAX_S if whole else cfg.read_seconds) * cfg.sample_rate))
    x = b.op("Unsqueeze", INPUT, b.ints(1))  # (batch, 1, samples), as band and fixed
    x = b.slice(x, 0, read, 2)
    # sosfiltfilt's odd extension: 2·x[0] - x[pad:0:-1] and 2·x[-1] - x[-2:-pad-2:-1]
    two = b.const(np.float32(2.0), "two")
    head = b.op("Sub", b.op("Mul", b.slice(x, 0, 1, 2), two), b.slice(x, pad, 0, 2, -1))
    tail = b.op("Sub", b.op("Mul", b.slice(x, -1, _INT_MAX, 2), two),
                b.slice(x, -2, -pad - 2, 2, -1))
    ext = b.op("Concat", head, x, tail, axis=2)
    # Forward pass from steady state; backward likewise on the reversed forward output
    # (sosfiltfilt reverses too), then the result reversed back and the extension cropped,
    # in one Slice.
    consts = _filter_constants(b, cfg)
    fwd = _causal_iir(b, ext, consts)
    bwd = _causal_iir(b, b.slice(fwd, -1, -_INT_MAX, 2, -1), consts)
    band = b.slice(bwd, -1 - pad, pad - 1, 2, -1)
    # fit_length: tile by ceil(n_samples / n), keep the first n_samples (whole: the first
    # max(n, n_samples), so a long recording is not cut).
    n = b.slice(b.op("Shape", band), 2, 3, 0)
    reps = b.op("Div", b.op("Add", n, b.ints(cfg.n_samples - 1)), n)
    tiled = b.op("Tile", band, b.op("Concat", b.ints(1, 1), reps, axis=0))
    if whole:
        fixed = b.op("Slice", tiled, b.ints(0), b.op("Max", n, b.ints(cfg.n_samples)),
                     b.ints(2))
    else:
        fixed = b.slice(tiled, 0, cfg.n_samples, 2)
    power = _power_spectrum(b, cfg, fixed, whole)  # (batch, frames, bins)
    bank = mel_filterbank(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                          fmin_hz=cfg.fmin_hz, fmax_hz=cfg.fmax_hz,
                          htk=cfg.mel_scale == "htk", norm=cfg.mel_norm)
    mel = b.op("MatMul", power, b.const(np.ascontiguousarray(bank.T), "mel"))
    floor = b.op("Max", mel, b.const(np.float32(cfg.amin), "amin"))
    if cfg.log == "ln":
        logs = b.op("Log", floor)
    else:
        logs = b.op("Mul", b.op("Log", floor), b.const(np.float32(10 / np.log(10)), "db"))
        if cfg.top_db is not None:
            peak = b.op("ReduceMax", logs, axes=[1, 2], keepdims=1)
            logs = b.op("Max", logs, b.op("Sub", peak, b.const(np.float32(cfg.top_db), "top")))
    if cfg.cepstrum:
        b.op("MatMul", logs, b.const(_dct_matrix(cfg.n_mels, cfg.n_mfcc), "dct"), out=out)
    else:
        b.op("Identity", logs, out=out)
    return {"band": band, "fixed": fixed}


def _windows(b: _Builder, full: str, n_frames: int, hop: int, out: str) -> str:
    """:func:`heartsound.features.windows` of the whole map ``full`` (batch, frames, coeffs)
    into ``out`` (batch·windows, n_frames, coeffs); returns the window starts. The starts are
    ``min(Range(0, T - N + hop, hop), T - N)``: 0, hop, 2·hop, … up to the last one at or past
    ``T - N``, that one moved to ``T - N``, which is ``range(0, T - N + 1, hop)`` plus the
    end-aligned start when it is not already one, and one window ``[0, N)`` when ``T = N``
    (a whole map never has fewer frames)."""
    frames = b.slice(b.op("Shape", full), 1, 2, 0)
    last = b.op("Sub", frames, b.ints(n_frames))  # T - N ≥ 0, (1,)
    stop = b.op("Squeeze", b.op("Add", last, b.ints(hop)), b.ints(0))
    starts = b.op("Min", _range(b, 0, stop, hop), last)  # (windows,)
    index = b.op("Add", b.op("Unsqueeze", starts, b.ints(1)),
                 b.op("Unsqueeze", _range(b, 0, n_frames), b.ints(0)))  # (windows, N)
    picked = b.op("Gather", full, index, axis=1)  # (batch, windows, N, coeffs)
    shape = b.op("Concat", b.ints(-1), b.slice(b.op("Shape", picked), 2, 4, 0), axis=0)
    b.op("Reshape", picked, shape, out=out)
    return starts


def _check_supported(config: FrontEndConfig, meta: dict[str, str]) -> None:
    if config.log == "pcen":
        raise ValueError("PCEN maps are not built into audio graphs (a recursive smoother)")


def build_audio_model(model_path: str | os.PathLike[str],
                      intermediates: bool = False) -> Any:
    """The audio model of ``model_path`` as an ``onnx.ModelProto`` (not written).

    A whole-recording model (metadata ``heartsound.window_hop_s``) gets the sliding windows
    in the graph: the whole map, its windows through the network, their probabilities
    averaged, then the temperature, as :meth:`heartsound.infer.Classifier.predict_files`.

    ``intermediates`` adds outputs after ``probabilities``, for parity measurements:
    ``band`` (the band-passed signal, batch × 1 × samples read), ``fixed`` (fitted to
    ``duration_s``, batch × 1 × n_samples; whole: not cut, max(samples read, n_samples)) and
    ``map`` (the network's input map; whole: the whole recording's, batch × frames × coeffs,
    then ``windows``, the network's input, batch·windows × n_frames × coeffs, and
    ``starts``, the windows' first frames)."""
    import onnx
    from onnx import TensorProto, helper
    from onnx.compose import add_prefix_graph

    from heartsound.audio import WHOLE_MAX_S
    from heartsound.features import hop_frames

    model_path = Path(model_path)
    source = onnx.load(str(model_path))
    meta = {p.key: p.value for p in source.metadata_props}
    config = FrontEndConfig.from_json(meta["heartsound.frontend"])
    _check_supported(config, meta)
    (net_in,), (net_out,) = source.graph.input, source.graph.output
    classes = net_out.type.tensor_type.shape.dim[-1].dim_value
    net = add_prefix_graph(source.graph, "net/")
    hop_s = meta.get("heartsound.window_hop_s")
    hop = hop_frames(None if hop_s is None else float(hop_s), config)
    b = _Builder()
    if hop is None:
        stages = _front_end(b, config, out=f"net/{net_in.name}")
        stages["map"] = f"net/{net_in.name}"
    else:
        full = b.name("map")
        stages = {**_front_end(b, config, out=full, whole=True), "map": full}
        stages["starts"] = _windows(b, stages["map"], config.n_frames, hop,
                                    out=f"net/{net_in.name}")
        stages["windows"] = f"net/{net_in.name}"
    head = b.nodes[:]
    temperature = float(meta.get("heartsound.temperature", 1.0))
    probs = f"net/{net_out.name}"
    if hop is not None:  # (batch·windows, classes) -> the mean over each item's windows
        batch = b.slice(b.op("Shape", INPUT), 0, 1, 0)
        per_item = b.op("Reshape", probs,
                        b.op("Concat", batch, b.ints(-1, classes), axis=0))
        probs = b.op("ReduceMean", per_item, axes=[1], keepdims=0)
    if temperature == 1.0:  # Classifier.predict_files leaves T = 1 unscaled
        b.op("Identity", probs, out=OUTPUT)
    else:
        logits = b.op("Log", b.op("Max", probs, b.const(np.float32(PROB_FLOOR), "floor")))
        scaled = b.op("Div", logits, b.const(np.float32(temperature), "temperature"))
        b.op("Softmax", scaled, out=OUTPUT, axis=-1)
    calibration = b.nodes[len(head):]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", classes])]
    if intermediates:
        for label, name in stages.items():
            calibration.append(helper.make_node("Identity", [name], [label],
                                                name=b.name("n")))
            kind, dims = {"starts": (TensorProto.INT64, ["windows"]),
                          "windows": (TensorProto.FLOAT, [None, None, None])
                          }.get(label, (TensorProto.FLOAT, ["batch", None, None]))
            outputs.append(helper.make_tensor_value_info(label, kind, dims))
    graph = helper.make_graph(
        [*head, *net.node, *calibration], f"{model_path.stem}{SUFFIX}",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", "samples"])],
        outputs, [*b.inits, *net.initializer],
    )
    model = helper.make_model(graph, opset_imports=list(source.opset_import),
                              producer_name="heartsound")
    model.ir_version = source.ir_version
    windowed = ("" if hop is None else
                f"Whole recording (up to {WHOLE_MAX_S:g} s), the mean over "
                f"{config.duration_s:g}-s windows every {hop} frames. ")
    model.doc_string = (f"{model_path.stem} with its front end inside: 4-kHz audio (batch, "
                        "samples), at least 0.5 s, in; calibrated probabilities out. "
                        f"{windowed}Band-pass: sosfiltfilt as two passes of the SOS cascade's "
                        "block state-space form from steady state "
                        "(heartsound.training.audio_model).")
    for key, value in {**meta, "heartsound.input": INPUT,
                       "heartsound.source_model": model_path.stem}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    return model


def export_audio_model(model_path: str | os.PathLike[str],
                       out_path: str | os.PathLike[str] | None = None) -> Path:
    """Write the audio model of ``model_path`` to ``out_path`` (default: ``NAME-audio.onnx``
    beside it), atomically."""
    model_path = Path(model_path)
    out = (Path(out_path) if out_path is not None
           else model_path.with_name(f"{model_path.stem}{SUFFIX}.onnx"))
    proto = build_audio_model(model_path)
    return write_with(out, lambda fh: fh.write(proto.SerializeToString()), mode="wb")


def sources(folder: Path) -> list[Path]:
    """The light models of ``folder`` that get an audio graph (not the audio graphs)."""
    return sorted(p for p in folder.glob("*-light*.onnx") if not p.stem.endswith(SUFFIX))


def main(argv: list[str] | None = None) -> int:
    from heartsound.registry import models_dir

    parser = argparse.ArgumentParser(
        prog="python -m heartsound.training.audio_model",
        description="write NAME-audio.onnx (front end inside) for every *-light*.onnx")
    parser.add_argument("--models", type=Path, default=None,
                        help="folder of models (default: the shipped models' folder)")
    args = parser.parse_args(argv)
    folder = args.models or models_dir()
    found = sources(folder)
    if not found:
        print(f"no *-light*.onnx in {folder}", file=sys.stderr)
        return 1
    for path in found:
        out = export_audio_model(path)
        print(f"{out} ({out.stat().st_size / 1000:.1f} KB, from {path.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
