"""Shared fixtures: paths of the repository and helpers to run snakemake as a user would."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml


def _cellpose_major() -> int | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("cellpose").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return None


# Cellpose 3 and Cellpose 4 cannot share an environment: tests/sam runs in the Cellpose-SAM one
# (.venv-sam; `make test` runs both), everything else in the main one.
collect_ignore = ["unit", "workflow", "napari"] if _cellpose_major() == 4 else ["sam"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SITE_HOOKS = Path(__file__).resolve().parent / "site_hooks"  # sitecustomize.py of every Python the tests start
BIN = Path(sys.executable).parent


NUMBA_CACHE: Path | None = None
"""This session's numba cache folder (NUMBA_CACHE_DIR of the processes the tests start), removed at its end."""

CELLPIPE_CACHE: Path | None = None
"""This session's cellpipe cache folder (CELLPIPE_CACHE_DIR of the tests and every process they start, so no test
writes to the user's ~/.cache), removed at its end."""


def pytest_configure(config: pytest.Config) -> None:
    # CELLPIPE_REQUIRE_ALL=1 (make test) or CI=true: every skip off the allow-list is a failure with its reason (tests/require_all.py)
    if not config.pluginmanager.has_plugin("require_all"):
        config.pluginmanager.import_plugin("require_all")
    # A folder of this session's own, so the first process of the session compiles (as on a clean clone) and
    # none reads machine code another session left behind.
    global NUMBA_CACHE, CELLPIPE_CACHE
    NUMBA_CACHE = Path(tempfile.mkdtemp(prefix="cellpipe-tests-numba-"))
    CELLPIPE_CACHE = Path(tempfile.mkdtemp(prefix="cellpipe-tests-cache-"))
    os.environ["CELLPIPE_CACHE_DIR"] = str(CELLPIPE_CACHE)


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in (NUMBA_CACHE, CELLPIPE_CACHE):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with the reason when this checkout has no ../shared beside it."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"{data} not found: the real-data checks need ../shared beside the checkout")
    return data


def snakemake_env(block_network: bool = True) -> dict[str, str]:
    """Environment for a snakemake subprocess: the venv's tools first, sockets blocked in every Python.

    With sockets blocked (tests/site_hooks on PYTHONPATH), the numba functions that Cellpose and traccuracy
    compile at import are compiled once per test session and loaded from this session's cache by every later
    job (``NUMBA_CACHE_DIR``, tests/site_hooks/numba_cache.py)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if block_network:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE_HOOKS), env.get("PYTHONPATH", "")]))
        env["CELLPIPE_BLOCK_NETWORK"] = "1"
        if NUMBA_CACHE is not None:
            env["NUMBA_CACHE_DIR"] = str(NUMBA_CACHE)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def write_workdir(workdir: Path, config: dict, samples_tsv: str) -> Path:
    """Lay out config/config.yaml and config/samples.tsv in ``workdir`` as a user would."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "config" / "samples.tsv").write_text(samples_tsv)
    return workdir


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line that runs the repository's Snakefile in ``workdir`` (``--directory``) on 2 cores."""
    return [
        str(BIN / "snakemake"),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--cores", "2",
        "--resources", "gpu=1",
        "--show-failed-logs",
        *args,
    ]


def run_snakemake(
    workdir: Path, *args: str, block_network: bool = True, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the repository's Snakefile in ``workdir`` (``--directory``), returning the finished process.

    ``env``: variables added to the environment of snakemake and its jobs."""
    return subprocess.run(
        snakemake_command(workdir, *args), cwd=workdir, env={**snakemake_env(block_network), **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )


def dividing_movie(n_frames: int):
    """A simulated 96x96 px movie (seed 2) with at least one division and a cell entering from the border."""
    from cellpipe.simulate import make_nuclei_movie

    movie = make_nuclei_movie(n_frames=n_frames, shape=(96, 96), seed=2, division_probability=0.15,
                              min_division_age_frames=2, maturation_frames=2, entry_rate=0.3)
    assert movie.n_divisions >= 1
    return movie


@pytest.fixture(scope="session")
def six_nuclei_frames():
    """3 simulated frames of 96 x 112 px (6 nuclei of 9 px semi-major axis), normalized, and the pixel size (µm)."""
    import numpy as np

    from cellpipe.config import NormalizeSettings
    from cellpipe.normalize import normalize_movie
    from cellpipe.simulate import make_nuclei_movie

    movie = make_nuclei_movie(n_frames=3, shape=(96, 112), seed=4, nucleus_radius_px=9.0, n_cells=6)
    return np.asarray(normalize_movie(movie.image[:, np.newaxis], NormalizeSettings())[0])[:, 0], movie.pixel_size_um


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def finished_pid() -> int:
    """The process id of a process that has ended (a short Python run to its end)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


@pytest.fixture()
def sleeper():
    """A live process other than this one (another run), killed after the test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


# The tiny simulated movie of the whole-workflow tests: 12 frames of 96 rows by 160 columns (a position with y and
# x swapped, or a label image transposed, lands outside the frame).  Its one uninterrupted run,
# tiny_reference_run, is what tests/workflow/test_workflow.py checks, what tests/cluster/test_slurm.py's SLURM run
# must equal and what tests/workflow/test_interruptions.py's killed and resumed run must equal byte for byte.
TINY = {"n_frames": 12, "shape": [96, 160], "n_cells": 6, "seed": 5, "pixel_size_um": 0.65, "frame_interval_min": 5.0}
TINY_SAMPLES_TSV = "sample\tmovie\tground_truth\ntiny\tresults/simulated/tiny/movie.ome.tif\tresults/simulated/tiny/01_GT\n"

# A 160 x 160 px movie for the SLURM retry test (tests/cluster/test_slurm_retries.py), whose run is compared with
# no other.
TINY_160 = {"n_frames": 12, "shape": [160, 160], "n_cells": 7, "seed": 3}
TINY_160_SAMPLES_TSV = TINY_SAMPLES_TSV


def tiny_reference_config() -> dict:
    """The default config with the :data:`TINY` movie, segmented on the CPU: the runs compared with
    tiny_reference_run are compared table for table (test_interruptions: byte for byte), and on a GPU
    cuDNN does not promise equal masks from run to run (README, "Provenance and replay")."""
    config = default_config()
    config["simulate"] = {"tiny": dict(TINY)}
    config["segment"]["cellpose"]["device"] = "cpu"
    return config


@pytest.fixture(scope="session")
def tiny_reference_run(tmp_path_factory) -> Path:
    """The workflow on :func:`tiny_reference_config` as the README says to run it (``--profile
    profiles/workstation``, here on 2 cores), never interrupted, with ``PYTHONHASHSEED=1``, sockets blocked in
    every process it starts: one run per test session.  Its ``results/`` is read, never written, by
    test_workflow.py's checks of the outputs (whose replay test writes ``results-replay/`` beside it), by the
    SLURM test (the results of the SLURM run must equal these) and by test_interruptions (a killed and resumed
    run must equal these byte for byte)."""
    workdir = write_workdir(tmp_path_factory.mktemp("tiny_reference"), tiny_reference_config(), TINY_SAMPLES_TSV)
    proc = subprocess.run(
        snakemake_command(workdir, "--profile", str(REPO / "profiles" / "workstation")), cwd=workdir,
        env={**snakemake_env(True), "PYTHONHASHSEED": "1"}, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def _die_with_parent() -> None:
    """In the Xvfb child: get SIGTERM when the test process ends, however it ends (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture(scope="module")
def xvfb(tmp_path_factory) -> Iterator[str]:
    """DISPLAY of an Xvfb server (Qt's xcb platform) for the tests of one module that open a napari viewer.

    The server is not stopped after them: Qt exits the whole process when its X connection breaks, and
    napari's QApplication outlives the viewers; it gets SIGTERM when the test process ends.  DISPLAY
    and QT_QPA_PLATFORM are put back for the tests that follow.
    """
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb not found: install Debian's xvfb (tools/install_system_deps.sh, run by make setup)"
    log = tmp_path_factory.mktemp("xvfb") / "xvfb.log"
    read_fd, write_fd = os.pipe()
    with log.open("wb") as err:
        proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                                pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=_die_with_parent)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        raise RuntimeError(f"Xvfb did not start: {log.read_text()[-2000:]}")
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM")}
    os.environ["DISPLAY"] = f":{number}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    yield os.environ["DISPLAY"]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def viewer(xvfb: str):
    """A shown napari viewer on the ``xvfb`` display, closed after the test (tests/napari, tests/workflow)."""
    import napari

    v = napari.Viewer(show=True)
    try:
        yield v
    finally:
        v.close()
