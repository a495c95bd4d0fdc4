"""Make sure btrack's C++ tracker library loads in this Python environment.

Usage (the Makefile runs it with the virtual environment's interpreter)::

    .venv/bin/python tools/ensure_btrack.py [--force]

btrack 0.7.0 ships a prebuilt ``btrack/libs/libtracker.so`` linked against a
newer libstdc++ (GLIBCXX_3.4.32, GCC 13) than some distributions provide
(Debian 12 has 3.4.30), so ``btrack.BayesianTracker()`` cannot load it there.
The wheel also ships the library's C++ sources (``btrack/src/*.cc``,
``btrack/include/*.h``), so this script:

1. checks, in a separate interpreter, whether the installed library loads and a
   tracker can be created; if so it reports that and exits 0 (a machine where
   the shipped library works keeps it);
2. otherwise compiles those sources with the system C++ compiler against the
   Eigen 3 headers, keeps the shipped library as ``libtracker.so.orig``, puts
   the new one in its place and checks again in a separate interpreter.

It exits non-zero with a message saying what to do when the compiler or the
Eigen headers are missing or the rebuild does not load.  It never imports
``btrack`` itself (a failed load would poison this process) and never touches
the network.

Environment variables: ``CXX`` (compiler, default ``g++``) and
``EIGEN_INCLUDE_DIR`` (a directory holding ``Eigen/Dense``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Run in a fresh interpreter: load the library the way btrack does (plain
# dlopen via ctypes); with "full", also let btrack (which loads its installed
# library) create and free one tracker engine.
CHECK_SCRIPT = r"""
import ctypes, logging, sys
logging.disable(logging.CRITICAL)
lib = ctypes.CDLL(sys.argv[1])
lib.new_interface  # the entry point btrack calls first
if sys.argv[2] == "full":
    import btrack
    with btrack.BayesianTracker(verbose=False):
        pass
"""

EIGEN_CANDIDATES = (
    "/usr/include/eigen3",
    "/usr/local/include/eigen3",
    "/opt/homebrew/include/eigen3",
)

CXXFLAGS = (
    "-O3",
    "-std=c++17",
    "-fPIC",
    # What the sources leave for the build to decide (include/defs.h): no debug
    # printing, the default (relaxed) tracklet linking; BUILD_SHARED_LIB only
    # matters for the Windows export macros in src/interface.cc.
    "-DDEBUG=0",
    "-DSTRICT_TRACKLET_LINKING=0",
    "-DBUILD_SHARED_LIB",
    "-w",
)


def log(message: str) -> None:
    """Write one progress line (this is a command-line tool: stdout is its interface)."""
    sys.stdout.write(f"ensure_btrack: {message}\n")
    sys.stdout.flush()


def fail(message: str) -> int:
    """Write an error line to stderr and return the exit status to use."""
    sys.stderr.write(f"ensure_btrack: ERROR: {message}\n")
    return 1


def btrack_dir() -> Path | None:
    """The installed btrack package directory, found without importing btrack."""
    spec = importlib.util.find_spec("btrack")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def library_path(pkg: Path) -> Path:
    """The tracker library btrack loads on this platform."""
    ext = {"Linux": ".so", "Darwin": ".dylib", "Windows": ".DLL"}.get(platform.system(), ".so")
    return pkg / "libs" / f"libtracker{ext}"


def check_library(lib: Path, full: bool = True) -> tuple[bool, str]:
    """Load ``lib`` in a separate interpreter; return (ok, error text).

    ``full`` also creates a tracker through btrack, which loads the library
    installed in the package, so use it only for that one.
    """
    proc = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT, str(lib), "full" if full else "load"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode == 0:
        return True, ""
    lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
    return False, lines[-1] if lines else f"exit status {proc.returncode}"


def find_eigen() -> Path | None:
    """A directory containing ``Eigen/Dense``: $EIGEN_INCLUDE_DIR, conda, or the usual system places."""
    candidates = [os.environ.get("EIGEN_INCLUDE_DIR", "")]
    if os.environ.get("CONDA_PREFIX"):
        candidates.append(str(Path(os.environ["CONDA_PREFIX"]) / "include" / "eigen3"))
    candidates.extend(EIGEN_CANDIDATES)
    for cand in candidates:
        if cand and (Path(cand) / "Eigen" / "Dense").is_file():
            return Path(cand)
    return None


def run_command(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a build command; return (exit status, combined output)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def build_library(pkg: Path, eigen: Path, cxx: str, out: Path, workdir: Path) -> str | None:
    """Compile btrack's C++ sources into the shared library ``out``; return an error text or None."""
    sources = sorted((pkg / "src").glob("*.cc"))  # belief.cu is the optional CUDA kernel: skipped
    if not sources:
        return f"no C++ sources in {pkg / 'src'}; this btrack build does not ship them"
    # The sources include "eigen/Eigen/Dense" (a vendored copy in btrack's repository):
    # give them that path pointing at the system headers.
    shim = workdir / "include"
    shim.mkdir()
    (shim / "eigen").symlink_to(eigen, target_is_directory=True)
    includes = ["-I", str(pkg / "include"), "-I", str(shim)]

    # The sources embed __DATE__/__TIME__; pin them to the sources' age so that
    # rebuilding the same btrack gives the same library.
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(int(max(s.stat().st_mtime for s in sources))))

    def compile_one(src: Path) -> tuple[Path, int, str]:
        obj = workdir / f"{src.stem}.o"
        # the temporary folder's name would otherwise end up in assertion messages
        prefix_map = f"-ffile-prefix-map={workdir}=btrack-build"
        rc, text = run_command([cxx, *CXXFLAGS, prefix_map, *includes, "-c", str(src), "-o", str(obj)], env)
        return src, rc, text

    jobs = max(1, min(len(sources), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(compile_one, sources))
    for src, rc, text in results:
        if rc != 0:
            return f"compiling {src.name} failed:\n{text[-3000:]}"
    link = [cxx, "-shared", "-o", str(out), *(str(workdir / f"{s.stem}.o") for s in sources)]
    if platform.system() == "Darwin":
        link.insert(1, "-dynamiclib")
    rc, text = run_command(link)
    if rc != 0:
        return f"linking failed ({shlex.join(link)}):\n{text[-3000:]}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the installed library loads")
    args = parser.parse_args(argv)

    pkg = btrack_dir()
    if pkg is None:
        return fail(f"btrack is not installed for {sys.executable}; install the project first (make setup)")
    lib = library_path(pkg)
    if not lib.is_file():
        return fail(f"{lib} is missing; reinstall btrack")

    ok, err = check_library(lib)
    if ok and not args.force:
        log(f"btrack tracker library loads: {lib}")
        return 0
    if not ok:
        log(f"btrack tracker library does not load ({err}); rebuilding it from the shipped sources")
    else:
        log("--force: rebuilding the tracker library from the shipped sources")

    if platform.system() == "Windows":
        return fail("rebuilding btrack's library is only supported on Linux and macOS")
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        return fail(f"C++ compiler '{cxx}' not found; install one (Debian/Ubuntu: apt-get install g++) or set CXX")
    eigen = find_eigen()
    if eigen is None:
        return fail(
            "Eigen 3 headers not found (looked for Eigen/Dense in $EIGEN_INCLUDE_DIR, "
            f"$CONDA_PREFIX/include/eigen3, {', '.join(EIGEN_CANDIDATES)}); "
            "install them (Debian/Ubuntu: apt-get install libeigen3-dev) or set EIGEN_INCLUDE_DIR"
        )
    if not os.access(lib.parent, os.W_OK):
        return fail(f"{lib.parent} is not writable; run this with the account that owns the environment")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="btrack-build-") as tmp:
        built = Path(tmp) / lib.name
        error = build_library(pkg, eigen, cxx, built, Path(tmp))
        if error is not None:
            return fail(f"rebuilding btrack's tracker library with {cxx} failed: {error}")
        ok_new, err_new = check_library(built, full=False)
        if not ok_new:
            return fail(f"the rebuilt library does not load either: {err_new}")
        backup = lib.with_name(lib.name + ".orig")
        if not backup.exists():  # keep the library the wheel shipped, once
            shutil.copy2(lib, backup)
        staged = lib.with_name(lib.name + ".new")
        shutil.copy2(built, staged)
        os.replace(staged, lib)
    log(f"rebuilt {lib} with {cxx} and Eigen from {eigen} in {time.monotonic() - started:.0f} s")

    ok, err = check_library(lib)
    if not ok:
        return fail(f"the installed rebuilt library does not load: {err}")
    log("btrack tracker library loads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
