"""The compiled network pass (``segment.cellpose.compile: true``) gives the eager pass's masks.

Not collected by ``make test`` (the file name does not match ``test_*.py``): capturing CPnet's graph
takes seconds and inductor's compiling minutes on 2 cores. Run it by naming it:

    PYTHONPATH=src .venv/bin/python -m pytest tests/compile/check_compiled_network.py

bench/RESULTS.md (issue #28) gives its time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellpipe import segment
from cellpipe.config import SegmentSettings
from cellpipe.segment import load_cellpose_model, segment_cells

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, float]:
    """3 simulated frames of 96 x 112 px (6 nuclei of 9 px semi-major axis), normalized, and the pixel size (µm)."""
    from cellpipe.config import NormalizeSettings
    from cellpipe.normalize import normalize_movie
    from cellpipe.simulate import make_nuclei_movie

    movie = make_nuclei_movie(n_frames=3, shape=(96, 112), seed=4, nucleus_radius_px=9.0, n_cells=6)
    return np.asarray(normalize_movie(movie.image[:, np.newaxis], NormalizeSettings())[0])[:, 0], movie.pixel_size_um


def _masks(frames: np.ndarray, pixel_size_um: float, model: object, compiled: bool) -> np.ndarray:
    settings = SegmentSettings(
        method="cellpose", diameter_um=10.0,
        cellpose={"model": str(SHIPPED), "device": "cpu", "batch_size": 2, "compile": compiled},
    )
    labels, info = segment_cells(frames, settings, pixel_size_um, model=model)
    assert info["network_runtime"] == ("inductor" if compiled else "torch")
    return labels


def test_compiled_wrapper_pads_the_last_pass_and_gives_the_eager_masks(frames, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 2 frames per pass the wrapper gets passes of 2 and 1 frames, pads the last to 2 so that one graph of
    one shape is compiled, and gives every frame the eager network's masks. The backend runs the graph
    torch.compile captures without generating code, so this checks the wrapper, not inductor's arithmetic."""
    graphs: list[tuple[int, ...]] = []  # the tile batch shape of each graph compiled

    def capture_only(graph: object, example_inputs: list) -> object:
        # the frames' tiles: (N, 2, Y, X); parameters may be graph inputs too, none of that shape
        graphs.extend(tuple(t.shape) for t in example_inputs if t.ndim == 4 and t.shape[1] == 2 and t.shape[2] > 3)
        return graph.forward  # type: ignore[attr-defined]

    monkeypatch.setattr(segment.runtime, "COMPILE_BACKEND", capture_only)
    images, pixel_size = frames
    model = load_cellpose_model(SHIPPED, "cpu")
    calls: list[int] = []
    original = segment.CompiledNetwork.__call__

    def counted(self: segment.CompiledNetwork, x: object) -> object:
        calls.append(int(x.shape[0]))  # type: ignore[attr-defined]
        return original(self, x)

    monkeypatch.setattr(segment.CompiledNetwork, "__call__", counted)
    eager = _masks(images, pixel_size, model, compiled=False)
    compiled = _masks(images, pixel_size, model, compiled=True)
    assert calls == [2, 1]
    assert len(graphs) == 1 and graphs[0][0] == 2
    assert list(model._cellpipe_networks) == [("inductor", 2, False)]  # (runtime, tiles per pass, falls back to torch)
    assert all(int(frame.max()) >= 4 for frame in eager)
    np.testing.assert_array_equal(compiled, eager)


def test_inductor_pass_gives_the_eager_masks(frames) -> None:
    """The real thing: inductor's code (frozen weights) differs from the eager network by float rounding only,
    so every frame keeps its masks (AP@0.5 1.0) and all but a few border pixels."""
    from cellpipe.metrics import instance_scores

    images, pixel_size = frames
    model = load_cellpose_model(SHIPPED, "cpu")
    eager = _masks(images, pixel_size, model, compiled=False)
    compiled = _masks(images, pixel_size, model, compiled=True)
    for t in range(len(images)):
        assert int(eager[t].max()) >= 4, t
        assert instance_scores(eager[t], compiled[t])["0.5"]["ap"] == 1.0, t
        assert np.mean(eager[t] != compiled[t]) < 1e-3, t
