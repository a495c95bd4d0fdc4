"""Plant realistic one-line bugs, one at a time, and check that the unit tests catch each of them.

    .venv/bin/python tools/mutation_check.py            # every mutant, about 1-2.5 minutes on 2 cores
    .venv/bin/python tools/mutation_check.py --only centroid-yx --keep

The repository's ``src/``, ``tests/``, ``pyproject.toml`` and the files the chosen tests read
(``resources/tracker/``) are copied to a temporary folder; the checkout itself is never touched.
Each mutant is one exact snippet of one file and its replacement; a snippet that is not found
exactly once, or a replacement that leaves the file uncompilable, stops the check before anything
runs, so a refactoring cannot leave a mutant silently testing nothing.  First the union of the
mutants' test files runs on the unchanged copy (they must pass, or "caught" would mean nothing);
then, per mutant, its test files run with
``pytest -x -q`` in a subprocess with the copy's ``src`` on ``PYTHONPATH``.  A table (bug, tests
run, caught, first failing test, seconds) is printed; the exit status is 1 when a mutant
survives or times out, 2 when the check itself cannot run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Paths (relative to the repository) the copy needs: the package, the tests and pytest's settings,
#: and the tracker configuration tests/unit/test_track.py and test_measure.py load.
COPIED = ("src", "tests", "pyproject.toml", "resources/tracker")
#: Seconds one pytest run may take before the mutant counts as not caught.
TIMEOUT_S = 600


def stop(message: str) -> None:
    """Print ``message`` to stderr and exit with status 2: the check itself cannot run."""
    print(message, file=sys.stderr)
    sys.exit(2)


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``original`` (exactly once in ``path``) becomes ``replacement``; ``tests`` catch it."""

    name: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    why: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "batch-off-by-one", "src/cellpipe/steps/normalize.py",
        "stop = min(start + FRAMES_PER_BATCH, n_frames)",
        "stop = min(start + FRAMES_PER_BATCH - 1, n_frames)",
        ("tests/unit/test_steps_normalize.py",),
        "normalize_movie leaves the last frame of every batch unwritten (zeros)",
    ),
    Mutant(
        "centroid-yx", "src/cellpipe/measure/cells.py",
        '"centroid_y_um": props["centroid-0"] * pixel_size_um,',
        '"centroid_y_um": props["centroid-1"] * pixel_size_um,',
        ("tests/unit/test_measure.py",),
        "the y centroid is read from the column (x) axis",
    ),
    Mutant(
        "division-distance-um-px", "src/cellpipe/track/divisions.py",
        "children = _children_of(parent_of, order)\n    max_distance_px = settings.division_max_distance_um / pixel_size_um",
        "children = _children_of(parent_of, order)\n    max_distance_px = settings.division_max_distance_um * pixel_size_um",
        ("tests/unit/test_track.py",),
        "the division check's distance limit (µm) is multiplied by the pixel size instead of divided",
    ),
    Mutant(
        "division-size-upper", "src/cellpipe/track/divisions.py",
        "return bool(settings.division_min_area_fraction <= ratio <= settings.division_max_area_fraction)",
        "return bool(settings.division_min_area_fraction <= ratio)",
        ("tests/unit/test_track.py",),
        "a daughter larger than division_max_area_fraction of her mother passes the size check",
    ),
    Mutant(
        "inherited-division-unchecked", "src/cellpipe/track/divisions.py",
        "                children[mother] = grandchildren\n                pending.append(mother)\n",
        "                children[mother] = grandchildren\n",
        ("tests/unit/test_track.py",),
        "the division a mother inherits from the single child joined to her is kept without being checked",
    ),
    Mutant(
        "mask-seed-window", "src/cellpipe/masks.py",
        "for wy in range(max(y - 2, 0), min(y + 3, hy)):",
        "for wy in range(max(y - 1, 0), min(y + 2, hy)):",
        ("tests/unit/test_masks.py",),
        "a mask's seed is a peak of 3 rows of end-point bins, not Cellpose's 5",
    ),
    Mutant(
        "last-frame-dropped", "src/cellpipe/measure/cells.py",
        "    for t in range(n_frames):",
        "    for t in range(n_frames - 1):",
        ("tests/unit/test_measure.py",),
        "measure_cells never measures the movie's last frame",
    ),
    Mutant(
        "duration-in-frames", "src/cellpipe/measure/tracks.py",
        'summary["duration_min"] = (summary["last_frame"] - summary["first_frame"]) * float(frame_interval_min)',
        'summary["duration_min"] = (summary["last_frame"] - summary["first_frame"]) * 1.0',
        ("tests/unit/test_measure.py",),
        "track durations in frames where minutes are meant (speeds follow)",
    ),
    Mutant(
        "high-percentile-symmetric", "src/cellpipe/normalize.py",
        "low, high = np.percentile(values, q)",
        "low, high = np.percentile(values, (q[0], 100.0 - q[0]))",
        ("tests/unit/test_normalize.py",),
        "the high percentile is taken as 100 - low instead of the configured one",
    ),
    Mutant(
        "napari-yx", "src/cellpipe/export.py",
        '"y": tracks["y_px"].to_numpy(np.float64),',
        '"y": tracks["x_px"].to_numpy(np.float64),',
        ("tests/unit/test_export.py",),
        "the napari Tracks layer gets x as its y coordinate",
    ),
    Mutant(
        "geff-yx", "src/cellpipe/export.py",
        '"y": table["y_px"].to_numpy(np.float64) * float(pixel_size_um),',
        '"y": table["x_px"].to_numpy(np.float64) * float(pixel_size_um),',
        ("tests/unit/test_io_geff.py",),
        "the geff graph's y axis holds x positions",
    ),
    Mutant(
        "speed-per-second", "src/cellpipe/measure/tracks.py",
        'summary["mean_speed_um_per_min"] = summary["path_length_um"] / duration',
        'summary["mean_speed_um_per_min"] = summary["path_length_um"] / (duration * 60.0)',
        ("tests/unit/test_measure.py",),
        "mean speed in µm/s under a µm/min column",
    ),
    Mutant(
        "report-area-px", "src/cellpipe/report/sections.py",
        'areas = d.cells["area_um2"].to_numpy(dtype=float) if n_cells else np.zeros(0)',
        'areas = d.cells["area_px"].to_numpy(dtype=float) if n_cells else np.zeros(0)',
        ("tests/unit/report/test_report_sample.py",),
        "the report's area histogram plots pixels where µm² are labelled",
    ),
)


def copy_repository(destination: Path) -> None:
    """Copy :data:`COPIED` to ``destination``, without byte-code or pytest caches.

    Byte-code must not travel: a mutant of the same length written within the same second as its
    original could otherwise be served from a stale ``.pyc`` (its stamp is mtime in seconds and size).
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for relative in COPIED:
        source = REPO / relative
        if source.is_dir():
            shutil.copytree(source, destination / relative, ignore=ignore)
        else:
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / relative)


def check_mutants(mutants: tuple[Mutant, ...]) -> None:
    """Stop (exit 2) unless every mutant's original occurs exactly once in its file, the file still compiles with
    the replacement (a syntax error would fail the tests at import and count as caught), and its tests exist."""
    problems = []
    for mutant in mutants:
        if not (REPO / mutant.path).is_file():
            problems.append(f"{mutant.name}: no file {mutant.path}")
            continue
        text = (REPO / mutant.path).read_text(encoding="utf-8")
        found = text.count(mutant.original)
        if found != 1:
            problems.append(f"{mutant.name}: {mutant.original!r} occurs {found} times in {mutant.path}, not once")
        if mutant.original == mutant.replacement:
            problems.append(f"{mutant.name}: the replacement changes nothing")
        elif found == 1 and mutant.path.endswith(".py"):
            try:
                compile(text.replace(mutant.original, mutant.replacement, 1), mutant.path, "exec")
            except SyntaxError as exc:
                problems.append(f"{mutant.name}: {mutant.path} does not compile with the replacement ({exc.msg}, line {exc.lineno})")
        problems += [f"{mutant.name}: no test file {t}" for t in mutant.tests if not (REPO / t).is_file()]
    if problems:
        stop("mutation check cannot run:\n  " + "\n  ".join(problems))


def environment(copy: Path) -> dict[str, str]:
    """The environment of every pytest run: only the copy's ``src`` on the path, no byte-code written."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def check_import_location(python: str, copy: Path) -> None:
    """Stop (exit 2) unless ``cellpipe`` imports from the copy (an installed one would hide every mutant)."""
    found = subprocess.run(
        [python, "-c", "import cellpipe; print(cellpipe.__file__)"], cwd=copy, env=environment(copy),
        capture_output=True, text=True, check=False,
    )
    location = Path(found.stdout.strip() or "?").resolve()
    if found.returncode != 0 or copy.resolve() not in location.parents:
        stop(f"mutation check cannot run: cellpipe imports from {location}, not from the copy {copy}\n{found.stderr}")


def run_pytest(python: str, copy: Path, tests: tuple[str, ...]) -> tuple[int | None, str, float]:
    """(exit status or None on timeout, output, seconds) of ``pytest -x -q`` on ``tests`` in ``copy``."""
    command = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    start = time.monotonic()
    try:
        result = subprocess.run(
            command, cwd=copy, env=environment(copy), capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout if isinstance(expired.stdout, str) else ""
        return None, output, time.monotonic() - start
    return result.returncode, result.stdout + result.stderr, time.monotonic() - start


def first_failure(output: str) -> str:
    """The first ``FAILED``/``ERROR`` test id of a pytest summary, without its message."""
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
    return match.group(1).split("/")[-1] if match else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutants only (names as in the table)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs pytest (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print where it is")
    args = parser.parse_args()

    mutants = MUTANTS
    if args.only:
        unknown = set(args.only) - {m.name for m in MUTANTS}
        if unknown:
            stop(f"unknown mutant(s) {sorted(unknown)}; known: {[m.name for m in MUTANTS]}")
        mutants = tuple(m for m in MUTANTS if m.name in args.only)
    check_mutants(mutants)

    workdir = Path(tempfile.mkdtemp(prefix="cellpipe-mutation-"))
    started = time.monotonic()
    try:
        copy_repository(workdir)
        check_import_location(args.python, workdir)
        baseline = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
        status, output, seconds = run_pytest(args.python, workdir, baseline)
        if status != 0:
            print(output[-6000:])
            stop(f"mutation check cannot run: the unchanged tests do not pass ({' '.join(baseline)}, exit {status})")
        print(f"baseline: {len(baseline)} test file(s) pass unchanged in {seconds:.1f} s")

        rows = []
        for mutant in mutants:
            target = workdir / mutant.path
            pristine = target.read_text(encoding="utf-8")
            target.write_text(pristine.replace(mutant.original, mutant.replacement, 1), encoding="utf-8")
            try:
                status, output, seconds = run_pytest(args.python, workdir, mutant.tests)
            finally:
                target.write_text(pristine, encoding="utf-8")
            # 1: a test failed; 2: collection or import failed. Both show the bug. 0: it survived;
            # 5 (nothing collected) or a timeout: the check tells nothing, so it counts as not caught.
            caught = status in (1, 2)
            verdict = "yes" if caught else ("timeout" if status is None else "no" if status == 0 else f"no (exit {status})")
            rows.append((mutant, verdict, first_failure(output) if caught else "-", seconds))
    finally:
        if args.keep:
            print(f"copy kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("| bug | file | tests run | caught | first failing test | seconds |")
    print("|---|---|---|---|---|---|")
    for mutant, verdict, failure, seconds in rows:
        tests = " ".join(Path(t).name for t in mutant.tests)
        print(f"| {mutant.name}: {mutant.why} | {mutant.path} | {tests} | {verdict} | {failure} | {seconds:.1f} |")
    survivors = [m.name for m, verdict, _, _ in rows if verdict != "yes"]
    print(f"\n{len(rows) - len(survivors)} of {len(rows)} planted bugs caught in {time.monotonic() - started:.0f} s"
          + (f"; not caught: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
