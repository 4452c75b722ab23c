import dataclasses
import sys

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import soundfile as sf
from conftest import heart_like

import heartsound as hs
from heartsound import audio
from heartsound.config import FrontEndConfig
from heartsound.features import cached_features, hz_to_mel, mel_filterbank, mel_to_hz


def librosa_mfcc(x, cfg):
    librosa = pytest.importorskip("librosa")
    return librosa.feature.mfcc(
        y=x, sr=cfg.sample_rate, n_mfcc=cfg.n_mfcc, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        win_length=cfg.frame_length, window="hann", center=cfg.center, n_mels=cfg.n_mels,
        fmin=cfg.fmin_hz, fmax=cfg.fmax_hz, htk=cfg.mel_scale == "htk", mel_norm=cfg.mel_norm,
        norm="ortho", dct_type=2,
    ).T


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_mfcc_matches_librosa(scale):
    # Tolerance: 1e-4 absolute on values of magnitude up to a few hundred dB. Ours is float32
    # at the end; the rest is float64 in both, so the agreement is rounding-level.
    cfg = hs.DEFAULT.scaled(scale)
    x = hs.preprocess(heart_like(7.0, 4000), 4000, cfg)
    ours, ref = hs.mfcc(x, cfg), librosa_mfcc(x, cfg)
    assert ours.shape == ref.shape == cfg.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-5)


def test_mfcc_matches_librosa_with_slaney_and_centring():
    cfg = dataclasses.replace(hs.DEFAULT, mel_scale="slaney", mel_norm="slaney", center=True)
    x = np.random.default_rng(1).standard_normal(cfg.n_samples) * 0.1
    ours, ref = hs.mfcc(x, cfg), librosa_mfcc(x, cfg)
    assert ours.shape == (876, 20)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-5)


def test_frame_counts_documented():
    # 28,000 samples, uncentred: 1 + (28000 - n_fft) // hop.
    assert [hs.DEFAULT.scaled(f).n_frames for f in (1, 2, 4)] == [872, 434, 215]
    centred = dataclasses.replace(hs.DEFAULT, center=True)
    assert [centred.scaled(f).n_frames for f in (1, 2, 4)] == [876, 438, 219]
    for f in (1, 2, 4):
        cfg = hs.DEFAULT.scaled(f)
        assert hs.mfcc(np.ones(cfg.n_samples) * 0.1, cfg).shape == (cfg.n_frames, 20)


def test_mel_filter_edges():
    bank = mel_filterbank()  # 48 filters over 0-2000 Hz, 65 FFT bins of 31.25 Hz
    assert bank.shape == (48, 65)
    edges = mel_to_hz(np.linspace(0, hz_to_mel(2000.0), 50))
    assert edges[0] == 0 and edges[-1] == pytest.approx(2000.0)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(np.array([0, 440, 1000, 2000]))),
                               [0, 440, 1000, 2000], atol=1e-9)
    fft_hz = np.arange(65) * 31.25
    for m in range(48):
        inside = bank[m] > 0
        assert inside.any(), f"filter {m} is empty"
        # Non-zero only strictly between its lower and upper edge, peak 1 at most.
        assert np.all(fft_hz[inside] > edges[m]) and np.all(fft_hz[inside] < edges[m + 2])
        assert bank[m].max() <= 1.0 + 1e-12
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)  # HTK: 1000 Hz ≈ 1000 mel


def test_pure_tone_lands_in_its_mel_band():
    cfg = hs.DEFAULT
    t = np.arange(cfg.n_samples) / cfg.sample_rate
    from heartsound.features import log_mel

    for freq in (100.0, 300.0, 1000.0):
        energies = log_mel(np.sin(2 * np.pi * freq * t), cfg).mean(axis=0)
        centres = mel_to_hz(np.linspace(0, hz_to_mel(2000.0), 50))[1:-1]
        assert abs(centres[np.argmax(energies)] - freq) < 0.1 * freq + 40


def test_tiling_is_exact():
    x = np.arange(10_000, dtype=float)
    y = audio.fit_length(x, 28_000)
    assert y.size == 28_000
    np.testing.assert_array_equal(y[:10_000], x)
    np.testing.assert_array_equal(y[10_000:20_000], x)
    np.testing.assert_array_equal(y[20_000:], x[:8_000])
    np.testing.assert_array_equal(audio.fit_length(np.arange(30_000.0), 28_000),
                                  np.arange(28_000.0))


def test_resampling_keeps_tone_frequency():
    rate, freq = 44_100, 150.0
    t = np.arange(rate * 2) / rate
    y = audio.resample(np.sin(2 * np.pi * freq * t), rate, 4000)
    assert y.size == 8000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert np.fft.rfftfreq(y.size, 1 / 4000)[np.argmax(spectrum)] == pytest.approx(freq, abs=0.5)


@pytest.mark.parametrize("n", [3000, 28_000, 30_001])
def test_bandpass_is_exactly_scipy_sosfiltfilt(n):
    from scipy import signal

    x = np.random.default_rng(n).standard_normal(n)
    sos = audio.bandpass_sos(20.0, 1800.0, 4000, 4)
    np.testing.assert_allclose(audio.bandpass(x), signal.sosfiltfilt(sos, x), rtol=0, atol=1e-12)


def test_bandpass_passes_band_and_stops_outside():
    t = np.arange(8000) / 4000
    gain = {}
    for f in (5.0, 200.0, 1950.0):
        y = audio.bandpass(np.sin(2 * np.pi * f * t))
        gain[f] = np.abs(y[2000:6000]).max()
    assert gain[200.0] > 0.95 and gain[5.0] < 0.05 and gain[1950.0] < 0.3


def test_preprocess_gives_fixed_length_and_is_deterministic():
    for seconds in (1.0, 7.0, 12.0):
        y = hs.preprocess(heart_like(seconds, 8000), 8000)
        assert y.shape == (28_000,) and np.all(np.isfinite(y))
    x = heart_like(5.0, 4000)
    np.testing.assert_array_equal(hs.preprocess(x, 4000), hs.preprocess(x, 4000))


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_load_any_wav_depth(make_wav, subtype):
    x = heart_like(2.0, 8000) * 0.5
    path = make_wav(f"tone_{subtype}.wav", x, 8000, subtype)
    y, rate = hs.load(path)
    assert rate == 8000 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-4)
    assert hs.features(path).shape == (872, 20)


def test_stereo_is_mixed_to_mono(make_wav):
    left = heart_like(2.0, 4000)
    path = make_wav("stereo.wav", np.stack([left, np.zeros_like(left)], axis=1), 4000, "FLOAT")
    y, _ = hs.load(path)
    np.testing.assert_allclose(y, left / 2, atol=1e-6)


def test_features_equal_the_api_chain(make_wav):
    path = make_wav("long.wav", heart_like(12.0, 22_050), 22_050)
    x, rate = hs.load(path)
    np.testing.assert_array_equal(hs.features(path), hs.mfcc(hs.preprocess(x, rate)))


def test_quiet_but_real_recording_is_processed(make_wav):
    x = heart_like(3.0, 4000)
    x = x / np.abs(x).max() * 10 ** (-71 / 20)  # peak -71 dBFS, like one PASCAL test file
    path = make_wav("quiet.wav", x, 4000, "FLOAT")
    assert np.all(np.isfinite(hs.features(path)))


def test_silence_gives_finite_values_in_mfcc():
    assert np.all(np.isfinite(hs.mfcc(np.zeros(28_000))))


def test_config_roundtrip_and_fingerprint():
    cfg = hs.DEFAULT.scaled(2)
    again = FrontEndConfig.from_json(cfg.to_json())
    assert again == cfg and again.fingerprint() == cfg.fingerprint()
    assert cfg.fingerprint() != hs.DEFAULT.fingerprint()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_mfcc = 13  # type: ignore[misc]
    with pytest.raises(ValueError):
        FrontEndConfig.from_dict({"bogus": 1})


def test_the_builtin_sha256_is_hashlibs():
    """Fingerprints and cache checksums use CPython's own SHA-256 (no OpenSSL at start-up):
    the digests are hashlib's, so stored fingerprints stay valid."""
    import hashlib

    from heartsound.config import sha256

    for data in (b"", b"heartsound", bytes(range(256)) * 1000):
        assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    h = sha256()
    h.update(b"heart")
    h.update(b"sound")
    assert h.digest() == hashlib.sha256(b"heartsound").digest()
    assert hs.DEFAULT.fingerprint() == hashlib.sha256(
        hs.DEFAULT.to_json().encode()).hexdigest()[:16]


def test_log_mel_maps_skip_the_dct():
    cfg = dataclasses.replace(hs.DEFAULT.scaled(4), cepstrum=False)
    x = hs.preprocess(heart_like(7.0, 4000), 4000, cfg)
    lm = hs.feature_map(x, cfg)
    assert lm.shape == cfg.shape == (215, 48) and lm.dtype == np.float32
    assert cfg.label == "215×48 log-mel" and hs.DEFAULT.label == "872×20"
    np.testing.assert_allclose(lm, hs.log_mel(x, cfg), rtol=1e-6)
    # The MFCC map is the same energies through the DCT: the two front ends differ only there.
    dct = scipy.fft.dct(lm.astype(np.float64), type=2, norm="ortho", axis=-1)[:, :20]
    np.testing.assert_allclose(hs.feature_map(x, hs.DEFAULT.scaled(4)), dct, atol=1e-3)
    assert FrontEndConfig.from_json(cfg.to_json()) == cfg
    assert cfg.fingerprint() != hs.DEFAULT.scaled(4).fingerprint()


def test_pcen_is_librosas_with_a_settled_smoother():
    librosa = pytest.importorskip("librosa")
    from heartsound.features import pcen

    energies = np.abs(np.random.default_rng(0).standard_normal((215, 48))) * 1e5
    t = 0.4 * 4000 / 128  # the time constant in frames
    b = (np.sqrt(1 + 4 * t**2) - 1) / (2 * t**2)
    zi = scipy.signal.lfilter_zi([b], [1, b - 1])[0] * energies[0][:, None]
    expected = librosa.pcen(energies.T, sr=4000, hop_length=128, zi=zi).T
    np.testing.assert_allclose(pcen(energies, frames_per_second=4000 / 128), expected,
                               atol=1e-9)
    cfg = dataclasses.replace(hs.DEFAULT.scaled(4), cepstrum=False, log="pcen")
    x = hs.preprocess(heart_like(7.0, 4000), 4000, cfg)
    m = hs.feature_map(x, cfg)
    assert m.shape == (215, 48) and np.all(np.isfinite(m)) and m.min() >= 0
    # A 20-dB gain changes the level the smoother follows and the map by a few per cent (a
    # log-mel map would move by 20 dB everywhere).
    np.testing.assert_allclose(hs.feature_map(10 * x, cfg), m, rtol=0.05, atol=0.01)


def test_later_fields_leave_older_configs_alone():
    # A front-end field added after models shipped is not written while at its default, so
    # the configs (and fingerprints) stored in older models and run folders stay their own.
    for cfg in (hs.DEFAULT, hs.DEFAULT.scaled(4)):
        assert "cepstrum" not in cfg.to_dict()
        assert FrontEndConfig.from_dict(cfg.to_dict()) == cfg


def test_cache_keyed_by_content_and_config(make_wav, tmp_path, monkeypatch):
    path = make_wav("a.wav", heart_like(3.0, 4000), 4000)
    cache = tmp_path / "cache"
    first = cached_features(path, cache_dir=cache)
    calls = []
    module = sys.modules["heartsound.features"]  # the package attribute is the function
    monkeypatch.setattr(module, "features", lambda *a: calls.append(a))
    np.testing.assert_array_equal(cached_features(path, cache_dir=cache), first)
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(cached_features(copy, cache_dir=cache), first)
    assert calls == []  # both served from the cache
    monkeypatch.undo()
    other = cached_features(path, hs.DEFAULT.scaled(2), cache_dir=cache)
    assert other.shape == (434, 20)
    sf.write(str(path), heart_like(3.0, 4000, seed=5), 4000)
    assert not np.array_equal(cached_features(path, cache_dir=cache), first)


def test_real_pascal_recordings(data_dir):
    for name in ("set_a/Aunlabelledtest__201106120928.wav",  # peaks near -71 dBFS
                 "set_b/extrastole__127_1306764300147_C2.wav"):
        feats = hs.features(data_dir / name)
        assert feats.shape == (872, 20) and np.all(np.isfinite(feats))


def test_stored_bandpass_designs_are_scipys():
    # The predict path designs no filter: the shipped front end's sections and initial
    # conditions are stored, and must be scipy's: the sections bit for bit, the initial
    # conditions (a linear solve: LAPACK's kernels differ by CPU) to a few ulps.
    assert (20.0, 1800.0, 4000, 4) in audio._STORED_DESIGNS
    for (low, high, rate, order), (sos, zi) in audio._STORED_DESIGNS.items():
        ref = scipy.signal.butter(order, [low, high], btype="bandpass", fs=rate, output="sos")
        np.testing.assert_array_equal(np.array(sos), ref)
        np.testing.assert_allclose(np.array(zi), scipy.signal.sosfilt_zi(ref),
                                   rtol=1e-13, atol=1e-14)
        np.testing.assert_array_equal(audio.bandpass_sos(low, high, rate, order), ref)
        np.testing.assert_array_equal(audio._sos_zi(low, high, rate, order), np.array(zi))
    # Other configurations are designed by scipy.signal.
    ref = scipy.signal.butter(2, [50.0, 900.0], btype="bandpass", fs=4000, output="sos")
    np.testing.assert_array_equal(audio.bandpass_sos(50.0, 900.0, 4000, 2), ref)


def _assert_sosfiltfilt(x, cfg=None):
    cfg = cfg or hs.DEFAULT
    sos = audio.bandpass_sos(cfg.band_low_hz, cfg.band_high_hz, cfg.sample_rate,
                             cfg.filter_order)
    ref = scipy.signal.sosfiltfilt(sos, x)
    ours = audio.bandpass(x, cfg)
    assert ours.shape == ref.shape and ours.dtype == np.float64
    # float64 rounding: both are ~1e-14 of the peak from the exact result
    assert np.abs(ours - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize("n", [28, 29, 47, 48, 1000, 30_000, 30_720 - 54, 30_720 - 53,
                               61_440 - 54, 100_003, 240_000])
def test_numpy_sosfiltfilt_matches_scipy_on_noise(n):
    # Lengths around the block (48) and piece (30,720 samples, padded input) boundaries.
    rng = np.random.default_rng(n)
    _assert_sosfiltfilt(rng.standard_normal(n))
    _assert_sosfiltfilt((0.3 + 0.01 * rng.standard_normal(n)).astype(np.float32))  # DC offset


@pytest.mark.parametrize("low, high, order", [(50.0, 900.0, 2), (25.0, 400.0, 6),
                                              (20.0, 1800.0, 1)])
def test_numpy_sosfiltfilt_matches_scipy_for_other_designs(low, high, order):
    cfg = dataclasses.replace(hs.DEFAULT, band_low_hz=low, band_high_hz=high,
                              filter_order=order)
    _assert_sosfiltfilt(np.random.default_rng(order).standard_normal(30_000), cfg)


def test_bandpass_too_short_input_raises():
    with pytest.raises(ValueError, match="padlen"):
        audio.bandpass(np.ones(27))


def test_numpy_sosfiltfilt_matches_scipy_on_pascal(data_dir):
    pieces = []
    for name in ("set_a/Aunlabelledtest__201106120928.wav",
                 "set_b/extrastole__127_1306764300147_C2.wav",
                 "set_b/normal_noisynormal_258_1309352253234_A.wav"):  # the longest, 27.9 s
        x, rate = audio.load(data_dir / name)
        x = audio.resample(x, rate, 4000)
        pieces.append(x)
        _assert_sosfiltfilt(x[:30_000])  # what preprocess filters: 7.5 s
        _assert_sosfiltfilt(x)
    whole = np.concatenate(pieces * 3)[:240_000]  # 60 s: the whole-recording maximum
    assert whole.size == 240_000
    _assert_sosfiltfilt(whole)


@pytest.mark.parametrize("frame_length, n_fft", [(128, 128), (100, 128), (255, 256), (2, 2),
                                                 (512, 512)])
def test_hann_window_is_scipys_without_scipy_signal(frame_length, n_fft):
    from heartsound.features import _window

    w = _window.__wrapped__("hann", frame_length, n_fft)
    ref = scipy.signal.get_window("hann", frame_length, fftbins=True)
    left = (n_fft - frame_length) // 2
    np.testing.assert_allclose(w[left:left + frame_length], ref, rtol=0, atol=1e-15)
    assert w.size == n_fft and not w[:left].any() and not w[left + frame_length:].any()
    other = _window.__wrapped__("hamming", frame_length, n_fft)  # other names: scipy's
    np.testing.assert_array_equal(other[left:left + frame_length],
                                  scipy.signal.get_window("hamming", frame_length))


def test_a_2khz_front_end_keeps_the_map_in_time():
    """at_rate(2000): the same frames in time (count and durations), the band-pass below the
    new Nyquist, mel bands to 1 kHz; a 2-kHz recording is read without resampling and a
    4-kHz one is resampled to it; frames that do not scale to whole samples are refused."""
    import dataclasses

    import pytest

    from heartsound.config import at_rate, front_end
    from heartsound.features import feature_map
    from heartsound.synthetic import heart_like

    four, two = front_end(4), front_end(4, sample_rate=2000)
    assert two.n_frames == four.n_frames == 215 and two.n_samples == 14000
    assert (two.frame_length, two.hop_length, two.n_fft) == (256, 64, 256)
    assert two.band_high_hz == 900.0 and two.fmax_hz == 1000.0
    assert at_rate(four, 4000) is four and two.fingerprint() != four.fingerprint()
    x2 = heart_like(8.0, 2000)
    m = feature_map(hs.preprocess(x2, 2000, two), two)
    assert m.shape == (215, 20) and np.isfinite(m).all()
    m4 = feature_map(hs.preprocess(heart_like(8.0, 4000), 4000, two), two)
    assert m4.shape == (215, 20)
    with pytest.raises(ValueError, match="whole samples"):
        at_rate(dataclasses.replace(four, hop_length=127), 2000)


def test_summary_names_a_dynamic_range_other_than_librosas():
    """``heartsound models`` shows a front end's dynamic range only where it is not 80 dB."""
    import dataclasses

    from heartsound.config import DEFAULT, front_end

    assert "dB" not in DEFAULT.summary
    assert front_end(4, top_db=40.0).summary.endswith(", clipped 40 dB below its peak)")
    assert "no dynamic-range clip" in dataclasses.replace(DEFAULT, top_db=None).summary


def test_a_whole_recording_models_summary_names_its_windows():
    """``heartsound models`` says what a model reads: the first 7 s, or windows averaged."""
    from heartsound.config import DEFAULT
    from heartsound.infer import Classifier, describe_models
    from heartsound.registry import resolve_model

    assert DEFAULT.describe() == DEFAULT.summary and "the first 7 s" in DEFAULT.summary
    assert "map of 7-s windows every 3 s, averaged (" in DEFAULT.describe(3.0)
    for m in describe_models():
        clf = Classifier(m["path"])
        assert m["front_end"] == clf.config.describe(clf.window_hop_s)
        assert ("the first 7 s" in m["front_end"]) == (clf.window_hop_s is None)
    # set B's and PhysioNet's shipped models read the whole recording, 3 and 0.544 s apart
    # (train.IMPROVED[...].window_hop_s: the runtime does not import training)
    assert Classifier(resolve_model("pascal-b-light")).window_hop_s == 3.0
    for name in ("physionet-light", "physionet-light-int8", "physionet-light-audio"):
        assert Classifier(resolve_model(name)).window_hop_s == 0.544
