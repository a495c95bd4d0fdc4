"""Catalogue of bad input (issues #8 and #23): each kind stops the run with ONE line naming the sample, the file
and the problem, before any work is done, leaves no partial output and never touches the user's files.

Checked when the sample sheet is read (``snakemake --dry-run`` already fails, no ``results/`` is created);
the movie and its ground truth are checked from their file headers only (cellpipe.preflight.check_samples ->
cellpipe.io.movies.inspect_movie, cellpipe.ingest.check_shape / resolve_metadata,
cellpipe.io.ground_truth.check_ground_truth_files).  Kind, and what the line says after
``cellpipe: config/samples.tsv line N (sample 'x'):`` (the last three are not about one row and
name the sheet, the config file or the config key instead):

- missing movie file: ``movie not found: data/gone.tif``
- truncated TIFF (failed copy): ``data/cut.ome.tif: truncated or corrupt TIFF``
- text file named .tif: ``data/notes.tif: not a readable TIFF (not a TIFF file ...)``
- single 2-D image: ``data/snapshot.tif: a single 2-D image of 32x32 px, not a movie``
- 6-D array: ``data/hyper.tif: a 6-D array of shape (2, 2, 2, 2, 32, 32)``
- z-stack (T, Z=4, Y, X) with ``ingest.z_projection: none``: ``data/stack.tif: 4 z-planes found; set
  ingest.z_projection in the config to keep, to run every stage in 3-D ..., or to one of max, mean, sum, best_focus``
- CTC frames of different sizes: ``data/sizes: frames of different sizes: t000.tif is 32x32 px, ...``
- CTC gap (t000, t001, t003): ``data/gap: frames tNNN.tif must be numbered 0..2 without gaps``
- CTC folder without frames: ``data/empty: no CTC frames``
- unknown movie format (.png): ``data/movie.png: cannot tell the movie format from the name``
- non-numeric pixel size: ``pixel_size_um: Input should be a valid number``
- negative pixel size: ``pixel_size_um: Input should be greater than 0``
- infinite pixel size: ``pixel_size_um: Input should be a finite number``
- no pixel size anywhere: ``data/bare.tif: no pixel size in the file's metadata``
- frames too small (6x6 px): ``frames of 6x6 px are too small to segment``
- channel names vs channels: ``2 channel names given for 1 channels``
- axes column vs the file: ``axes 'TCYX' do not match the 3-D array``
- duplicate sample names: ``duplicate sample name (first on line 2)``
- sample name "a/b": ``sample: Value error, may only contain letters, digits, '.', '_' and '-' ...``
- sample name "..": ``sample: Value error, may only contain letters, digits, '.', '_' and '-' ...``
- missing ground truth: ``ground_truth not found: data/nogt``
- ground truth frame count (CTC): ``ground_truth data/gt/TRA: tracking markers must cover the movie's 3 frame(s)``
- ground truth frame count (TIFF): ``ground_truth data/gt.tif: a label TIFF must be (T, Y, X) with one plane per movie frame (3)``
- ground truth frame size: ``ground_truth data/gt/TRA/man_track000.tif: mask is 40x32 px but the movie's frames are 32x32 px``
- unknown sample-sheet column: ``cellpipe: config/samples.tsv: unknown column 'pixelsize'``
- unknown config key: ``cellpipe: config/config.yaml: segment.metod: unknown key``
- model path that does not exist: ``cellpipe: config segment.cellpose.model: Cellpose model file models/missing.pth does not exist``

Found by trying the workflow as a new user would (issue #23), same checks:

- ``.inf`` / ``.nan`` / ``true`` for a number anywhere in the config:
  ``segment.diameter_um: Value error, must be a finite number (got inf)``, ``... must be a number, not a boolean``
- ``results: ""`` or ``results: .``: ``results: Value error, is empty, which would put every output at the
  file-system root`` / ``the results folder would be the working folder``
- a sample named like a top-level output (``summary.html``): ``'summary.html' is taken by what the workflow
  writes at the top of the results folder; reserved names: ...``
- a model file that is no PyTorch file, or one without Cellpose weights: ``... is not a PyTorch file`` /
  ``... is a PyTorch file without Cellpose network weights``
- ``segment.channel`` beyond the movie's channels, ``measure.channel_names`` of the wrong length:
  ``config segment.channel is 1 but data/m.ome.tif has 1 channel (0-based: 0)``
- an OME-TIFF holding several positions: ``3 positions (OME images 'A1', 'A2', 'B1') in one file; read them with a 'positions' column
  in its sample sheet row ...`` (stacks appended to one TIFF by tifffile likewise:
  tests/unit/test_io_movies.py)
- the positions a row lists differing in size or length (issue #26): ``its positions differ in size or length
  (positions 0 'A1', 1 'A2': 3 frames, ...; position 2 'B1': 2 frames, ...); to run them anyway, give each position a
  sheet row of its own ...`` (such rows run: tests/unit/test_positions.py)
- an OME length unit or ImageJ time unit cellpipe cannot convert: ``unknown length unit 'furlong'
  (PhysicalSizeXUnit); supported: ...``, ``unknown ImageJ time unit 'fortnight' (tunit); supported: ...``
  (known units, ImageJ's ``hr`` included, are converted: tests/unit/test_io_movies.py)
- an OME-Zarr folder given as a movie: ``an OME-Zarr/Zarr folder: not supported as a movie yet``
- non-square pixels: ``non-square pixels: the file's metadata gives 0.5 µm along x and 1 µm along y``
- a duplicated YAML section: ``key segment appears twice (lines N and M)``
  (``test_a_duplicated_config_section_is_refused``)
- a sheet saved as UTF-16 or Latin-1: ``the sample sheet is UTF-16 ('Unicode text'), not UTF-8`` /
  ``not UTF-8 text (byte 0xe9 at line 3)``; a UTF-8 byte-order mark is read
- not an error but a loud warning, once per start: a sheet pixel size or frame interval more than 5 % from
  the file's (``test_a_sheet_pixel_size_far_from_the_files_is_used_with_one_loud_warning_per_run``)

The other cases of #23 are tested where their mechanism lives: a killed run's lock clean-up and two
working folders on one results folder (tests/workflow/test_concurrent_runs.py), a movie replaced under
an old mtime, and deleted results that must come back (tests/workflow/test_workflow.py), more than
65,535 CTC segments and ``export.ctc: false`` (tests/unit/test_export.py), a full disk
(tests/unit/test_io_atomic.py, on a real 1 MB tmpfs), memory requests from the header
(``test_memory_requests_come_from_the_movies_header``).

Found only inside a job (pixel values are not read at start-up): NaN pixels in a float movie stop
``ingest_movie`` with one line naming the sample and the file, and leave no image behind.

Not an error: an all-zero movie runs through the whole workflow and gives empty but valid tables and a
report that says no cells were found (``test_an_all_zero_movie_gives_empty_tables_and_an_honest_report``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from cellpipe import layout
from cellpipe.io.movies import write_ome_tiff

from conftest import default_config, run_snakemake, write_workdir

pytestmark = pytest.mark.workflow

SHEET = "config/samples.tsv"
HEADER = "sample\tmovie\tpixel_size_um\tframe_interval_min\tground_truth\n"


def tiny_config() -> dict:
    config = default_config()
    config["simulate"] = {}
    return config


def good_movie(workdir: Path, name: str = "m.ome.tif", n_frames: int = 3, shape: tuple[int, int] = (32, 32)) -> str:
    """A valid OME-TIFF movie (pixel size 0.5 µm, frame interval 2 min) under data/; its path in the sheet."""
    data = np.random.default_rng(0).integers(0, 1000, size=(n_frames, *shape), dtype=np.uint16)
    (workdir / "data").mkdir(exist_ok=True)
    write_ome_tiff(workdir / "data" / name, data, pixel_size_um=0.5, frame_interval_min=2.0)
    return f"data/{name}"


def write(workdir: Path, rel: str, array: np.ndarray, **kwargs) -> str:
    path = workdir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, **kwargs)
    return rel


def frames(workdir: Path, folder: str, numbers: list[int], shapes: list[tuple[int, int]] | None = None) -> str:
    """A CTC folder of tNNN.tif frames with the given numbers (and sizes, default 32x32 px)."""
    shapes = shapes or [(32, 32)] * len(numbers)
    for t, shape in zip(numbers, shapes):
        write(workdir, f"{folder}/t{t:03d}.tif", np.full(shape, t + 1, np.uint16))
    (workdir / folder).mkdir(parents=True, exist_ok=True)
    return folder


def ctc_truth(workdir: Path, n_frames: int, shape: tuple[int, int] = (32, 32)) -> str:
    for t in range(n_frames):
        write(workdir, f"data/gt/TRA/man_track{t:03d}.tif", np.zeros(shape, np.uint16))
    (workdir / "data/gt/TRA/man_track.txt").write_text("")
    return "data/gt"


def row(sample: str, movie: str, px: str = "", dt: str = "", gt: str = "") -> str:
    return f"{sample}\t{movie}\t{px}\t{dt}\t{gt}\n"


def cut_short(workdir: Path) -> str:
    movie = good_movie(workdir, "cut.ome.tif")
    path = workdir / movie
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return movie


def text_file(workdir: Path, rel: str, text: str) -> str:
    (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
    (workdir / rel).write_text(text)
    return rel


def torch_file(workdir: Path, rel: str) -> str:
    """A PyTorch state dict of a network that is not Cellpose's, at ``rel``."""
    import torch

    (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"fc.weight": torch.zeros(2, 2), "fc.bias": torch.zeros(2)}, workdir / rel)
    return rel


def segment_config(config: dict, **values: object) -> str:
    """Set ``segment.<key>`` in ``config``; returns "" so it can start a sample sheet expression."""
    config["segment"].update(values)
    return ""


def positions(workdir: Path, rel: str, names: list[str], shapes: list[tuple[int, int, int]] | None = None) -> str:
    """An OME-TIFF holding one (T, Y, X) movie per position (OME Image), as multi-position microscopes write; each
    position of its ``shapes`` (frames, y px, x px), default 3 frames of 32x32 px."""
    path = workdir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path, ome=True) as tif:
        for name, shape in zip(names, shapes or [(3, 32, 32)] * len(names), strict=True):
            tif.write(np.ones(shape, np.uint16),
                      metadata={"axes": "TYX", "Name": name, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    return rel


def ome_with(workdir: Path, rel: str, **meta: object) -> str:
    """A (3, 32, 32) OME-TIFF under ``workdir`` with axes TYX and the given OME Pixels attributes."""
    return write(workdir, rel, np.ones((3, 32, 32), np.uint16), ome=True, metadata={"axes": "TYX", **meta})


def zarr_folder(workdir: Path, rel: str) -> str:
    """A folder that looks like an OME-Zarr image (its .zattrs and .zgroup) but holds none (empty multiscales)."""
    (workdir / rel).mkdir(parents=True)
    (workdir / rel / ".zgroup").write_text('{"zarr_format": 2}')
    (workdir / rel / ".zattrs").write_text('{"multiscales": []}')
    return rel


@dataclass(frozen=True)
class Bad:
    """One kind of bad input: ``make`` lays out the user's files in the working directory and returns the
    sample sheet (and optionally changes the config); the error line must name ``sample`` (None: not about
    one sample), ``file`` and ``problem``."""

    make: Callable[[Path, dict], str]
    sample: str | None
    file: str
    problem: str


CATALOGUE: dict[str, Bad] = {
    "missing-movie": Bad(
        lambda d, c: HEADER + row("gone", "data/gone.tif", "0.5", "2"),
        "gone", "data/gone.tif", "movie not found",
    ),
    "truncated-tiff": Bad(
        lambda d, c: HEADER + row("cut", cut_short(d)),
        "cut", "data/cut.ome.tif", "truncated or corrupt TIFF",
    ),
    "text-file-named-tif": Bad(
        lambda d, c: HEADER + row("notes", text_file(d, "data/notes.tif", "frame 1: ok\nframe 2: ok\n"), "0.5", "2"),
        "notes", "data/notes.tif", "not a readable TIFF (not a TIFF file",
    ),
    # A single 2-D image is refused, as cellpipe.io.movies.to_tcyx always did: a file without a time axis
    # is a snapshot or a wrongly exported movie, and cellpipe does not guess.  A one-frame movie is
    # accepted when the file says so: a (1, Y, X) stack, an OME-TIFF/ImageJ file declaring T of size 1,
    # or a CTC folder holding only t000.tif (tests/unit/test_io_movies.py).
    "single-2d-image": Bad(
        lambda d, c: HEADER + row("snap", write(d, "data/snapshot.tif", np.ones((32, 32), np.uint16)), "0.5", "2"),
        "snap", "data/snapshot.tif", "a single 2-D image of 32x32 px, not a movie: no time axis",
    ),
    "6d-array": Bad(
        lambda d, c: HEADER + row("hyper", write(d, "data/hyper.tif", np.ones((2, 2, 2, 2, 32, 32), np.uint8)), "0.5", "2"),
        "hyper", "data/hyper.tif", "a 6-D array of shape (2, 2, 2, 2, 32, 32)",
    ),
    "z-stack": Bad(
        lambda d, c: HEADER + row("stack", write(d, "data/stack.tif", np.ones((3, 4, 32, 32), np.uint16), imagej=True,
                                                   metadata={"axes": "TZYX"}), "0.5", "2"),
        "stack", "data/stack.tif", "4 z-planes found; set ingest.z_projection in the config to keep, to run every stage in 3-D",
    ),
    "ctc-frames-of-different-sizes": Bad(
        lambda d, c: HEADER + row("sizes", frames(d, "data/sizes", [0, 1, 2], [(32, 32), (32, 32), (40, 32)]), "0.5", "2"),
        "sizes", "data/sizes", "frames of different sizes: t000.tif is 32x32 px, t002.tif is 40x32 px",
    ),
    "ctc-gap-in-numbering": Bad(
        lambda d, c: HEADER + row("gap", frames(d, "data/gap", [0, 1, 3]), "0.5", "2"),
        "gap", "data/gap", "must be numbered 0..2 without gaps; frame(s) [2] missing",
    ),
    "ctc-folder-without-frames": Bad(
        lambda d, c: HEADER + row("empty", frames(d, "data/empty", []), "0.5", "2"),
        "empty", "data/empty", "no CTC frames",
    ),
    "unknown-movie-format": Bad(
        lambda d, c: HEADER + row("png", text_file(d, "data/movie.png", "not an image"), "0.5", "2"),
        "png", "data/movie.png", "cannot tell the movie format from the name",
    ),
    "non-numeric-pixel-size": Bad(
        lambda d, c: HEADER + row("px", good_movie(d), "0,5"),
        "px", SHEET, "pixel_size_um: Input should be a valid number",
    ),
    "negative-pixel-size": Bad(
        lambda d, c: HEADER + row("px", good_movie(d), "-0.5"),
        "px", SHEET, "pixel_size_um: Input should be greater than 0",
    ),
    "infinite-pixel-size": Bad(
        lambda d, c: HEADER + row("px", good_movie(d), "inf"),
        "px", SHEET, "pixel_size_um: Input should be a finite number",
    ),
    "no-pixel-size-anywhere": Bad(
        lambda d, c: HEADER + row("bare", write(d, "data/bare.tif", np.ones((3, 32, 32), np.uint16),
                                                 photometric="minisblack"), "", "2"),
        "bare", "data/bare.tif", "no pixel size in the file's metadata; set pixel_size_um in the sample sheet",
    ),
    "frames-too-small": Bad(
        lambda d, c: HEADER + row("tiny", good_movie(d, "tiny.ome.tif", shape=(6, 6))),
        "tiny", "data/tiny.ome.tif", "frames of 6x6 px are too small to segment",
    ),
    "channel-names-vs-channels": Bad(
        lambda d, c: "sample\tmovie\tchannel_names\n" + f"chan\t{good_movie(d)}\tH2B,actin\n",
        "chan", "data/m.ome.tif", "2 channel names given for 1 channels",
    ),
    "axes-column-vs-file": Bad(
        lambda d, c: "sample\tmovie\taxes\n" + f"axes\t{good_movie(d)}\tTCYX\n",
        "axes", "data/m.ome.tif", "axes 'TCYX' do not match the 3-D array of shape (3, 32, 32)",
    ),
    "duplicate-sample-names": Bad(
        lambda d, c: HEADER + row("twin", good_movie(d)) + row("twin", good_movie(d, "other.ome.tif")),
        "twin", SHEET, "line 3 (sample 'twin'): duplicate sample name (first on line 2)",
    ),
    "sample-name-with-slash": Bad(
        lambda d, c: HEADER + row("a/b", good_movie(d)),
        "a/b", SHEET, "sample: Value error, may only contain letters, digits, '.', '_' and '-'",
    ),
    "sample-name-dot-dot": Bad(
        lambda d, c: HEADER + row("..", good_movie(d)),
        "..", SHEET, "sample: Value error, may only contain letters, digits, '.', '_' and '-'",
    ),
    "unknown-sheet-column": Bad(
        lambda d, c: "sample\tmovie\tpixelsize\n" + f"col\t{good_movie(d)}\t0.5\n",
        None, SHEET, "unknown column 'pixelsize'",
    ),
    "missing-ground-truth": Bad(
        lambda d, c: HEADER + row("nogt", good_movie(d), gt="data/nogt"),
        "nogt", "data/nogt", "ground_truth not found",
    ),
    "ground-truth-frame-count-ctc": Bad(
        lambda d, c: HEADER + row("gt", good_movie(d), gt=ctc_truth(d, 4)),
        "gt", "data/gt/TRA", "tracking markers must cover the movie's 3 frame(s) exactly; frames beyond the movie [3]",
    ),
    "ground-truth-frame-count-tiff": Bad(
        lambda d, c: HEADER + row("gt", good_movie(d), gt=write(d, "data/gt.tif", np.zeros((2, 32, 32), np.uint16),
                                                               photometric="minisblack")),
        "gt", "data/gt.tif", "a label TIFF must be (T, Y, X) with one plane per movie frame (3), got shape (2, 32, 32)",
    ),
    "ground-truth-frame-size": Bad(
        lambda d, c: HEADER + row("gt", good_movie(d), gt=ctc_truth(d, 3, (40, 32))),
        "gt", "data/gt/TRA/man_track000.tif", "mask is 40x32 px but the movie's frames are 32x32 px",
    ),
    "unknown-config-key": Bad(
        lambda d, c: segment_config(c, metod="classical") + HEADER + row("ok", good_movie(d)),
        None, "config/config.yaml", "segment.metod: unknown key",
    ),
    "model-path-does-not-exist": Bad(
        lambda d, c: segment_config(c, method="cellpose", cellpose={"model": "models/missing.pth"})
        + HEADER + row("ok", good_movie(d)),
        None, "models/missing.pth", "config segment.cellpose.model: Cellpose model file models/missing.pth does not exist",
    ),
    # #23 item 10: YAML's .inf, .nan and true are not numbers of any setting (cellpipe.config.base.StageSettings).
    "infinite-number-in-config": Bad(
        lambda d, c: segment_config(c, diameter_um=float("inf")) + HEADER + row("ok", good_movie(d)),
        None, "config/config.yaml", "segment.diameter_um: Value error, must be a finite number (got inf)",
    ),
    "nan-in-config": Bad(
        lambda d, c: segment_config(c, classical={"threshold": float("nan")}) + HEADER + row("ok", good_movie(d)),
        None, "config/config.yaml", "segment.classical.threshold: Value error, must be a finite number (got nan)",
    ),
    "boolean-for-a-number-in-config": Bad(
        lambda d, c: segment_config(c, channel=True) + HEADER + row("ok", good_movie(d)),
        None, "config/config.yaml", "segment.channel: Value error, must be a number, not a boolean (got True)",
    ),
    # #23 item 6: the results folder must be a folder of its own (PipelineConfig.results).
    "empty-results-folder": Bad(
        lambda d, c: c.update(results="") or HEADER + row("ok", good_movie(d)),
        None, "config/config.yaml", "results: Value error, is empty, which would put every output at the file-system root",
    ),
    "results-folder-is-the-working-folder": Bad(
        lambda d, c: c.update(results=".") or HEADER + row("ok", good_movie(d)),
        None, "config/config.yaml", "results: Value error, the results folder would be the working folder",
    ),
    # #23 item 15: names of what the workflow writes at the top of the results folder (RESERVED_SAMPLE_NAMES).
    "sample-named-like-a-top-level-output": Bad(
        lambda d, c: HEADER + row("summary.html", good_movie(d)),
        "summary.html", SHEET, "sample: Value error, 'summary.html' is taken by what the workflow writes at the top",
    ),
    # #23 item 17: the model file's content is checked at start-up, without torch (cellpipe.segment.check_model_file).
    "model-file-not-a-pytorch-file": Bad(
        lambda d, c: segment_config(c, method="cellpose", cellpose={"model": text_file(d, "models/notes.pth", "weights?")})
        + HEADER + row("ok", good_movie(d)),
        None, "models/notes.pth",
        "config segment.cellpose.model: Cellpose model file models/notes.pth is not a PyTorch file (neither a zip archive nor a pickle)",
    ),
    "model-file-without-cellpose-weights": Bad(
        lambda d, c: segment_config(c, method="cellpose", cellpose={"model": torch_file(d, "models/resnet.pth")})
        + HEADER + row("ok", good_movie(d)),
        None, "models/resnet.pth",
        "config segment.cellpose.model: Cellpose model file models/resnet.pth is a PyTorch file without Cellpose network weights",
    ),
    # #23 item 9: channel settings against each movie's channel count (from its header), not inside the jobs.
    "segment-channel-out-of-range": Bad(
        lambda d, c: segment_config(c, channel=1) + HEADER + row("one", good_movie(d)),
        "one", "data/m.ome.tif", "config segment.channel is 1 but data/m.ome.tif has 1 channel (0-based: 0)",
    ),
    "measure-channel-names-of-the-wrong-length": Bad(
        lambda d, c: c.setdefault("measure", {}).update(channel_names=["H2B", "actin"]) or HEADER + row("one", good_movie(d)),
        "one", "data/m.ome.tif", "config measure.channel_names gives 2 names (H2B, actin) but data/m.ome.tif has 1 channel",
    ),
    # #23 items 3, 4, 5, 12: what a movie's header says (cellpipe.io.movies)
    "ome-tiff-of-several-positions": Bad(
        lambda d, c: HEADER + row("plate", positions(d, "data/plate.ome.tif", ["A1", "A2", "B1"]), "", "2"),
        "plate", "data/plate.ome.tif",
        "3 positions (OME images 'A1', 'A2', 'B1') in one file; read them with a 'positions' column in its sample sheet row",
    ),
    # #26: a row's positions must be alike (a position cut short is the usual cause); one row per position runs them
    "positions-of-different-lengths": Bad(
        lambda d, c: "sample\tmovie\tframe_interval_min\tpositions\n" + "plate\t" + positions(
            d, "data/plate.ome.tif", ["A1", "A2", "B1"], [(3, 32, 32), (3, 32, 32), (2, 32, 40)]) + "\t2\tall\n",
        "plate", "data/plate.ome.tif",
        "its positions differ in size or length (positions 0 'A1', 1 'A2': 3 frames, 1 channel, 32 x 32 px; position 2 "
        "'B1': 2 frames, 1 channel, 32 x 40 px); to run them anyway, give each position a sheet row of its own with "
        "its index in positions (e.g. positions: 2)",
    ),
    "ome-length-unit-unknown": Bad(
        lambda d, c: HEADER + row("unit", write(d, "data/unit.ome.tif", np.ones((3, 32, 32), np.uint16), ome=True,
                                                 metadata={"axes": "TYX", "PhysicalSizeX": 1.0,
                                                           "PhysicalSizeXUnit": "furlong"}), "", "2"),
        "unit", "data/unit.ome.tif", "unknown length unit 'furlong' (PhysicalSizeXUnit); supported: 'ym',",
    ),
    "imagej-time-unit-unknown": Bad(
        lambda d, c: HEADER + row("tunit", write(d, "data/tunit.tif", np.ones((3, 32, 32), np.uint16), imagej=True,
                                                  resolution=(2.0, 2.0), metadata={"axes": "TYX", "unit": "micron",
                                                                                  "finterval": 5, "tunit": "fortnight"})),
        "tunit", "data/tunit.tif", "unknown ImageJ time unit 'fortnight' (tunit); supported: 'µs',",
    ),
    "zarr-folder-as-movie": Bad(
        lambda d, c: HEADER + row("zarr", zarr_folder(d, "data/movie.ome.zarr"), "0.5", "2"),
        "zarr", "data/movie.ome.zarr",
        "not an OME-Zarr image: no 'multiscales' in its metadata (.zattrs)",
    ),
    "non-square-pixels": Bad(
        lambda d, c: HEADER + row("aniso", ome_with(d, "data/aniso.ome.tif", PhysicalSizeX=0.5, PhysicalSizeY=1.0), "", "2"),
        "aniso", "data/aniso.ome.tif",
        "non-square pixels: the file's metadata gives 0.5 µm along x and 1 µm along y, and cellpipe measures in "
        "square pixels only; to run it, resample the movie to square pixels of 0.5 µm (Fiji: Image > Scale, X scale 1, "
        "Y scale 2,",
    ),
}


def snapshot(workdir: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and modification time (ns) of every user file (everything but snakemake's and cellpipe's own)."""
    files = {}
    for path in sorted(workdir.rglob("*")):
        rel = path.relative_to(workdir)
        if path.is_file() and rel.parts[0] not in (".snakemake", "results"):
            files[str(rel)] = (path.read_bytes(), path.stat().st_mtime_ns)
    return files


def error_line(output: str, problem: str) -> str:
    """The one line of ``output`` that states ``problem``."""
    lines = [line for line in output.splitlines() if problem in line]
    assert len(lines) >= 1, f"{problem!r} not in:\n{output[-3000:]}"
    return lines[0]


@pytest.mark.parametrize("kind", list(CATALOGUE))
def test_bad_input_stops_the_dry_run_with_one_line(tmp_path: Path, kind: str) -> None:
    bad = CATALOGUE[kind]
    config = tiny_config()
    workdir = tmp_path / "work"
    workdir.mkdir()
    sheet = bad.make(workdir, config)
    write_workdir(workdir, config, sheet)
    before = snapshot(workdir)
    assert any(rel.startswith("config") for rel in before)

    proc = run_snakemake(workdir, "--dry-run", timeout=120)

    assert proc.returncode != 0
    output = proc.stderr + proc.stdout
    line = error_line(output, bad.problem)
    assert line.startswith("cellpipe: "), line
    assert [ln for ln in output.splitlines() if ln.startswith("cellpipe: ")] == [line]  # one error, one line
    if bad.sample is not None:
        assert f"sample '{bad.sample}'" in line, line
    assert bad.file in line, line
    assert not (workdir / "results").exists()
    assert snapshot(workdir) == before


def test_a_target_naming_no_sample_of_the_sheet_is_named(tmp_path: Path) -> None:
    """{sample} matches any valid name (not an alternation of the sheet's names), so the input function says it."""
    config = tiny_config()
    workdir = tmp_path / "work"
    workdir.mkdir()
    write_workdir(workdir, config, HEADER + row("ok", good_movie(workdir)))

    proc = run_snakemake(workdir, "--dry-run", "results/nosuch/report.html", timeout=120)

    assert proc.returncode != 0
    assert "cellpipe: no sample 'nosuch' in the sample sheet config/samples.tsv (it has 1: ok)" in proc.stderr + proc.stdout
    assert not (workdir / "results").exists()


def test_cluster_jobs_do_not_redo_the_header_checks(tmp_path: Path) -> None:
    """The main snakemake process checks every movie's headers; a cluster job (snakemake in ``--mode
    remote``, as the SLURM executor starts it) does not, so its start-up does not grow with the sheet.
    A movie damaged after submission stops the main process but not another sample's job."""
    config = tiny_config()
    workdir = tmp_path / "work"
    workdir.mkdir()
    later = good_movie(workdir, "later.ome.tif")
    write_workdir(workdir, config, HEADER + row("ok", good_movie(workdir)) + row("later", later))
    (workdir / later).write_bytes((workdir / later).read_bytes()[:300])  # cut short
    target = layout.path(layout.IMAGE, "results", sample="ok")

    main = run_snakemake(workdir, "--dry-run", target, timeout=120)
    assert main.returncode != 0
    assert f"(sample 'later'): {later}: truncated or corrupt TIFF" in main.stdout + main.stderr

    job = run_snakemake(workdir, "--mode", "remote", "--dry-run", target, timeout=120)
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]
    assert "rule ingest_movie:" in job.stdout and "wildcards: sample=ok" in job.stdout
    assert not (workdir / "results").exists()


def test_a_movie_broken_after_a_good_start_is_reported_at_the_next(tmp_path: Path) -> None:
    """Rows that passed are recorded (.snakemake/cellpipe/checked_files.json) and not read again while
    their files are unchanged; a movie replaced since is checked again and its problem reported."""
    config = tiny_config()
    workdir = tmp_path / "work"
    workdir.mkdir()
    movie = good_movie(workdir)
    write_workdir(workdir, config, HEADER + row("ok", movie))
    assert run_snakemake(workdir, "--dry-run", timeout=120).returncode == 0
    assert (workdir / ".snakemake" / "cellpipe" / "checked_files.json").is_file()

    (workdir / movie).write_bytes((workdir / movie).read_bytes()[:300])  # e.g. an interrupted copy over it
    proc = run_snakemake(workdir, "--dry-run", timeout=120)
    assert proc.returncode != 0
    assert f"(sample 'ok'): {movie}: truncated or corrupt TIFF" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_catalogue_has_at_least_15_kinds() -> None:
    assert len(CATALOGUE) >= 15


def test_nan_pixels_stop_the_ingest_job_and_leave_no_image(tmp_path: Path) -> None:
    """NaN pixels are found only when the pixels are read (sheet checks read headers only): the
    ingest_movie job fails with one line naming the sample, the file and the count, and no image is left."""
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    movie = np.random.default_rng(1).random((3, 32, 32)).astype(np.float32)
    movie[1, 5, 7] = np.nan
    write_ome_tiff(workdir / "data" / "nanny.ome.tif", movie, pixel_size_um=0.5, frame_interval_min=2.0)
    write_workdir(workdir, tiny_config(), HEADER + row("nanny", "data/nanny.ome.tif"))
    before = snapshot(workdir)

    proc = run_snakemake(workdir, layout.path(layout.IMAGE, "results", sample="nanny"), timeout=300)

    assert proc.returncode != 0
    line = error_line(proc.stderr + proc.stdout, "1 NaN or infinite pixels")
    assert "sample 'nanny' (data/nanny.ome.tif)" in line, line
    assert not (workdir / "results" / "nanny" / "image.ome.zarr").exists()
    assert snapshot(workdir) == before


def test_an_all_zero_movie_gives_empty_tables_and_an_honest_report(tmp_path: Path) -> None:
    """A blank movie is not an error: the whole workflow runs (classical segmentation, for speed),
    every table is empty with its columns, the counts say 0 cells in every frame, the CTC export is
    an empty result, the report says that no cells were found and the ingest log says the movie is blank."""
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    write_ome_tiff(workdir / "data" / "zero.ome.tif", np.zeros((3, 48, 48), np.uint16), pixel_size_um=0.5,
                   frame_interval_min=2.0)
    config = tiny_config()
    config["segment"]["method"] = "classical"
    write_workdir(workdir, config, HEADER + row("zero", "data/zero.ome.tif"))
    before = snapshot(workdir)

    proc = run_snakemake(workdir, timeout=600)

    assert proc.returncode == 0, proc.stderr[-4000:]
    res = workdir / "results"
    for table in ("cells", "tracks", "lineage", "track_metrics"):
        frame = pd.read_parquet(res / "zero" / f"{table}.parquet")
        assert len(frame) == 0 and len(frame.columns) >= 3, table
    counts = pd.read_csv(res / "zero" / "counts.tsv", sep="\t")
    assert counts["frame"].tolist() == [0, 1, 2] and counts["n_cells"].tolist() == [0, 0, 0]
    assert (res / "zero" / "ctc" / "res_track.txt").read_text() == ""
    assert sorted(p.name for p in (res / "zero" / "ctc").glob("mask*.tif")) == ["mask000.tif", "mask001.tif", "mask002.tif"]
    report = (res / "zero" / "report.html").read_text(encoding="utf-8")
    assert "No cells were found in this movie." in report and "No tracks were found." in report
    assert "zero/report.html" in (res / "summary.html").read_text(encoding="utf-8")
    log = (res / "logs" / "ingest_movie" / "zero.log").read_text()
    assert "sample 'zero' (data/zero.ome.tif): every pixel has the value 0; the movie is blank" in log
    assert snapshot(workdir) == before


def run_dry_and_expect_one_line(workdir: Path, problem: str, *args: str) -> str:
    """Dry-run in ``workdir``: it must fail with one ``cellpipe:`` line stating ``problem``, create no
    results folder and leave every user file as it was; returns that line."""
    before = snapshot(workdir)
    proc = run_snakemake(workdir, "--dry-run", *args, timeout=120)
    assert proc.returncode != 0
    output = proc.stderr + proc.stdout
    line = error_line(output, problem)
    assert line.startswith("cellpipe: "), line
    assert [ln for ln in output.splitlines() if ln.startswith("cellpipe: ")] == [line]
    assert not (workdir / "results").exists()
    assert snapshot(workdir) == before
    return line


def test_a_duplicated_config_section_is_refused(tmp_path: Path) -> None:
    """#23 item 11: YAML keeps the last of two equal keys, so a second ``segment:`` block silently replaced
    the first; the file, the key and both lines are named."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    write_workdir(workdir, tiny_config(), HEADER + row("ok", good_movie(workdir)))
    config_file = workdir / "config" / "config.yaml"
    text = config_file.read_text()
    first = 1 + text.splitlines().index("segment:")
    config_file.write_text(text + "segment:\n  method: classical\n")
    second = len(text.splitlines()) + 1

    line = run_dry_and_expect_one_line(workdir, "appears twice")
    assert line.startswith(f"cellpipe: config/config.yaml: key segment appears twice (lines {first} and {second})"), line


@pytest.mark.parametrize(
    ("encoding", "problem"),
    [
        ("utf-16", "config/samples.tsv: the sample sheet is UTF-16 ('Unicode text'), not UTF-8; save the sheet as UTF-8"),
        ("latin-1", "config/samples.tsv: not UTF-8 text (byte 0xe9 at line 3); save the sheet as UTF-8 (tab-separated) text"),
    ],
)
def test_a_sample_sheet_saved_in_another_encoding_is_refused(tmp_path: Path, encoding: str, problem: str) -> None:
    """#23 item 8: "Unicode text" (UTF-16) and Latin-1 sheets ended in a UnicodeDecodeError traceback."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    text = HEADER + row("ok", good_movie(workdir)) + row("b", "données/m.tif")
    write_workdir(workdir, tiny_config(), "")
    (workdir / SHEET).write_bytes(text.encode(encoding))

    line = run_dry_and_expect_one_line(workdir, problem)
    assert line.startswith(f"cellpipe: {problem}"), line


def test_a_sample_sheet_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    """#23 item 8: Excel's "CSV UTF-8" starts with a byte-order mark, which gave "unknown column '\\ufeffsample'"."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    write_workdir(workdir, tiny_config(), "")
    (workdir / SHEET).write_bytes(("\ufeff" + HEADER + row("ok", good_movie(workdir))).replace("\n", "\r\n").encode("utf-8"))

    proc = run_snakemake(workdir, "--dry-run", timeout=120)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    assert "wildcards: sample=ok" in proc.stdout
def test_a_sheet_pixel_size_far_from_the_files_is_used_with_one_loud_warning_per_run(tmp_path: Path) -> None:
    """650 typed for 0.65 µm (issue #23): the sheet's value is used (it is the user's explicit override),
    and the main process prints one line naming the sample, the file, both values and the one used, at
    every start (a start that skips the row's header check repeats it from the record of checked files);
    the ingest job keeps it in its log."""
    config = tiny_config()
    workdir = tmp_path / "work"
    workdir.mkdir()
    movie = ome_with(workdir, "data/m.ome.tif", PhysicalSizeX=0.65, PhysicalSizeY=0.65)
    write_workdir(workdir, config, HEADER + row("big", movie, "650", "2"))
    expected = (
        "cellpipe: warning: config/samples.tsv line 2 (sample 'big'): data/m.ome.tif: pixel_size_um is 650 µm in the "
        "sample sheet but 0.65 µm in the file's metadata (1000× the file's); using the sample sheet's 650 µm"
    )

    for start in ("first", "record"):
        proc = run_snakemake(workdir, "--dry-run", timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        warnings = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.startswith("cellpipe: warning:")]
        assert warnings == [expected], start
    assert not (workdir / "results").exists()

    proc = run_snakemake(workdir, layout.path(layout.IMAGE, "results", sample="big"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.startswith("cellpipe: warning:")] == [expected]
    log = (workdir / "results" / "logs" / "ingest_movie" / "big.log").read_text(encoding="utf-8")
    assert "sample 'big' (data/m.ome.tif): pixel_size_um is 650 µm in the sample sheet but 0.65 µm" in log


def test_memory_requests_come_from_the_movies_header(tmp_path: Path) -> None:
    """ingest, normalize and segment ask for memory sized from the frame size, channels and pixel type
    read at start-up (cellpipe.resources), not 4 GB / 8 GB whatever the movie; a start that skips the
    header check (record of checked files) sizes them the same; a cluster job, which reads no header,
    still gets a valid value (the old fixed one)."""
    config = tiny_config()
    workdir = tmp_path / "work"
    workdir.mkdir()
    write_workdir(workdir, config, HEADER + row("small", good_movie(workdir)))
    target = layout.path(layout.CELL_LABELS, "results", sample="small")

    def requests(*args: str) -> dict[str, int]:
        proc = run_snakemake(workdir, "--dry-run", target, *args, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        asked, rule = {}, None
        for line in proc.stdout.splitlines():
            if line.startswith("rule "):
                rule = line.split()[1].rstrip(":")
            elif "resources:" in line and rule:
                asked[rule] = int(line.split("mem_mb=")[1].split(",")[0])
        return asked

    for start in ("first", "record"):
        assert requests() == {"ingest_movie": 500, "normalize_movie": 500, "segment_frames": 2600, "segment_cells": 2000}, start
    # the gather (segment_cells) holds one frame at a time whatever the movie: its fixed 2 GB
    assert requests("--mode", "remote") == {
        "ingest_movie": 4000, "normalize_movie": 4000, "segment_frames": 8000, "segment_cells": 2000}
    assert not (workdir / "results").exists()
