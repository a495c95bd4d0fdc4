"""segment.cellpose.compile: onnxruntime runs the network pass through ONNX Runtime with torch's masks."""

from __future__ import annotations

import os
import socket
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from cellpipe import segment
from cellpipe.config import SegmentSettings
from cellpipe.segment import load_cellpose_model, segment_cells

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"


@pytest.fixture(scope="module")
def frames(six_nuclei_frames: tuple[np.ndarray, float]) -> tuple[np.ndarray, float]:
    """The session's six simulated nuclei in 3 normalized frames, and the pixel size (µm)."""
    return six_nuclei_frames


def _labels(frames: np.ndarray, pixel_size_um: float, model: object, compile_: bool | str) -> tuple[np.ndarray, dict]:
    settings = SegmentSettings(
        method="cellpose", diameter_um=10.0,
        cellpose={"model": str(SHIPPED), "device": "cpu", "batch_size": 2, "compile": compile_},
    )
    return segment_cells(frames, settings, pixel_size_um, model=model)


def test_onnxruntime_pass_gives_torchs_masks_offline_writing_only_the_cache(
    frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 2 frames per pass the network gets passes of 2 and 1 frames; the last is padded to 2, so one ONNX model
    of one shape is exported, and kept in the cache folder only (the working folder stays empty, no socket is
    opened). ONNX Runtime's arithmetic differs from torch's by float rounding only, so every frame keeps its masks."""
    from cellpipe.metrics import instance_scores

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access during the ONNX export")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path / "cache"))
    images, pixel_size = frames
    model = load_cellpose_model(SHIPPED, "cpu")
    calls: list[int] = []
    original = segment.OnnxNetwork._run

    def counted(self: segment.OnnxNetwork, x: object) -> object:
        calls.append(int(x.shape[0]))  # type: ignore[attr-defined]
        return original(self, x)

    monkeypatch.setattr(segment.OnnxNetwork, "_run", counted)
    eager, eager_info = _labels(images, pixel_size, model, False)
    onnx, onnx_info = _labels(images, pixel_size, model, "onnxruntime")
    assert (eager_info["network_runtime"], onnx_info["network_runtime"]) == ("torch", "onnxruntime")
    assert onnx_info["onnxruntime_version"] == version("onnxruntime") and "onnxruntime_version" not in eager_info
    assert calls == [2, 2]  # passes of 2 and 1 frames, the second padded
    network = model._cellpipe_networks[("onnxruntime", 2, False)]
    assert list(model._cellpipe_networks) == [("onnxruntime", 2, False)]
    assert len(network._sessions) == 1 and next(iter(network._sessions))[0] == 2
    assert os.listdir(tmp_path / "work") == []
    kept = list((tmp_path / "cache").rglob("*"))
    assert [p.relative_to(tmp_path / "cache").as_posix() for p in kept if p.is_file()] == [
        f"onnx/{segment.onnx_cache_name(model.net, next(iter(network._sessions)))}"]
    for t in range(len(images)):
        assert int(eager[t].max()) >= 4, t
        assert instance_scores(eager[t], onnx[t])["0.5"]["ap"] == 1.0, t
        assert np.mean(eager[t] != onnx[t]) < 1e-3, t


def test_onnxruntime_network_outputs_match_torch(frames) -> None:
    """The exported network's flows, cell probability and styles against torch's on the same tiles."""
    import torch

    model = load_cellpose_model(SHIPPED, "cpu")
    network = segment.OnnxNetwork(model.net, 2)
    tiles = torch.zeros((1, 2, 96, 112))
    tiles[0, 0] = torch.from_numpy(frames[0][0])
    with torch.no_grad():
        want_flows, want_style = model.net(tiles.contiguous(memory_format=torch.channels_last))[:2]
    flows, style = network(tiles)
    assert flows.shape == want_flows.shape == (1, 3, 96, 112) and style.shape == want_style.shape
    np.testing.assert_allclose(flows.numpy(), want_flows.numpy(), atol=1e-3)
    np.testing.assert_allclose(style.numpy(), want_style.numpy(), atol=1e-4)
    assert float(want_flows[0, 2].max()) > 0  # the tile holds cells: the check compares something


def _export_refused(*args: object, **kwargs: object) -> None:
    raise AssertionError("the network was exported although the cache holds it")


def test_a_later_job_reads_the_exported_network_from_the_cache(frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second model loaded from the same weights (a later job) reads the cached ONNX model instead of exporting,
    with the same outputs; an entry ONNX Runtime cannot load is exported again and replaced; other weights, or
    another tile shape, get their own entry."""
    import torch

    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path))
    tiles = torch.zeros((2, 2, 96, 112))
    tiles[0, 0] = torch.from_numpy(frames[0][0])
    first = segment.OnnxNetwork(load_cellpose_model(SHIPPED, "cpu").net, 2)
    want = first(tiles)
    (entry,) = (tmp_path / "onnx").iterdir()
    size = entry.stat().st_size
    assert size > 1_000_000

    monkeypatch.setattr(torch.onnx, "export", _export_refused)
    later = load_cellpose_model(SHIPPED, "cpu")
    assert segment.onnx_cache_name(later.net, (2, 2, 96, 112)) == entry.name
    got = segment.OnnxNetwork(later.net, 2)(tiles)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    monkeypatch.undo()
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path))
    entry.write_bytes(b"not an ONNX model")
    again = segment.OnnxNetwork(later.net, 2)(tiles)
    np.testing.assert_array_equal(again[0].numpy(), want[0].numpy())
    assert entry.stat().st_size == size  # replaced by a fresh export

    assert segment.onnx_cache_name(later.net, (1, 2, 96, 112)) != entry.name
    with torch.no_grad():
        next(later.net.parameters()).add_(1e-3)
    assert segment.onnx_cache_name(later.net, (2, 2, 96, 112)) != entry.name


def test_an_unwritable_cache_leaves_the_pass_in_memory(frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the cache folder cannot be made (a file stands in its way) the network is exported in memory and the
    pass runs as without a cache."""
    import torch

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(blocker))
    tiles = torch.zeros((1, 2, 96, 112))
    tiles[0, 0] = torch.from_numpy(frames[0][0])
    flows, _ = segment.OnnxNetwork(load_cellpose_model(SHIPPED, "cpu").net, 1)(tiles)
    assert flows.shape == (1, 3, 96, 112) and float(flows[0, 2].max()) > 0
    assert blocker.read_text() == "a file where the cache folder would be"


def _export_failed(*args: object, **kwargs: object) -> None:
    raise RuntimeError("an operator the exporter does not know")


def test_auto_runs_torch_where_onnxruntime_fails_and_says_so(frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under compile 'auto' (the default) a network the exporter cannot export is run by torch for the rest of the
    job: the same labels as compile false, and the record says torch and why. Asked for by name ('onnxruntime'),
    the failure stops the job."""
    import torch

    from cellpipe.segment import iter_segment_cells, record_network_fallback

    monkeypatch.setenv("CELLPIPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(torch.onnx, "export", _export_failed)
    monkeypatch.setattr(segment.runtime, "COMPILE_MIN_MEGAPIXELS", 0.001)  # these 3 small frames count as a long movie
    images, pixel_size = frames
    model = load_cellpose_model(SHIPPED, "cpu")
    eager, _ = _labels(images, pixel_size, model, False)
    settings = SegmentSettings(method="cellpose", diameter_um=10.0,
                               cellpose={"model": str(SHIPPED), "device": "cpu", "batch_size": 2, "compile": "auto"})
    info, results = iter_segment_cells(images, settings, pixel_size, model=model)
    assert info["network_runtime"] == "onnxruntime"  # chosen before the run
    labels = np.stack([frame for _, frame in results])
    np.testing.assert_array_equal(labels, eager)
    record_network_fallback(info, model)
    assert info["network_runtime"] == "torch" and "onnxruntime_version" not in info
    assert info["network_runtime_fallback"] == "RuntimeError: an operator the exporter does not know"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # nothing exported, nothing cached

    with pytest.raises(RuntimeError, match="an operator the exporter does not know"):
        _labels(images, pixel_size, load_cellpose_model(SHIPPED, "cpu"), "onnxruntime")


def test_parts_of_a_movie_run_the_runtime_its_whole_size_chooses(frames, monkeypatch: pytest.MonkeyPatch) -> None:
    """compile 'auto' judges the whole movie (``estimate_from``), not the part a scattered job segments, so every
    part of one movie records the same runtime."""
    from cellpipe.segment import iter_segment_cells
    from cellpipe.segment.runtime import _network_megapixels

    images, pixel_size = frames
    model = load_cellpose_model(SHIPPED, "cpu")
    one_frame = _network_megapixels((1, *images.shape[1:]), model, 10.0 / pixel_size)
    monkeypatch.setattr(segment.runtime, "COMPILE_MIN_MEGAPIXELS", 2.5 * one_frame)  # 3 frames reach it, 1 does not
    settings = SegmentSettings(method="cellpose", diameter_um=10.0,
                               cellpose={"model": str(SHIPPED), "device": "cpu", "compile": "auto"})
    alone, _ = iter_segment_cells(images[:1], settings, pixel_size, model=model)
    part, results = iter_segment_cells(images[:1], settings, pixel_size, model=model, estimate_from=images)
    assert (alone["network_runtime"], part["network_runtime"]) == ("torch", "onnxruntime")
