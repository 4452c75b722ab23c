"""The package as a user gets it: the wheel carries the models and the example recordings,
installs into a fresh virtual environment without torch, and ``heartsound predict``,
``heartsound models`` and ``heartsound demo`` work there from any folder, with no data."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import soundfile as sf
from conftest import ROOT, heart_like

import heartsound
from heartsound.registry import SHIPPED

EXAMPLES = ROOT / "src" / "heartsound" / "examples"


def clean_env() -> dict[str, str]:
    """The environment without anything that points back into the checkout or its data."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HEARTSOUND_MODELS", "HEARTSOUND_DATA")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_examples_are_small_labelled_physionet_flacs():
    with (EXAMPLES / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert 4 <= len(rows) <= 6
    assert {r["label"] for r in rows} == {"normal", "abnormal"}
    assert len({r["database"] for r in rows}) >= 2
    assert sorted(r["file"] for r in rows) == sorted(p.name for p in EXAMPLES.glob("*.flac"))
    assert sum(p.stat().st_size for p in EXAMPLES.iterdir()) < 1_000_000
    for r in rows:
        info = sf.info(str(EXAMPLES / r["file"]))
        assert info.samplerate == 2000 and info.channels == 1 and 7.5 <= info.duration <= 10.5
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert "Liu" in readme and "Open Data Commons Attribution" in readme
    assert all(r["file"] in readme for r in rows)


def test_demo_without_data_classifies_the_examples(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "heartsound", "demo", "--data",
                           str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "No PASCAL data folder" in proc.stdout and "Traceback" not in proc.stderr
    for name in ("a0001.flac", "b0001.flac", "abnormal", "PASCAL", "murmur"):
        assert name in proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (nothing written into the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "heartsound"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
               str(tmp / "dist"), str(src)]
    try:  # offline: build with this environment's setuptools when it can make wheels itself
        version = tuple(int(x) for x in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        version = (0, 0)
    if version >= (70, 1):
        command.insert(5, "--no-build-isolation")
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    (built,) = (tmp / "dist").glob("*.whl")
    return built


@pytest.mark.slow  # make test-fast leaves it to make test
def test_wheel_carries_models_examples_and_version(wheel):
    assert wheel.name.startswith(f"heartsound-{heartsound.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in SHIPPED:
        assert f"heartsound/models/{model}.onnx" in names
    assert "heartsound/models/README.md" in names
    assert "heartsound/examples/README.md" in names and "heartsound/examples/labels.csv" in names
    assert {f"heartsound/examples/{p.name}" for p in EXAMPLES.glob("*.flac")} <= names
    meta = zipfile.ZipFile(wheel).read(
        f"heartsound-{heartsound.__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {heartsound.__version__}\n" in meta


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with only the wheel and its runtime dependencies."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(env_dir)], check=True,
                   timeout=120)
    # This environment's pip installs into the new one (ensurepip alone takes ~30 s here).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
                    "install", "--quiet", "--no-compile", "--disable-pip-version-check",
                    str(wheel)], check=True, capture_output=True, timeout=900, env=clean_env())
    return env_dir


def run_in(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=clean_env())


@pytest.mark.slow
def test_installed_wheel_predicts_without_torch(venv, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    sf.write(str(work / "x.wav"), heart_like(8.0, 4000), 4000, subtype="PCM_16")
    proc = run_in(venv, work, "python", "-c", "import torch")
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr
    proc = run_in(venv, work, "python", "-c", "import heartsound; print(heartsound.__file__)")
    assert proc.returncode == 0 and Path(proc.stdout.strip()).is_relative_to(venv), proc.stderr

    proc = run_in(venv, work, "heartsound", "predict", "x.wav")
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.strip().splitlines()
    assert header == "path,label,quality,reason,prob_normal,prob_murmur,prob_extrastole"
    assert row.split(",")[0] == "x.wav"
    assert row.split(",")[1] in ("normal", "murmur", "extrastole")

    proc = run_in(venv, work, "heartsound", "--version")
    assert proc.stdout.strip() == f"heartsound {heartsound.__version__}"


@pytest.mark.slow
def test_installed_wheel_lists_its_models_and_demos_without_data(venv, tmp_path):
    proc = run_in(venv, tmp_path, "heartsound", "models", "--json")
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout)
    assert {m["name"] for m in models} == set(SHIPPED)
    for m in models:
        path = Path(m["path"])
        assert path.is_file() and path.is_relative_to(venv) and "site-packages" in path.parts

    proc = run_in(venv, tmp_path, "heartsound", "demo", "--out", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr
    assert "No PASCAL data folder" in proc.stdout and "f0003.flac" in proc.stdout
    assert "study report" not in proc.stdout  # no docs/ beside an installed package
