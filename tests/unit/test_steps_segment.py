"""Tests of the segmentation rules' entry points (cellpipe.steps.segment).

Scattered segmentation (segment.scatter > 1): the split of a movie's frames into parts, the parts'
steps, their gathering into one label image equal to an unscattered run's, the merged run info, and the
provenance timings of a rule with one job per part.  Then what reaches segment_whole_movie from the
sample sheet and the config: the channel named by segment.channel, a row's own cell diameter (µm)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage.draw import disk
from test_channel_names import three_channel_movie
from test_filters import EXACT, _nuclei

from cellpipe.config import SegmentSettings, load_config
from cellpipe.config.jobs import JobSettings
from cellpipe.io import omezarr, tables
from cellpipe.layout import DEFAULT_OME_ZARR_VERSION, OME_ZARR_METADATA
from cellpipe.preflight import check_samples
from cellpipe.provenance import benchmark_timings
from cellpipe.steps.ingest import ingest_movie_file
from cellpipe.steps.normalize import normalize_movie_step
from cellpipe.steps.provenance import read_benchmarks, record_provenance_step
from cellpipe.steps.segment import PART_KEYS, merge_part_infos, part_frames, segment_cells_step, segment_frames_step, segment_whole_movie

OME_META = OME_ZARR_METADATA[DEFAULT_OME_ZARR_VERSION]
"""The metadata file of an OME-Zarr store as the rules declare it (cellpipe.layout)."""

# ----------------------------------------------------------------------------- the split


@pytest.mark.parametrize("n_frames", [0, 1, 2, 3, 7, 10, 31, 100])
@pytest.mark.parametrize("n_parts", [1, 2, 3, 4, 7, 12])
def test_every_frame_is_in_exactly_one_contiguous_part(n_frames: int, n_parts: int) -> None:
    parts = [part_frames(n_frames, p, n_parts) for p in range(n_parts)]
    assert [t for part in parts for t in part] == list(range(n_frames))  # in order, each frame once
    for p, part in enumerate(parts):
        assert part.step == 1
        assert all(t * n_parts // n_frames == p for t in part), (p, part)
        if p:
            assert part.start == parts[p - 1].stop  # contiguous, no gap between parts
    lengths = [len(part) for part in parts]
    assert max(lengths) - min(lengths) <= 1
    assert sum(1 for n in lengths if n == 0) == max(0, n_parts - n_frames)


def test_split_examples_and_bad_parts() -> None:
    assert [part_frames(10, p, 3) for p in range(3)] == [range(0, 4), range(4, 7), range(7, 10)]
    assert [part_frames(2, p, 5) for p in range(5)] == [range(0, 1), range(1, 1), range(1, 2), range(2, 2), range(2, 2)]
    assert part_frames(5, 0, 1) == range(0, 5)
    assert list(part_frames(0, 0, 2)) == []
    for part, n_parts in [(3, 3), (-1, 3), (0, 0)]:
        with pytest.raises(ValueError, match=f"no part {part} of {n_parts}"):
            part_frames(10, part, n_parts)


# ----------------------------------------------------------------------------- parts and gather

N_FRAMES = 7


def _disk_movie(n_frames: int = N_FRAMES, shape: tuple[int, int] = (64, 80)) -> np.ndarray:
    """Normalized frames (T, Y, X) float32 with 1 to 3 noisy disks per frame, drifting, frame 3 empty."""
    rng = np.random.default_rng(5)
    frames = np.zeros((n_frames, *shape), np.float32)
    for t in range(n_frames):
        if t == 3:
            continue
        for i in range(1 + t % 4):
            rr, cc = disk((14 + 12 * i, 12 + 8 * i + 2 * t), 6, shape=shape)
            frames[t, rr, cc] = 1.0
    frames = (frames + rng.normal(0.0, 0.05, frames.shape)).astype(np.float32)
    frames[3] = 0.0  # a flat frame: no object
    return frames


@pytest.fixture()
def step_inputs(tmp_path: Path) -> dict[str, Path]:
    """What rule segment_cells / segment_frames read: the OME-Zarr image and its normalized movie (2 channels)."""
    frames = _disk_movie()
    image = tmp_path / "image.ome.zarr" / OME_META
    stack = np.stack([frames, frames[::-1]], axis=1)  # channel 1 differs: the channel setting is honoured
    omezarr.write_ome_image(image, (np.clip(stack, 0, None) * 1000).astype(np.uint16), "tcyx", 0.5, 2.0)
    normalized = tmp_path / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, stack.shape, "float32", {}) as out:
        out[:] = stack
    return {"image": image, "normalized": normalized}


SETTINGS = {"method": "classical", "channel": 1, "diameter_px": 12.0}
OBJECTS = [3, 2, 1, 0, 3, 2, 1]
"""Objects per frame in channel 1 (the disks of channel 0 in reverse frame order)."""


def _scattered(tmp_path: Path, step_inputs: dict[str, Path], n_parts: int, name: str = "scattered") -> tuple[Path, Path]:
    """Run every part, then the gather, as the workflow does; returns the label image and segmentation.json."""
    parts, infos = [], []
    for p in range(n_parts):
        parts.append(tmp_path / "segment_parts" / f"{n_parts}" / f"{p}.zarr")
        infos.append(tmp_path / "segment_parts" / f"{n_parts}" / f"{p}.json")
        segment_frames_step(step_inputs["normalized"], step_inputs["image"], SETTINGS, p, n_parts, parts[-1], infos[-1])
    labels, info = tmp_path / name / "labels" / "cells" / OME_META, tmp_path / name / "segmentation.json"
    segment_cells_step(step_inputs["normalized"], step_inputs["image"], parts, infos, labels, info)
    return labels, info


def _store_files(store: Path) -> dict[str, bytes]:
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


@pytest.fixture()
def one_pass(tmp_path: Path, step_inputs: dict[str, Path]) -> tuple[Path, Path]:
    labels, info = tmp_path / "one_pass" / "labels" / "cells" / OME_META, tmp_path / "one_pass" / "segmentation.json"
    segment_whole_movie(step_inputs["normalized"], step_inputs["image"], SETTINGS, labels, info)
    return labels, info


@pytest.mark.parametrize("n_parts", [1, 2, 3, N_FRAMES, N_FRAMES + 3])  # N_FRAMES + 3: three empty parts
def test_gathered_parts_equal_the_one_pass_labels(
    tmp_path: Path, step_inputs: dict[str, Path], one_pass: tuple[Path, Path], n_parts: int
) -> None:
    labels, info = _scattered(tmp_path, step_inputs, n_parts)
    reference = np.asarray(omezarr.open_ome_image(one_pass[0]).data)
    gathered = omezarr.open_ome_image(labels)
    assert reference.shape == (N_FRAMES, 64, 80) and reference.dtype == np.uint32
    assert [int(reference[t].max()) for t in range(N_FRAMES)] == OBJECTS
    np.testing.assert_array_equal(np.asarray(gathered.data), reference)
    # the same store, byte for byte: metadata (NGFF, image-label, units) and every compressed chunk
    assert _store_files(omezarr.store_path(labels)) == _store_files(omezarr.store_path(one_pass[0]))
    assert gathered.pixel_size_um == 0.5 and gathered.frame_interval_min == 2.0


def test_merged_info_has_the_keys_of_the_one_pass_info_and_each_part(
    tmp_path: Path, step_inputs: dict[str, Path], one_pass: tuple[Path, Path]
) -> None:
    _, info = _scattered(tmp_path, step_inputs, 3)
    merged, reference = json.loads(info.read_text()), json.loads(one_pass[1].read_text())
    assert {k: merged[k] for k in reference} == reference  # every key of the unscattered run, same values
    assert reference["n_frames"] == merged["n_frames"] == N_FRAMES and merged["n_parts"] == 3
    assert set(merged) - set(reference) == {"n_parts", "parts"}
    parts = merged["parts"]
    assert [(p["part"], p["n_parts"], p["first_frame"], p["n_frames"], p["movie_frames"]) for p in parts] == [
        (0, 3, 0, 3, N_FRAMES), (1, 3, 3, 2, N_FRAMES), (2, 3, 5, 2, N_FRAMES),
    ]
    assert [p["n_objects"] for p in parts] == [sum(OBJECTS[0:3]), sum(OBJECTS[3:5]), sum(OBJECTS[5:7])]
    for p in parts:
        own = {"n_frames", "object_filters"}  # per-frame filter rows belong to the part's frames
        assert {k: v for k, v in p.items() if k not in PART_KEYS and k not in own} == {
            k: v for k, v in reference.items() if k not in own
        }
        first = p["first_frame"]
        assert p["object_filters"]["per_frame"] == reference["object_filters"]["per_frame"][first : first + p["n_frames"]]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_single_part_is_moved_into_place_not_copied(tmp_path: Path, version: str) -> None:
    """segment.scatter 1: the part is the finished label image, renamed where the gathered one goes (its chunk
    files keep their inodes), and segmentation.json is the unscattered run's, key for key in the same order."""
    image = tmp_path / "image.ome.zarr" / OME_ZARR_METADATA[version]
    stack = np.stack([_disk_movie()] * 2, axis=1)
    omezarr.write_ome_image(image, (np.clip(stack, 0, None) * 1000).astype(np.uint16), "tcyx", 0.5, 2.0)
    normalized = tmp_path / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, stack.shape, "float32", {}) as out:
        out[:] = stack
    one_labels = tmp_path / "one" / "labels" / "cells" / OME_ZARR_METADATA[version]
    segment_whole_movie(normalized, image, SETTINGS, one_labels, tmp_path / "one" / "segmentation.json")
    part, part_info = tmp_path / "segment_parts" / "0.zarr", tmp_path / "segment_parts" / "0.json"
    segment_frames_step(normalized, image, SETTINGS, 0, 1, part, part_info)
    chunk = next(p for p in sorted(part.rglob("*")) if p.is_file() and p.name not in ("zarr.json", ".zattrs", ".zgroup", ".zarray"))
    inode = chunk.stat().st_ino
    labels = tmp_path / "gathered" / "labels" / "cells" / OME_ZARR_METADATA[version]
    segment_cells_step(normalized, image, [part], [part_info], labels, tmp_path / "gathered" / "segmentation.json")
    assert not part.exists()
    assert (omezarr.store_path(labels) / chunk.relative_to(part)).stat().st_ino == inode
    assert _store_files(omezarr.store_path(labels)) == _store_files(omezarr.store_path(one_labels))
    assert omezarr.stored_ngff_version(labels) == version
    gathered = (tmp_path / "gathered" / "segmentation.json").read_text()
    assert gathered == (tmp_path / "one" / "segmentation.json").read_text()
    record = json.loads(part_info.read_text())
    assert (record["part"], record["n_parts"], record["first_frame"], record["n_objects"]) == (0, 1, 0, sum(OBJECTS))


def test_an_empty_part_is_written_and_gathered(tmp_path: Path, step_inputs: dict[str, Path]) -> None:
    part, part_info = tmp_path / "9.zarr", tmp_path / "9.json"
    segment_frames_step(step_inputs["normalized"], step_inputs["image"], SETTINGS, 9, 10, part, part_info)
    assert omezarr.open_zarr_array(part).shape == (0, 64, 80)
    record = json.loads(part_info.read_text())
    assert (record["first_frame"], record["n_frames"], record["n_objects"]) == (N_FRAMES, 0, 0)


def test_merge_lists_what_the_parts_do_not_share() -> None:
    common = {"method": "cellpose", "model_sha256": "abc", "batch_size": 4, "movie_frames": 5}
    infos = [
        {**common, "device": "cuda", "batch_divisor": 1, "part": 0, "n_parts": 3, "first_frame": 0, "n_frames": 2, "n_objects": 9},
        {**common, "device": "cpu", "batch_divisor": 2, "part": 1, "n_parts": 3, "first_frame": 2, "n_frames": 2, "n_objects": 8},
        {**common, "device": "cuda", "batch_divisor": 1, "part": 2, "n_parts": 3, "first_frame": 4, "n_frames": 1, "n_objects": 4},
    ]
    merged = merge_part_infos(infos)
    assert merged["device"] == "cuda, cpu" and merged["batch_divisor"] == [1, 2]
    assert merged["method"] == "cellpose" and merged["model_sha256"] == "abc" and merged["batch_size"] == 4
    assert merged["n_frames"] == 5 and merged["n_parts"] == 3 and merged["parts"] == infos
    assert not set(PART_KEYS) - {"n_frames", "n_parts"} & set(merged)
    with pytest.raises(ValueError, match="no parts"):
        merge_part_infos([])


def test_parts_that_do_not_fit_together_are_refused(tmp_path: Path, step_inputs: dict[str, Path]) -> None:
    """A part of another split (a stale part after segment.scatter changed), or parts out of order, stop the
    gather with the file named, and no label image or info is written."""
    paths = {}
    for n_parts in (2, 3):
        for p in range(n_parts):
            paths[p, n_parts] = (tmp_path / f"{p}-of-{n_parts}.zarr", tmp_path / f"{p}-of-{n_parts}.json")
            segment_frames_step(step_inputs["normalized"], step_inputs["image"], SETTINGS, p, n_parts, *paths[p, n_parts])
    labels, info = tmp_path / "out" / "cells" / OME_META, tmp_path / "out" / "segmentation.json"
    cases = [
        ([(0, 3), (1, 2), (2, 3)], r"1-of-2\.json: expected part 1 of 3 \(frames 3-4 of a movie of 7\), found part 1 of 2"),
        ([(1, 3), (0, 3), (2, 3)], r"1-of-3\.json: expected part 0 of 3"),
    ]
    for chosen, message in cases:
        with pytest.raises(ValueError, match=message):
            segment_cells_step(step_inputs["normalized"], step_inputs["image"], [paths[c][0] for c in chosen],
                                 [paths[c][1] for c in chosen], labels, info)
    with pytest.raises(ValueError, match="2 label part"):
        segment_cells_step(step_inputs["normalized"], step_inputs["image"], [paths[0, 2][0], paths[1, 2][0]],
                             [paths[0, 2][1]], labels, info)
    assert not labels.parent.exists() and not info.exists()


def test_a_failed_part_leaves_nothing_behind(tmp_path: Path, step_inputs: dict[str, Path], monkeypatch) -> None:
    """A part that fails after some frames (here: an error in the third frame) leaves neither its labels nor its
    info, so Snakemake cannot take a partial part as done."""
    import cellpipe.segment.classical as classical

    calls = []
    original = classical._segment_frame_classical

    def failing(frame, settings, min_distance):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("node lost")
        return original(frame, settings, min_distance)

    monkeypatch.setattr(classical, "_segment_frame_classical", failing)
    part, part_info = tmp_path / "parts" / "0.zarr", tmp_path / "parts" / "0.json"
    with pytest.raises(RuntimeError, match="node lost"):
        segment_frames_step(step_inputs["normalized"], step_inputs["image"], SETTINGS, 0, 2, part, part_info)
    assert len(calls) == 3 and sorted(p.name for p in part.parent.iterdir()) == []


@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_cellpose_parts_on_a_cpu_equal_the_one_pass(tmp_path: Path) -> None:
    """The shipped Cellpose model on a CPU: three parts of one frame (each loads the model) gather to the
    labels of one pass over the movie (two frames per network pass)."""
    from cellpipe.simulate import make_nuclei_movie

    movie = make_nuclei_movie(n_frames=3, shape=(64, 64), seed=4)
    frames = (movie.image.astype(np.float32) - movie.image.min()) / float(np.ptp(movie.image))
    image = tmp_path / "image.ome.zarr" / OME_META
    omezarr.write_ome_image(image, movie.image[:, None], "tcyx", movie.pixel_size_um, 5.0)
    normalized = tmp_path / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, (3, 1, 64, 64), "float32", {}) as out:
        out[:] = frames[:, None]
    model = Path(__file__).resolve().parents[2] / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"
    settings = {"method": "cellpose", "cellpose": {"model": str(model), "device": "cpu", "batch_size": 2}}
    ref_labels, ref_info = tmp_path / "ref" / "cells" / OME_META, tmp_path / "ref" / "segmentation.json"
    segment_whole_movie(normalized, image, settings, ref_labels, ref_info)
    parts = [(tmp_path / f"{p}.zarr", tmp_path / f"{p}.json") for p in range(3)]
    for p, (part, part_info) in enumerate(parts):
        segment_frames_step(normalized, image, settings, p, 3, part, part_info)
    labels, info = tmp_path / "out" / "cells" / OME_META, tmp_path / "out" / "segmentation.json"
    segment_cells_step(normalized, image, [p for p, _ in parts], [i for _, i in parts], labels, info)
    reference = np.asarray(omezarr.open_ome_image(ref_labels).data)
    assert reference.max() >= 3
    np.testing.assert_array_equal(np.asarray(omezarr.open_ome_image(labels).data), reference)
    merged, one = json.loads(info.read_text()), json.loads(ref_info.read_text())
    assert {k: merged[k] for k in one} == one and one["model_sha256"] and one["device"] == "cpu"


# ----------------------------------------------------------------------------- provenance timings

BENCHMARK = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "{s}\t0:00:01\t{rss}\t1\t1\t1\t1\t1\t1\t{cpu}\n"
)


def _benchmarks(root: Path, jobs: dict[str, tuple[str, str, str]]) -> list[str]:
    paths = []
    for rel, (s, rss, cpu) in jobs.items():
        path = root / "results" / "benchmarks" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(BENCHMARK.format(s=s, rss=rss, cpu=cpu))
        paths.append(str(path))
    return paths


def test_timings_of_a_rule_with_one_job_per_part(tmp_path: Path) -> None:
    paths = _benchmarks(tmp_path, {
        "segment_frames/s1.part0.tsv": ("10.0", "500.04", "12.0"),
        "segment_frames/s1.part1.tsv": ("11.5", "650.0", "13.25"),
        "segment_frames/s1.part2.tsv": ("9.25", "480.0", "11.0"),
        "segment_cells/s1.tsv": ("2.0", "120.0", "1.5"),
    })
    rows = read_benchmarks([*paths, str(tmp_path / "results/benchmarks/segment_frames/s1.part3.tsv")])  # part 3: missing
    assert [row["job"] for row in rows["segment_frames"]] == ["s1.part0", "s1.part1", "s1.part2"]
    timings = benchmark_timings(rows)
    assert timings["segment_cells"] == {"seconds": 2.0, "max_rss_mb": 120.0, "cpu_seconds": 1.5}
    assert timings["segment_frames"] == {
        "seconds": 30.75, "max_rss_mb": 650.0, "cpu_seconds": 36.25, "jobs": 3,
        "parts": [
            {"job": "s1.part0", "seconds": 10.0, "max_rss_mb": 500.0, "cpu_seconds": 12.0},
            {"job": "s1.part1", "seconds": 11.5, "max_rss_mb": 650.0, "cpu_seconds": 13.25},
            {"job": "s1.part2", "seconds": 9.25, "max_rss_mb": 480.0, "cpu_seconds": 11.0},
        ],
    }
    # a part Snakemake could not measure: no total for what was not measured
    unmeasured = benchmark_timings(
        {"segment_frames": [{"s": 1.0, "max_rss": "-", "cpu_time": 2.0}, {"s": 2.0, "max_rss": 5.0, "cpu_time": 1.0}]}
    )
    assert unmeasured["segment_frames"]["seconds"] == 3.0 and unmeasured["segment_frames"]["max_rss_mb"] is None
    # a single row (not a list) is still read as one job
    assert benchmark_timings({"x": {"s": "1.234"}}) == {"x": {"seconds": 1.23, "max_rss_mb": None, "cpu_seconds": None}}


def test_provenance_record_holds_every_parts_timing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "movie.tif").write_bytes(b"movie")
    (tmp_path / "results" / "s1").mkdir(parents=True)
    (tmp_path / "results" / "s1" / "segmentation.json").write_text(json.dumps({"method": "classical", "device": "cpu"}))
    timings = _benchmarks(tmp_path, {
        "segment_frames/s1.part0.tsv": ("3.0", "150.0", "2.0"),
        "segment_frames/s1.part1.tsv": ("4.0", "160.0", "3.0"),
        "segment_cells/s1.tsv": ("1.0", "100.0", "0.5"),
    })
    inputs = {"movie": "movie.tif", "segmentation_info": "results/s1/segmentation.json", "outputs": [], "timings": timings}
    record_provenance_step("s1", inputs, {}, "results/s1/provenance.json")
    record = json.loads((tmp_path / "results" / "s1" / "provenance.json").read_text())
    assert record["timings"]["segment_frames"]["jobs"] == 2 and record["timings"]["segment_frames"]["seconds"] == 7.0
    assert [p["job"] for p in record["timings"]["segment_frames"]["parts"]] == ["s1.part0", "s1.part1"]
    assert record["timings"]["segment_cells"] == {"seconds": 1.0, "max_rss_mb": 100.0, "cpu_seconds": 0.5}


def test_the_named_channel_is_segmented_and_recorded(tmp_path: Path) -> None:
    nuclei = three_channel_movie(tmp_path / "m.ome.tif", nuclei_in=1)
    image, normalized = tmp_path / "image.ome.zarr", tmp_path / "normalized.zarr"
    ingest_movie_file("s", tmp_path / "m.ome.tif", "auto", None, None, None, [], {}, image)
    normalize_movie_step(image, {}, normalized, tmp_path / "normalization.tsv")
    runs = {}
    for channel in ("H2B-GFP", 0):
        labels, info = tmp_path / f"labels_{channel}", tmp_path / f"segmentation_{channel}.json"
        segment_whole_movie(normalized, image, {"method": "classical", "channel": channel}, labels, info)
        runs[channel] = (np.asarray(omezarr.open_ome_image(labels).data), tables.read_json(info))
    named, record = runs["H2B-GFP"]
    assert record["channel"] == 1 and record["channel_name"] == "H2B-GFP"
    assert all(frame.max() >= 2 for frame in named)  # the nuclei of channel 1
    assert (named > 0).sum() > 0.5 * (nuclei > np.percentile(nuclei, 90)).sum()
    flat, record0 = runs[0]
    assert record0["channel"] == 0 and record0["channel_name"] == "Brightfield"
    assert flat.max() == 0  # channel 0 is flat: nothing to find
    with pytest.raises(ValueError, match=r"segment.channel 'DAPI' is not a channel of this movie; its channels: "
                                         r"'Brightfield', 'H2B-GFP', 'mCherry'"):
        segment_whole_movie(normalized, image, {"channel": "DAPI", "method": "classical"}, tmp_path / "x", tmp_path / "x.json")


def test_a_sample_sheet_diameter_reaches_the_segmentation(tmp_path: Path) -> None:
    frames = _nuclei(2, radius=12.0)
    image = tmp_path / "image.ome.zarr" / OME_META
    omezarr.write_ome_image(image, (frames * 1000).astype(np.uint16)[:, None], "tcyx", 0.5, 5.0)
    normalized = tmp_path / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, (2, 1, 160, 160), "float32", {}) as out:
        out[:] = frames[:, None]
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tmovie\tdiameter_um\na\tm.tif\t12\nb\tm.tif\tauto\nc\tm.tif\t\n")
    config = load_config({"segment": {"method": "classical", "diameter_um": 5.0, "classical": EXACT, "scatter": 2}})
    rows = {r.sample: r for r in check_samples(sheet, config, check_files=False)}
    jobs = JobSettings(config, tmp_path)
    found = {}
    for name, row in rows.items():
        info = tmp_path / f"{name}.json"
        # as rule segment_frames passes them: the job's settings dumped to JSON values (common.smk)
        settings = jobs.job_settings("segment", row).model_dump(mode="json")
        segment_whole_movie(normalized, image, settings, tmp_path / name / OME_META, info)
        found[name] = json.loads(info.read_text())
        assert found[name]["job_settings"] == settings  # recorded as the job got them
    assert [found[n]["job_settings"]["diameter_um"] for n in "abc"] == [12.0, 5.0, 5.0]
    assert [found[n]["job_settings"]["estimate_diameter"] for n in "abc"] == [False, True, False]
    assert found["a"]["diameter_px"] == pytest.approx(24.0) and found["a"]["diameter_source"] == "settings"
    assert found["b"]["diameter_source"] == "estimate" and found["b"]["diameter_estimate"]["passes"][0]["diameter_px"] == 10.0
    assert found["b"]["diameter_px"] == pytest.approx(24.0, rel=0.1)
    assert found["c"]["diameter_px"] == pytest.approx(10.0)  # the config's 5 µm at 0.5 µm/px


def test_the_step_takes_the_model_or_its_dump_and_records_the_settings_it_got(
    tmp_path: Path, step_inputs: dict[str, Path], one_pass: tuple[Path, Path]
) -> None:
    """The job's settings as a model (what cellpipe.config.jobs builds) or as the JSON dump a rule passes give
    the same labels and run info; ``job_settings`` is that value as the job got it (the channel as given,
    the index and name segmented beside it), in every part and in the gathered record."""
    model = SegmentSettings.model_validate(SETTINGS)
    labels, info = tmp_path / "model" / "labels" / "cells" / OME_META, tmp_path / "model" / "segmentation.json"
    segment_whole_movie(step_inputs["normalized"], step_inputs["image"], model, labels, info)
    assert _store_files(omezarr.store_path(labels)) == _store_files(omezarr.store_path(one_pass[0]))
    record = json.loads(info.read_text())
    assert record == json.loads(one_pass[1].read_text())
    assert record["job_settings"] == model.model_dump(mode="json")
    assert record["job_settings"]["diameter_px"] == 12.0 and record["job_settings"]["channel"] == 1
    _, gathered = _scattered(tmp_path, step_inputs, 2)
    merged = json.loads(gathered.read_text())
    assert merged["job_settings"] == record["job_settings"]
    assert [p["job_settings"] for p in merged["parts"]] == [record["job_settings"]] * 2
