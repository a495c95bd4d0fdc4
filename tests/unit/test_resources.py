"""Memory requests from the movie's header (cellpipe.resources): small movies ask little, large frames ask
what they need, rather than one fixed request per rule that is too much for the one and too little for the other."""

from __future__ import annotations

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
