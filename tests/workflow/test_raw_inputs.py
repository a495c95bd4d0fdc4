"""Raw files straight from the microscope (issue #26): a z-stack movie runs through the 2-D pipeline with
``ingest.z_projection``, ``segment.channel`` names a channel, checked against each movie before any job, OME-Zarr
and Zeiss CZI (written by libCZI) movies run through ingest and segment, and the positions of an OME-TIFF in 3 named
channels and a Micro-Manager dataset run to the end, every channel measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from cellpipe import layout
from cellpipe.io import omezarr, tables
from cellpipe.io.movies import write_ome_tiff
from cellpipe.simulate import make_nuclei_movie

from conftest import default_config, run_snakemake, write_workdir

pytestmark = pytest.mark.workflow

OME_UNITS = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 2.0, "TimeIncrementUnit": "min"}


def small_config() -> dict:
    config = default_config()
    config["simulate"] = {}
    config["segment"]["method"] = "classical"
    return config


def three_channel_movie() -> np.ndarray:
    """(3, 3, 48, 64) uint16: flat channels 0 and 2 (100), simulated nuclei (seed 0) in channel 1."""
    movie = np.full((3, 3, 48, 64), 100, np.uint16)
    movie[:, 1] = make_nuclei_movie(n_frames=3, shape=(48, 64), seed=0).image
    return movie


def segment_samples(workdir: Path, config: dict, samples_tsv: str, *samples: str, timeout: int = 300) -> None:
    """Run the workflow in ``workdir`` up to each sample's segmentation.json; it must succeed."""
    write_workdir(workdir, config, samples_tsv)
    proc = run_snakemake(workdir, *(f"results/{sample}/segmentation.json" for sample in samples), timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]


def ingested(workdir: Path, sample: str) -> omezarr.OmeImage:
    return omezarr.open_ome_image(workdir / f"results/{sample}/image.ome.zarr")


def cell_labels(workdir: Path, sample: str) -> np.ndarray:
    """The sample's instance label image (frames, y px, x px)."""
    return np.asarray(omezarr.open_ome_image(workdir / f"results/{sample}/image.ome.zarr/labels/cells").data)


def segmentation_record(workdir: Path, sample: str) -> dict:
    return tables.read_json(workdir / f"results/{sample}/segmentation.json")


def refusals(workdir: Path, config: dict, samples_tsv: str) -> tuple[list[str], str]:
    """Run the whole workflow in ``workdir``; it must fail.  Returns its ``cellpipe: `` lines and the end of stderr."""
    write_workdir(workdir, config, samples_tsv)
    proc = run_snakemake(workdir, timeout=120)
    assert proc.returncode != 0
    return [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.startswith("cellpipe: ")], proc.stderr[-2000:]


def test_a_z_stack_movie_runs_through_ingest_normalize_and_segment_with_a_max_projection(tmp_path: Path) -> None:
    """3 frames of 48x64 px, 3 z-planes: nuclei in focus in the middle plane, blurred and dimmer above and
    below.  The max projection is ingested, normalized and segmented (classical), and the image records it."""
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    focus = make_nuclei_movie(n_frames=3, shape=(48, 64), seed=0).image
    blurred = np.stack([ndimage.gaussian_filter(f.astype(np.float64), 3.0) * 0.5 for f in focus]).astype(np.uint16)
    stack = np.stack([blurred, focus, blurred], axis=1)  # (T, Z, Y, X)
    tifffile.imwrite(workdir / "data" / "stack.ome.tif", stack, ome=True, metadata={"axes": "TZYX", **OME_UNITS})
    config = small_config()
    config["ingest"]["z_projection"] = "max"

    segment_samples(workdir, config, "sample\tmovie\nzs\tdata/stack.ome.tif\n", "zs")

    image = ingested(workdir, "zs")
    np.testing.assert_array_equal(np.asarray(image.data)[:, 0], stack.max(axis=1))
    # the file gives no PhysicalSizeZ: the z-step is recorded as unknown
    assert image.attrs["z_projection"] == {"method": "max", "setting": "max", "z_planes": 3, "z_step_um": None}
    labels = cell_labels(workdir, "zs")
    assert labels.shape == (3, 48, 64) and all(frame.max() >= 1 for frame in labels)
    assert segmentation_record(workdir, "zs")["n_frames"] == 3


def named_channels_movie(workdir: Path) -> str:
    """A (3, 3, 48, 64) OME-TIFF whose channels are named Brightfield, H2B-GFP, mCherry, nuclei only in H2B-GFP."""
    movie = three_channel_movie()
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    write_ome_tiff(workdir / "data" / "named.ome.tif", movie, pixel_size_um=0.5, frame_interval_min=2.0,
                   channel_names=["Brightfield", "H2B-GFP", "mCherry"])
    return "data/named.ome.tif"


def test_segment_channel_by_name_segments_that_channel_and_records_it(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    movie = named_channels_movie(workdir)
    config = small_config()
    config["segment"]["channel"] = "H2B-GFP"

    segment_samples(workdir, config, f"sample\tmovie\nnamed\t{movie}\n", "named")

    record = segmentation_record(workdir, "named")
    assert record["channel"] == 1 and record["channel_name"] == "H2B-GFP"
    assert all(frame.max() >= 2 for frame in cell_labels(workdir, "named"))  # the nuclei; the other channels are flat


def test_an_unknown_channel_name_stops_the_run_before_any_job_naming_the_files_channels(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    movie = named_channels_movie(workdir)
    config = small_config()
    config["segment"]["channel"] = "DAPI"

    lines, stderr = refusals(workdir, config, f"sample\tmovie\nnamed\t{movie}\n")

    assert lines == [
        "cellpipe: config/samples.tsv line 2 (sample 'named'): config segment.channel 'DAPI' is not a channel of "
        "data/named.ome.tif; its channels (the file's channel names): 'Brightfield', 'H2B-GFP', 'mCherry'"
    ], stderr
    assert not (workdir / "results").exists()



def test_a_training_channel_name_the_images_lack_stops_the_run_before_any_job(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    movie = named_channels_movie(workdir)
    labels = workdir / "data" / "labels.tif"
    tifffile.imwrite(labels, np.zeros((3, 48, 64), np.uint16))
    config = small_config()
    config["train"] = {"mine": {"datasets": [{"images": movie, "labels": "data/labels.tif", "channel": "GFP"}]}}
    write_workdir(workdir, config, f"sample\tmovie\nnamed\t{movie}\n")

    proc = run_snakemake(workdir, "results/models/mine/weights.pth", timeout=120)

    assert proc.returncode != 0
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.startswith("cellpipe: ")]
    assert lines == [
        "cellpipe: config train.mine.datasets[0].channel: data/named.ome.tif: no channel named 'GFP'; its channels: "
        "'Brightfield', 'H2B-GFP', 'mCherry'"
    ], proc.stderr[-2000:]
    assert not (workdir / "results").exists()

def test_an_ome_zarr_movie_runs_through_ingest_and_segment_with_its_units_and_channel_names(tmp_path: Path) -> None:
    """An NGFF 0.5 image written by ome-zarr-py (3 frames of 48x64 px, 3 labelled channels, 0.5 µm pixels,
    frames 90 s apart) named by the sample sheet is ingested with the file's units and channel names and
    segmented (classical) on the channel named in the config."""
    import zarr  # with ome-zarr-py (dask): imported by this test only
    from ome_zarr.format import FormatV05
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    movie = three_channel_movie()
    location = parse_url(str(workdir / "data" / "movie.ome.zarr"), mode="w", fmt=FormatV05())
    assert location is not None
    group = zarr.open_group(location.store, mode="w", zarr_format=3)
    channels = [{"label": name, "color": "FFFFFF", "window": {"start": 0, "end": 4095, "min": 0, "max": 65535}}
                for name in ("Brightfield", "H2B-GFP", "mCherry")]
    write_image(movie, group, axes=["t", "c", "y", "x"], scale_factors=[2], scale={"t": 90.0, "c": 1, "y": 0.5, "x": 0.5},
                axes_units={"t": "second", "y": "micrometer", "x": "micrometer"},
                storage_options={"chunks": (1, 1, 48, 64)}, omero={"channels": channels})
    config = small_config()
    config["segment"]["channel"] = "H2B-GFP"

    segment_samples(workdir, config, "sample\tmovie\nzarr\tdata/movie.ome.zarr\n", "zarr")

    image = ingested(workdir, "zarr")
    np.testing.assert_array_equal(np.asarray(image.data), movie)
    assert image.pixel_size_um == pytest.approx(0.5) and image.frame_interval_min == pytest.approx(1.5)
    assert image.channel_names == ["Brightfield", "H2B-GFP", "mCherry"]
    assert image.attrs["source_checksum"]["type"] == "directory"
    record = segmentation_record(workdir, "zarr")
    assert record["channel"] == 1 and record["n_frames"] == 3
    labels = cell_labels(workdir, "zarr")
    assert labels.shape == (3, 48, 64) and all(frame.max() >= 2 for frame in labels)


def write_czi(path: Path, movie: np.ndarray, pixel_um: float, channel_names: list[str]) -> None:
    """``movie`` (T, C, Y, X) written by libCZI (pylibCZIrw), Zeiss's own library: one subblock per plane."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for t, frame in enumerate(movie):
            for c, plane in enumerate(frame):
                czi.write(plane[..., np.newaxis], plane={"T": t, "C": c, "Z": 0})
        czi.write_metadata(channel_names=dict(enumerate(channel_names)), scale_x=pixel_um * 1e-6, scale_y=pixel_um * 1e-6)


def test_a_czi_movie_runs_through_ingest_and_segment_with_its_pixel_size_and_channel_names(tmp_path: Path) -> None:
    """A CZI written by libCZI (3 frames of 48x64 px, 3 named channels, 0.5 µm pixels, no frame times: the sheet
    gives the interval) is read through bioio-czi, ingested with the file's pixel size and channel names and
    segmented (classical) on the channel named in the config."""
    pytest.importorskip("bioio_czi", reason="bioio-czi is not installed")
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    movie = three_channel_movie()
    write_czi(workdir / "data" / "movie.czi", movie, 0.5, ["Brightfield", "H2B-GFP", "mCherry"])
    config = small_config()
    config["segment"]["channel"] = "H2B-GFP"

    segment_samples(workdir, config, "sample\tmovie\tframe_interval_min\nczi\tdata/movie.czi\t2\n", "czi")

    image = ingested(workdir, "czi")
    np.testing.assert_array_equal(np.asarray(image.data), movie)
    assert image.pixel_size_um == pytest.approx(0.5) and image.frame_interval_min == pytest.approx(2.0)
    assert image.channel_names == ["Brightfield", "H2B-GFP", "mCherry"]
    assert image.attrs["pixel_size_source"] == "file metadata" and image.attrs["frame_interval_source"] == "sample sheet"
    assert image.attrs["file_frame_interval_from"] is None  # libCZI wrote no acquisition times
    assert image.attrs["source_checksum"]["bytes"] == (workdir / "data" / "movie.czi").stat().st_size
    record = segmentation_record(workdir, "czi")
    assert record["channel"] == 1 and record["n_frames"] == 3
    labels = cell_labels(workdir, "czi")
    assert labels.shape == (3, 48, 64) and all(frame.max() >= 2 for frame in labels)


def test_a_truncated_czi_stops_the_run_before_any_job_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("bioio_czi", reason="bioio-czi is not installed")
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    whole = workdir / "data" / "whole.czi"
    write_czi(whole, np.ones((3, 1, 32, 32), np.uint16), 0.5, ["nuclei"])
    (workdir / "data" / "cut.czi").write_bytes(whole.read_bytes()[:-300])

    lines, stderr = refusals(workdir, small_config(), "sample\tmovie\tframe_interval_min\ncut\tdata/cut.czi\t2\n")

    assert len(lines) == 1, stderr
    assert lines[0].startswith("cellpipe: config/samples.tsv line 2 (sample 'cut'): data/cut.czi: not a readable Zeiss "
                               "CZI file (bioio-czi: ")
    assert not (workdir / "results").exists()


def write_ome_zarr_well(path: Path, fields: list[np.ndarray]) -> Path:
    """An NGFF 0.5 plate written by ome-zarr-py: one well, B3, whose fields are ``fields`` ((T, Y, X) each, 0.5 µm
    pixels, 2 min per frame)."""
    import zarr  # with ome-zarr-py (dask): imported by the tests that write OME-Zarr only
    from ome_zarr.format import FormatV05
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    location = parse_url(str(path), mode="w", fmt=FormatV05())
    assert location is not None
    root = zarr.open_group(location.store, mode="w", zarr_format=3)
    write_plate_metadata(root, ["B"], ["3"], ["B/3"], fmt=FormatV05(), field_count=len(fields))
    well = root.require_group("B").require_group("3")
    write_well_metadata(well, [str(f) for f in range(len(fields))], fmt=FormatV05())
    for f, data in enumerate(fields):
        write_image(data, well.require_group(str(f)), fmt=FormatV05(), axes=["t", "y", "x"], scale_factors=[],
                    scale={"t": 2.0, "y": 0.5, "x": 0.5}, axes_units={"t": "minute", "y": "micrometer", "x": "micrometer"},
                    storage_options={"chunks": (1, *data.shape[1:])})
    return path


def write_plate_ome_tiff(path: Path, positions: dict[str, np.ndarray]) -> Path:
    """An OME-TIFF written by tifffile with one OME Image (position) per item of ``positions``: its name and its
    (T, Y, X) movie, 0.5 µm pixels, 2 min per frame."""
    with tifffile.TiffWriter(path, ome=True) as tif:
        for name, movie in positions.items():
            tif.write(movie, metadata={"axes": "TYX", "Name": name, **OME_UNITS})
    return path


def test_the_positions_of_one_ome_tiff_become_samples_that_run_through_ingest_and_segment(tmp_path: Path) -> None:
    """An OME-TIFF of 3 positions (OME Images 'A1', 'A2' and 'B 1', each 3 frames of 48x64 px of its own nuclei)
    on one sheet row with ``positions: all`` becomes samples plate_A1, plate_A2 and plate_B_1, each ingested from
    its own position (recorded in the image) and segmented (classical); the second field of well B3 of an OME-Zarr
    plate, named on a row of its own, becomes sample wells_B03_1 the same way."""
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    movies = {name: make_nuclei_movie(n_frames=3, shape=(48, 64), seed=seed).image
              for seed, name in enumerate(("A1", "A2", "B 1", "B03_0", "B03_1"))}
    write_plate_ome_tiff(workdir / "data" / "plate.ome.tif", {name: movies[name] for name in ("A1", "A2", "B 1")})
    write_ome_zarr_well(workdir / "data" / "wells.ome.zarr", [movies["B03_0"], movies["B03_1"]])
    samples = {"plate_A1": ("A1", 0), "plate_A2": ("A2", 1), "plate_B_1": ("B 1", 2), "wells_B03_1": ("B03_1", 1)}

    segment_samples(workdir, small_config(), "sample\tmovie\tpositions\nplate\tdata/plate.ome.tif\tall\n"
                    "wells\tdata/wells.ome.zarr\tB03_1\n", *samples, timeout=400)

    for sample, (name, index) in samples.items():
        image = ingested(workdir, sample)
        np.testing.assert_array_equal(np.asarray(image.data)[:, 0], movies[name])
        assert image.attrs["position"] == {"index": index, "name": name} and image.attrs["sample"] == sample
        labels = cell_labels(workdir, sample)
        assert labels.shape == (3, 48, 64) and all(frame.max() >= 2 for frame in labels)


def test_replacing_the_later_file_of_a_two_file_ome_tiff_reruns_ingest(tmp_path: Path) -> None:
    """A Micro-Manager position split over two files (4 frames of 8x10 px, 2 frames per file): after ingest, a second
    file with other pixels in frames 2-3 makes ``snakemake -n`` plan ingest_movie again; an unrelated file beside it
    rewritten does not.  Both are given a later mtime than the output; Snakemake also compares the checksum it
    recorded of a small input, so a touch alone with the same bytes would not count."""
    import os
    import shutil

    from unit.test_io_movies_micromanager import position_movie, write_mm_dataset  # tests/ is on sys.path (conftest)

    workdir = tmp_path / "work"
    config = small_config()
    movie = position_movie(0)
    folder = write_mm_dataset(workdir / "data", [movie], frames_per_file=2)
    (folder / "notes.txt").write_text("not part of the movie\n")
    write_workdir(workdir, config, "sample\tmovie\nmm\tdata/exp_MMStack_Pos0.ome.tif\n")
    image = layout.ome_zarr(layout.IMAGE_STORE, config["ome_zarr"]["version"]).format(results="results", sample="mm")
    proc = run_snakemake(workdir, image, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]

    def planned() -> bool:
        """Whether a dry run to the ingested image would run ingest_movie."""
        proc = run_snakemake(workdir, image, "-n", timeout=120)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return "ingest_movie" in proc.stdout + proc.stderr

    def rewritten(path: Path, source: Path) -> None:
        """``path`` replaced by ``source``'s bytes, with an mtime 10 s later than the output's."""
        shutil.copyfile(source, path)
        later = os.stat(workdir / image).st_mtime + 10
        os.utime(path, (later, later))

    assert not planned()
    (tmp_path / "notes.txt").write_text("other notes\n")
    rewritten(folder / "notes.txt", tmp_path / "notes.txt")
    assert not planned()
    other = movie.copy()
    other[2:] += 1  # the frames the second file holds
    write_mm_dataset(tmp_path / "other", [other], frames_per_file=2)
    rewritten(folder / "exp_MMStack_Pos0_1.ome.tif", tmp_path / "other" / "exp_MMStack_Pos0_1.ome.tif")
    assert planned()

    # a cluster job (snakemake --mode remote) reads no header: it names the same two inputs, from the record the
    # main process wrote at its start
    for mode in ((), ("--mode", "remote")):
        proc = run_snakemake(workdir, image, "-n", "--forcerun", "ingest_movie", *mode, timeout=120)
        assert proc.returncode == 0, proc.stderr[-4000:]
        inputs = [ln.split(":", 1)[1].strip() for ln in proc.stdout.splitlines() if ln.strip().startswith("input:")]
        assert inputs == ["data/exp_MMStack_Pos0.ome.tif, data/exp_MMStack_Pos0_1.ome.tif"], (mode, proc.stdout[-2000:])


def label_means(labels: np.ndarray, image: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """(frame, label) -> mean of each channel over the label's pixels: ``labels`` (T, Y, X), ``image`` (T, C, Y, X)."""
    means = {}
    for t, frame in enumerate(labels):
        flat = frame.ravel()
        n = np.bincount(flat)
        sums = np.stack([np.bincount(flat, weights=channel.ravel().astype(np.float64), minlength=n.size)
                         for channel in image[t]])
        means.update({(t, int(v)): sums[:, v] / n[v] for v in np.flatnonzero(n) if v > 0})
    return means


def three_named_channels(nuclei: np.ndarray, flat: int) -> np.ndarray:
    """(T, 3, Y, X) uint16 of channels Brightfield (``flat`` everywhere), DAPI (``nuclei``, (T, Y, X)) and mCherry (a
    ramp of 7 + 10 per px along x): a cell's means are ``flat``, its own DAPI mean and 7 + 10 times its centroid's x."""
    ramp = np.broadcast_to((7 + 10 * np.arange(nuclei.shape[-1])).astype(np.uint16), nuclei.shape)
    return np.stack([np.full_like(nuclei, flat), nuclei, ramp], axis=1)


def test_positions_of_three_channels_and_a_micro_manager_dataset_run_to_the_end_in_one_run(tmp_path: Path) -> None:
    """One run of the whole workflow (no target: every sample's tracks, measurements, exports, QC, provenance and
    report, and the summary), segmented (classical) on ``segment.channel: DAPI``, on a sheet of two rows:

    - ``plate``: an OME-TIFF of 2 positions (A1, A2; 3 frames of 48x64 px) in 3 named channels, Brightfield flat at
      100 (A1) or 200 (A2), DAPI nuclei of their own, mCherry a ramp along x (:func:`three_named_channels`),
      ``positions: all``: samples plate_A1 and plate_A2; each position at a stage position of its own (A1 in µm,
      A2 in mm), A1's interval its ``TimeIncrement`` and A2's from its planes' ``DeltaT`` (no ``TimeIncrement``);
    - ``mm``: a Micro-Manager dataset folder of one position (Pos0; 4 frames of 48x64 px, 0.3 µm pixels, 90 s
      apart, stage at (0.5, 0, 1.25) µm) split over two files of 2 frames, channels DAPI (nuclei) and GFP (twice
      DAPI): sample mm_Pos0.

    DAPI is channel 1 of the plate and channel 0 of the dataset; every channel is measured, each with its own values.
    One file holds both the positions and the 3 channels, and the plate has 2 positions, to keep the run short."""
    from geff.core_io import read_to_memory
    from unit.test_io_movies_micromanager import write_mm_dataset  # tests/ is on sys.path (conftest)

    workdir = tmp_path / "work"
    data = workdir / "data"
    data.mkdir(parents=True)
    plate = {name: three_named_channels(make_nuclei_movie(n_frames=3, shape=(48, 64), seed=seed).image, flat)
             for name, seed, flat in (("A1", 1, 100), ("A2", 2, 200))}
    n_planes = 3 * 3  # frames x channels; tifffile lists the planes channel first
    times = {"DeltaT": [t * 120.0 + c * 0.3 for t in range(3) for c in range(3)], "DeltaTUnit": ["s"] * n_planes}
    stages = {"A1": (100.5, -20.0, "µm"), "A2": (1.25, 3.5, "mm")}
    with tifffile.TiffWriter(data / "plate.ome.tif", ome=True) as tif:
        for name, movie in plate.items():
            x, y, unit = stages[name]
            planes = {"PositionX": [x] * n_planes, "PositionXUnit": [unit] * n_planes, "PositionY": [y] * n_planes,
                      "PositionYUnit": [unit] * n_planes}
            # A2 gives no TimeIncrement: its interval comes from its planes' times, 120 s apart
            units = OME_UNITS if name == "A1" else {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
            tif.write(movie, metadata={"axes": "TCYX", "Name": name, "Channel": {"Name": ["Brightfield", "DAPI", "mCherry"]},
                                       **units, "Plane": planes if name == "A1" else {**planes, **times}})
    mm_nuclei = make_nuclei_movie(n_frames=4, shape=(48, 64), seed=3).image
    mm_movie = np.stack([mm_nuclei, 2 * mm_nuclei], axis=1)  # (T, C, Y, X); the helper names its channels DAPI, GFP
    write_mm_dataset(data / "mm", [mm_movie], frames_per_file=2, stage=True)
    assert sorted(f.name for f in (data / "mm").iterdir()) == ["exp_MMStack_Pos0.ome.tif", "exp_MMStack_Pos0_1.ome.tif"]
    config = small_config()
    config["segment"]["channel"] = "DAPI"
    write_workdir(workdir, config, "sample\tmovie\tpositions\nplate\tdata/plate.ome.tif\tall\nmm\tdata/mm\tall\n")

    proc = run_snakemake(workdir, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]

    three = ["Brightfield", "DAPI", "mCherry"]
    samples = {"plate_A1": (plate["A1"], three, 0.5, 2.0, 0), "plate_A2": (plate["A2"], three, 0.5, 2.0, 1),
               "mm_Pos0": (mm_movie, ["DAPI", "GFP"], 0.3, 1.5, 0)}
    results = workdir / "results"
    summary = (results / "summary.html").read_text()
    for sample, (movie, names, pixel_um, interval_min, position) in samples.items():
        image = ingested(workdir, sample)
        np.testing.assert_array_equal(np.asarray(image.data), movie)  # mm: frames 2 and 3 from the second file
        assert image.channel_names == names and image.attrs["position"]["index"] == position
        assert image.pixel_size_um == pytest.approx(pixel_um) and image.frame_interval_min == pytest.approx(interval_min)
        record = segmentation_record(workdir, sample)
        assert record["channel_name"] == "DAPI" and record["channel"] == names.index("DAPI")
        cells = tables.read_parquet(results / sample / "cells.parquet")
        assert sorted(cells["frame"].unique()) == list(range(len(movie)))  # cells in every frame
        np.testing.assert_allclose(cells["time_min"], interval_min * cells["frame"])
        means = label_means(cell_labels(workdir, sample), movie)
        keys = list(zip(cells["frame"], cells["label"], strict=True))
        assert sorted(keys) == sorted(means)  # every object once
        for c, name in enumerate(names):  # every channel measured, with its own values
            expected = np.array([means[key][c] for key in keys])
            np.testing.assert_allclose(cells[f"mean_intensity_{name}"], expected, rtol=1e-12)
            np.testing.assert_allclose(cells[f"integrated_intensity_{name}"], expected * cells["area_px"], rtol=1e-12)
        tracks = tables.read_parquet(results / sample / "tracks.parquet")
        assert tracks["frame"].max() == len(movie) - 1
        assert tables.read_parquet(results / sample / "track_metrics.parquet")["n_frames"].max() == len(movie)
        nodes = read_to_memory(str(results / sample / "tracks.geff"))["node_props"]
        for name in names:  # the exports carry every channel's intensities
            assert set(np.asarray(nodes[f"mean_intensity_{name}"]["values"])) <= set(cells[f"mean_intensity_{name}"])
        for done in ("tracks_napari.csv", "tracks.trackmate.xml", "qc.json", "provenance.json", "ctc/res_track.txt"):
            assert (results / sample / done).stat().st_size > 0, (sample, done)
        assert sample in (results / sample / "report.html").read_text() and sample in summary

    # each position's own stage position (µm) and where its interval came from, in its image and its provenance
    recorded = {"plate_A1": ({"x": 100.5, "y": -20.0, "z": None}, None),
                "plate_A2": ({"x": 1250.0, "y": 3500.0, "z": None},
                             "timestamps (OME Plane DeltaT: frame 0 to frame 2, mean of 2 intervals)"),
                "mm_Pos0": ({"x": 0.5, "y": 0.0, "z": 1.25}, None)}
    for sample, (stage, interval_from) in recorded.items():
        attrs = ingested(workdir, sample).attrs
        assert attrs["stage_position_um"] == pytest.approx(stage)
        assert attrs["file_frame_interval_from"] == interval_from
        movie_entry = next(e for e in json.loads((results / sample / "provenance.json").read_text())["inputs"]
                           if e["role"] == "movie")
        assert movie_entry["stage_position_um"] == pytest.approx(stage)
        assert movie_entry["physical"].get("file_frame_interval_from") == interval_from
        assert movie_entry["physical"]["frame_interval_min"] == pytest.approx(samples[sample][3])

    for sample, flat in (("plate_A1", 100), ("plate_A2", 200)):  # the values each channel of each position has
        cells = tables.read_parquet(results / sample / "cells.parquet")
        assert (cells["mean_intensity_Brightfield"] == flat).all()
        np.testing.assert_allclose(cells["mean_intensity_mCherry"], 7 + 10 * cells["centroid_x_um"] / 0.5, rtol=1e-9)
    cells = tables.read_parquet(results / "mm_Pos0" / "cells.parquet")
    np.testing.assert_array_equal(cells["mean_intensity_GFP"], 2 * cells["mean_intensity_DAPI"])
