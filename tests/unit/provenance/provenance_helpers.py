"""The files, inputs and helpers that the provenance tests share."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from cellpipe import replay
from cellpipe.io.checksums import describe_path
from cellpipe.steps.provenance import record_provenance_step

# A benchmark TSV as Snakemake writes it ("-" where it could not measure).
BENCHMARK = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "12.3456\t0:00:12\t532.41\t2694.51\t942.16\t978.22\t672.74\t1.19\t154.16\t18.444\n"
)
BENCHMARK_UNMEASURED = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n0.5\t0:00:00\t-\t-\t-\t-\t-\t-\t-\t-\n"
)


def sha(data: bytes) -> str:
    """The sha256 of ``data``, hex."""
    return hashlib.sha256(data).hexdigest()


MOVIE = b"II*\x00movie bytes"
WEIGHTS = b"\x00\x01weights"


INPUTS = {
    "movie": "data/movie.tif",
    "ground_truth": ["data/01_GT"],
    "config": ["config/config.yaml"],
    "sample_sheet": "config/samples.tsv",
    "tracker_config": "resources/tracker.json",
    "model": ["models/weights.pth"],
    "segmentation_info": "results/s1/segmentation.json",
    "outputs": ["results/s1/tracks.parquet", "results/s1/counts.tsv"],
    "timings": ["results/benchmarks/segment_cells/s1.tsv", "results/benchmarks/track_cells/s1.tsv",
                "results/benchmarks/measure_cells/s1.tsv"],  # the last one does not exist
}


CONFIG = {"results": "results", "samples": "config/samples.tsv", "segment": {"method": "cellpose"}}


def write_record(workdir: Path, invocation: Path | None = None) -> dict:
    record_provenance_step("s1", INPUTS, CONFIG, "results/s1/provenance.json", invocation=invocation,
                           model_path="models/weights.pth")
    return json.loads((workdir / "results/s1/provenance.json").read_text())


def current_check(record: dict, workdir: Path):
    return replay.check_against_disk(record, workdir)


def ingest(movie: str, image: str, fmt: str = "auto") -> dict:
    """Run ingest_movie's step on ``movie``; returns the image's ``cellpipe`` attributes."""
    from cellpipe.io import omezarr
    from cellpipe.steps.ingest import ingest_movie_file

    ingest_movie_file(sample="s1", movie=movie, fmt=fmt, axes=None, pixel_size_um=0.5, frame_interval_min=5.0,
                      channel_names=[], settings={}, image=image)
    return omezarr.open_ome_image(image).attrs


def real_movie(workdir: Path, seed: int) -> bytes:
    """An OME-TIFF movie at data/movie.tif (3 frames of 32 x 32), its bytes returned."""
    from cellpipe.io.movies import write_ome_tiff

    frames = np.random.default_rng(seed).integers(0, 4000, (3, 32, 32), dtype=np.uint16)
    write_ome_tiff(workdir / "data/movie.tif", frames, 0.5, 5.0)
    return (workdir / "data/movie.tif").read_bytes()


def replace_keeping_mtime(path: Path, data: bytes) -> None:
    """What `cp -p other path` (or `rsync -a` from a backup) does: new bytes, the old modification time."""
    stat = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def description(path: str) -> dict:
    """An input as a job records what it read: describe_path's entry without role and path."""
    return {k: v for k, v in describe_path("x", path).items() if k not in ("role", "path")}


def write_job_outputs(workdir: Path, model: dict | None, tracker: dict, truth: dict) -> dict:
    """segmentation.json, tracking.json and evaluation.json holding what segment_cells, track_cells and
    evaluate_sample read (``model`` None: segmentation.json as it is); returns record_provenance's inputs."""
    if model is not None:
        info = json.loads((workdir / "results/s1/segmentation.json").read_text())
        (workdir / "results/s1/segmentation.json").write_text(json.dumps({**info, "inputs_read": {"model": model}}))
    (workdir / "results/s1/tracking.json").write_text(json.dumps({"inputs_read": {"tracker_config": tracker}}))
    (workdir / "results/s1/evaluation.json").write_text(json.dumps({"sample": "s1", "inputs_read": {"ground_truth": truth}}))
    return {**INPUTS, "tracking_info": "results/s1/tracking.json", "evaluation": ["results/s1/evaluation.json"]}


def write_record_with(workdir: Path, inputs: dict) -> dict:
    record_provenance_step("s1", inputs, CONFIG, "results/s1/provenance.json", model_path="models/weights.pth")
    return json.loads((workdir / "results/s1/provenance.json").read_text())
