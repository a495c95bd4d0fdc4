"""Memory requests from the movie's header (cellpipe.resources): small movies ask little, large frames ask
what they need, rather than one fixed request per rule that is too much for the one and too little for the other."""

from __future__ import annotations

from pathlib import Path

from cellpipe.preflight import MovieSize
from cellpipe.resources import ingest_mem_mb, normalize_mem_mb, segment_diameter_px, segment_mem_mb

SMALL = MovieSize((40, 1, 256, 256), "uint16", 0.65)
LARGE = MovieSize((40, 1, 8000, 8000), "uint16", 0.65)


def test_a_small_movie_asks_far_less_than_the_old_fixed_requests() -> None:
    assert ingest_mem_mb(SMALL) <= 500 and normalize_mem_mb(SMALL) <= 500
    assert segment_mem_mb(SMALL, "classical", 17.7) <= 500
    assert segment_mem_mb(SMALL, "cellpose", 17.7) <= 3000  # was 8000


def test_large_frames_ask_for_what_they_hold() -> None:
    """An 8000² uint16 frame is 128 MB; normalize holds 16 of them as float32 (4 GB) besides the raw batch."""
    assert ingest_mem_mb(LARGE) >= 400 + 5 * 128
    assert normalize_mem_mb(LARGE) >= 16 * 64 * (4 + 2) * 2  # more than the old 4 GB, with room for temporaries
    assert segment_mem_mb(LARGE, "classical", None) > 4000
    assert segment_mem_mb(LARGE, "cellpose", 30.0) > 8000


def test_requests_grow_with_channels_pixel_type_and_frames_per_batch_only() -> None:
    base = MovieSize((40, 1, 2048, 2048), "uint16", 0.65)
    two_channels = MovieSize((40, 2, 2048, 2048), "uint16", 0.65)
    floats = MovieSize((40, 1, 2048, 2048), "float32", 0.65)
    longer = MovieSize((4000, 1, 2048, 2048), "uint16", 0.65)
    assert ingest_mem_mb(two_channels) > ingest_mem_mb(base) and ingest_mem_mb(floats) > ingest_mem_mb(base)
    assert normalize_mem_mb(two_channels) > normalize_mem_mb(base)
    assert ingest_mem_mb(longer) == ingest_mem_mb(base) and normalize_mem_mb(longer) == normalize_mem_mb(base)
    assert normalize_mem_mb(MovieSize((2, 1, 2048, 2048), "uint16", 0.65)) < normalize_mem_mb(base)  # a batch of 2
    assert all(mb % 100 == 0 for mb in (ingest_mem_mb(base), normalize_mem_mb(base), segment_mem_mb(base, "cellpose", 20)))


def test_cellpose_memory_follows_the_rescaling_by_the_cell_diameter() -> None:
    frame = MovieSize((10, 1, 2048, 2048), "uint16", 0.65)
    small_cells, large_cells = segment_mem_mb(frame, "cellpose", 10.0), segment_mem_mb(frame, "cellpose", 60.0)
    assert small_cells > 4 * large_cells - 4 * 2500  # (30/10)² = 9 against (30/60)² = 0.25 times the frame
    assert segment_mem_mb(frame, "classical", 10.0) == segment_mem_mb(frame, "classical", 60.0)


def test_the_diameter_in_px_is_the_segment_jobs() -> None:
    assert segment_diameter_px({"diameter_um": 11.5, "diameter_px": None}, 0.5) == 23.0
    assert segment_diameter_px({"diameter_um": 11.5, "diameter_px": 40}, 0.5) == 40.0
    assert segment_diameter_px({"diameter_um": 11.5, "estimate_diameter": True}, 0.5) is None
    assert segment_diameter_px({"diameter_um": None, "diameter_px": None}, 0.5) is None


def _stack(z: int, yx: int) -> MovieSize:
    """A 3-D movie of (z, yx, yx) voxel stacks of 0.5 µm pixels."""
    return MovieSize((30, 1, yx, yx), "uint16", 0.5, z_planes=z)


def test_do_3d_asks_for_its_flows_over_the_stack_resampled_to_cubic_voxels() -> None:
    """'do_3d' holds the 3-D flows of the stack stretched along z by z step / pixel (2 µm / 0.5 µm = 4) and
    rescaled to the model's 30 px cells: its request grows with the stack, the z step and 1 / diameter³; 'stitch'
    holds one network pass of planes, as many as fill batch_size tiles."""
    from cellpipe.resources import DO_3D_BYTES_PER_VOXEL, SEGMENT_BASE_MB, segment_stack_mem_mb

    def do_3d(size: MovieSize, diameter_px: float = 30.0, z_step_um: float = 2.0) -> int:
        return segment_stack_mem_mb(size, "cellpose", diameter_px, mode_3d="do_3d", z_step_um=z_step_um)

    small, issue, large = do_3d(_stack(16, 128)), do_3d(_stack(32, 256)), do_3d(_stack(64, 1024))
    assert small < issue < large
    # 32 x 256 x 256 voxels stretched 4-fold along z: 8.4 M voxels of flows
    assert issue >= SEGMENT_BASE_MB["cellpose"] + DO_3D_BYTES_PER_VOXEL * 128 * 256 * 256 / 1e6
    assert large - SEGMENT_BASE_MB["cellpose"] > 100 * (small - SEGMENT_BASE_MB["cellpose"]) / 2  # 128x the voxels
    assert do_3d(_stack(32, 256), z_step_um=4.0) > issue  # anisotropy 8 doubles the resampled planes
    assert do_3d(_stack(32, 256), diameter_px=15.0) > 6 * (issue - 2500)  # cells half the model's: 8x the voxels
    stitch = segment_stack_mem_mb(_stack(32, 256), "cellpose", 30.0, mode_3d="stitch", z_step_um=2.0, batch_size=1)
    # one pass of 16 planes of 256² px (batch 1 x 1024² px), not the 32 planes of the stack
    assert stitch < segment_stack_mem_mb(_stack(32, 256), "cellpose", 30.0, mode_3d="stitch", batch_size=2)
    assert all(mb % 100 == 0 for mb in (small, issue, large, stitch))


def test_blocks_bound_the_request_by_the_block_not_the_stack() -> None:
    """Block by block, 'do_3d' and classical hold one block's arrays besides the whole stack's labels: the
    request of a large stack falls to that of about one block, and a stack larger in y and x (same block)
    asks only for the stack-sized labels more."""
    from cellpipe.resources import segment_stack_mem_mb

    def request(size: MovieSize, method: str, core_um: float | None) -> int:
        return segment_stack_mem_mb(size, method, 30.0, mode_3d="do_3d", z_step_um=2.0, block_size_um=core_um,
                                    block_overlap_um=15.0)

    block_alone = request(_stack(32, 128), "cellpose", None)  # about one block: 64 x 128 x 128 voxels reach
    for method in ("cellpose", "classical"):
        one_pass, blocks = request(_stack(64, 1024), method, None), request(_stack(64, 1024), method, 34.0)
        larger = request(_stack(64, 2048), method, 34.0)
        assert blocks < one_pass / 4, (method, blocks, one_pass)
        assert blocks < larger < blocks + 12 * 64 * 2048 * 2048 / 1e6 + 100, method  # only the whole-stack arrays grow
    # a block's 64 x 128 x 128 voxels (core 34 µm = 68 px, 30 px of overlap each side) plus the labels
    assert request(_stack(64, 1024), "cellpose", 34.0) <= block_alone * 1.2 + 12 * 64 * 1024 * 1024 / 1e6
    # a stack no larger than one block asks what one pass asks
    assert request(_stack(16, 64), "cellpose", 100.0) <= request(_stack(16, 64), "cellpose", None) + 100


def _ome_stack_movie(path: Path, z_step_um: float | None) -> Path:
    """A 2-frame OME-TIFF of 4 z-planes of 32 x 32 px at 0.5 µm, its z step (µm) as ``PhysicalSizeZ`` (None: none)."""
    import numpy as np
    import tifffile

    meta: dict[str, object] = {"axes": "TZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 2.0,
                               "TimeIncrementUnit": "min"}
    if z_step_um is not None:
        meta["PhysicalSizeZ"] = z_step_um
    tifffile.imwrite(path, np.zeros((2, 4, 32, 32), np.uint16), ome=True, metadata=meta)
    return path


def _do_3d_request(tmp_path: Path, repo: Path, sheet_z_um: str = "", **ingest: object) -> int:
    """segment_frames' request for the movie at ``tmp_path / 'm.ome.tif'``, sized as the workflow sizes it: the
    start-up check's MovieSize (read back from the record of checked files, as a later start does) and the job's
    segment settings (Cellpose do_3d at a 1.5 µm = 3 px diameter, so the figures sit far apart after rounding)."""
    from cellpipe.config import load_config
    from cellpipe.config.jobs import JobSettings
    from cellpipe.preflight import check_samples
    from cellpipe.resources import segment_frames_mem_mb

    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\tpixel_size_z_um\ns\t{tmp_path / 'm.ome.tif'}\t{sheet_z_um}\n", encoding="utf-8")
    model = "resources/models/cellpipe_nuclei/weights.pth"
    config = load_config({"ingest": {"z_projection": "keep", **ingest},
                          "segment": {"method": "cellpose", "diameter_um": 1.5, "cellpose": {"mode_3d": "do_3d", "model": model}}})
    record = tmp_path / "checked_files.json"
    requests = []
    for _start in ("headers read", "from the record"):
        sizes: dict[str, MovieSize] = {}
        (row,) = check_samples(sheet, config, checked_record=record, sizes=sizes)
        settings = JobSettings(config, repo).job_settings("segment", row).model_dump(mode="json")
        requests.append(segment_frames_mem_mb(sizes["s"], settings, volumes=True))
    assert requests[0] == requests[1]
    return requests[0]


def test_do_3d_asks_for_the_z_step_the_file_header_gives(tmp_path: Path, repo: Path, caplog) -> None:
    """do_3d's request stretches the stack by z step / pixel, read before any job as ingest will take it: the
    sheet's pixel_size_z_um, else the file's PhysicalSizeZ, else ingest.default_pixel_size_z_um; the 5 px
    assumption only for a size that carries none, with a warning.  4 x 32 x 32 voxels at 3 px cells (area scale
    (30 / 3)² = 100, so 1000 along three axes): 100 B per resampled voxel of 4 x (z step / 0.5 µm) x 32 x 32 x 1000,
    plus Cellpose's 2500 MB, rounded up to 100 MB."""
    import logging

    from cellpipe.resources import segment_frames_mem_mb

    _ome_stack_movie(tmp_path / "m.ome.tif", z_step_um=1.0)  # anisotropy 2: 819.2 MB of flows
    assert _do_3d_request(tmp_path, repo) == 3400
    assert _do_3d_request(tmp_path, repo, sheet_z_um="2") == 4200  # the sheet wins: anisotropy 4, 1638.4 MB
    _ome_stack_movie(tmp_path / "m.ome.tif", z_step_um=None)
    assert _do_3d_request(tmp_path, repo, default_pixel_size_z_um=1.5) == 3800  # anisotropy 3, 1228.8 MB

    settings = {"method": "cellpose", "diameter_um": 1.5,
                "cellpose": {"mode_3d": "do_3d", "block_size_um": None, "block_overlap_um": None, "tile_px": 1024,
                             "batch_size": None}}
    with caplog.at_level(logging.WARNING, logger="cellpipe.resources"):
        unknown = segment_frames_mem_mb(MovieSize((2, 1, 32, 32), "uint16", 0.5, z_planes=4), settings, volumes=True)
    assert unknown == 4600  # anisotropy 5: 2048 MB
    assert "assumes z step / pixel = 5" in caplog.text
