"""Helpers shared by the benchmarks: the real data in ../shared, CTC SEG with py-ctcmetrics, the machine."""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
GOWT1 = SHARED_DATA / "ctc" / "Fluo-N2DH-GOWT1"
DSB = SHARED_DATA / "dsb2018"
SHIPPED_MODEL = REPO / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"
GOWT1_PIXEL_SIZE_UM = 0.24  # Cell Tracking Challenge: Fluo-N2DH-GOWT1, 0.240 x 0.240 µm
GOWT1_COMPLETE_SEG_FRAMES = (21, 31, 33, 39)  # the completely annotated SEG frames (../shared/README.md)


def require(path: Path) -> Path:
    """``path``, or exit with a message when the real data beside the checkout is missing."""
    if not path.exists():
        sys.exit(f"bench: {path} not found; the real-data benchmarks need ../shared beside the checkout")
    return path


def config_segment(model: Path | None, **cellpose: object) -> dict[str, Any]:
    """config/config.yaml's segment section for stage functions, with ``model`` (default: the config's) and
    ``cellpose`` overriding its cellpose settings; ``scatter``, which only the workflow reads, is dropped."""
    import yaml

    segment = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["segment"]
    segment.pop("scatter", None)
    model_path = model or REPO / segment["cellpose"]["model"]
    segment["cellpose"] = {**segment["cellpose"], **cellpose, "model": str(model_path)}
    return segment


def machine() -> str:
    """One line naming the processor, the cores, torch and the GPU (if any)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"


def cuda_sync() -> None:
    """Wait for the GPU's queued work (no-op without CUDA), so that wall-clock timings include it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def read_ctc_movie(folder: Path) -> np.ndarray:
    """(T, Y, X) frames of a CTC folder of tTTT.tif files."""
    import tifffile

    files = sorted(folder.glob("t*.tif"))
    return np.stack([tifffile.imread(f) for f in files])


def normalized_movie(frames: np.ndarray) -> np.ndarray:
    """(T, Y, X) float32 frames normalized like the workflow's normalize stage with its default settings."""
    from cellpipe.config import NormalizeSettings
    from cellpipe.normalize import normalize_movie

    normalized, _ = normalize_movie(frames[:, np.newaxis], NormalizeSettings())
    return np.asarray(normalized)[:, 0]


def ctc_seg(gt_dir: Path, masks: Mapping[int, np.ndarray]) -> tuple[float, dict[int, float]]:
    """CTC SEG of ``masks`` (frame -> labels) against ``gt_dir/SEG/man_segTTT.tif``, by py-ctcmetrics.

    Returns the SEG over all annotated objects of these frames and the SEG of each frame.
    """
    import tifffile
    from ctc_metrics.metrics import seg
    from ctc_metrics.utils.representations import match

    per_frame: dict[int, float] = {}
    labels_ref: list[list[int]] = []
    ious: list[list[float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for t, mask in sorted(masks.items()):
            comp = Path(tmp) / f"mask{t:03d}.tif"
            tifffile.imwrite(comp, np.asarray(mask).astype(np.uint16))
            ref, _, _, _, iou = match(str(gt_dir / "SEG" / f"man_seg{t:03d}.tif"), str(comp))
            labels_ref.append(ref)
            ious.append(iou)
            per_frame[t] = seg([ref], [iou])
    return seg(labels_ref, ious), per_frame


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Print (and return) a plain-text table."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def benchmark_values(results: Path, column: str) -> dict[str, list[float]]:
    """Rule name -> ``column`` of each of its jobs' Snakemake benchmark records under ``results / "benchmarks"``
    (``s``: seconds, ``max_rss``: MB, ...); a '-' (a job too short to be sampled) is left out."""
    values: dict[str, list[float]] = {}
    for record in sorted((results / "benchmarks").glob("*/*.tsv")):
        with open(record, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                try:
                    value = float(row[column])
                except (KeyError, ValueError):
                    continue
                values.setdefault(record.parent.name, []).append(value)
    return values


def reader_ms_per_frame(
    frame_reader: Callable[[str, str], Any], path: Path, reader: str, passes: int = 3
) -> tuple[float, float]:
    """Opening (ms) and reading one frame (ms, the mean over the movie) of ``path`` through
    ``frame_reader(path, reader)`` (a context manager giving the frame count and a frame-reading function),
    each the best of ``passes``."""
    best_open = best_read = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        with frame_reader(str(path), reader) as (n_frames, read):
            opened = time.perf_counter()
            for t in range(n_frames):
                read(t)
            done = time.perf_counter()
        best_open, best_read = min(best_open, opened - start), min(best_read, (done - opened) / n_frames)
    return 1000 * best_open, 1000 * best_read


def script_peak_mb(script: str, path: Path, reader: str) -> float:
    """Peak memory (MB) a fresh Python process prints last when it runs ``script`` (formatted with ``src``, the
    repository, ``path`` and ``reader``)."""
    code = script.format(src=str(REPO), path=str(path), reader=reader)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return float(out.stdout.strip().splitlines()[-1])
