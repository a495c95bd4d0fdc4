"""cellpipe.masks against Cellpose 3.1's own mask reconstruction, on flows of synthetic round cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cellpose import dynamics, metrics

from cellpipe.masks import flow_errors, follow_flows, reconstruct_batch, reconstruct_masks

CPU = torch.device("cpu")
# (y, x, radius) in px; the first two cells touch
CELLS = [(30, 30, 12), (30, 55, 13), (80, 40, 10), (90, 92, 16), (40, 100, 9), (110, 20, 7)]


def _cells(shape: tuple[int, int] = (128, 128)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, (cy, cx, r) in enumerate(CELLS, 1):
        labels[((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (labels == 0)] = i
    return labels


def _network_like(labels: np.ndarray, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flows as the network gives them (5x Cellpose's unit flows) and cell probability logits."""
    rng = np.random.default_rng(seed)
    dp = 5 * dynamics.masks_to_flows(labels, device=CPU) + noise * rng.standard_normal((2, *labels.shape))
    cellprob = np.where(labels > 0, 4.0, -4.0) + noise * rng.standard_normal(labels.shape)
    return dp.astype(np.float32), cellprob.astype(np.float32)


def _iou_per_cell(reference: np.ndarray, ours: np.ndarray) -> list[float]:
    ious = []
    for label in range(1, int(reference.max()) + 1):
        cell = reference == label
        best = np.bincount(ours[cell]).argmax()
        other = ours == best if best else np.zeros_like(cell)
        ious.append(float((cell & other).sum() / (cell | other).sum()))
    return ious


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_masks_match_cellposes_reconstruction(noise: float) -> None:
    dp, cellprob = _network_like(_cells(), noise)
    reference = dynamics.resize_and_compute_masks(dp, cellprob, niter=200, device=CPU, interp=True)
    ours = reconstruct_masks(dp, cellprob, 200)
    assert reference.max() == ours.max() == len(CELLS)
    assert min(_iou_per_cell(reference, ours)) >= 0.95
    assert min(_iou_per_cell(ours, reference.astype(np.int64))) >= 0.95


def test_a_batch_of_frames_gives_each_frames_own_masks() -> None:
    labels = _cells()
    frames = [_network_like(labels, 0.5, seed) for seed in range(3)]
    batch = reconstruct_batch(np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames]), 200)
    for (dp, cellprob), ours in zip(frames, batch, strict=True):
        np.testing.assert_array_equal(ours, reconstruct_masks(dp, cellprob, 200))


def test_torch_steps_give_the_compiled_loops_end_points() -> None:
    dp, cellprob = _network_like(_cells(), 0.5)
    inside = (cellprob > 0)[np.newaxis]
    scaled = dp[np.newaxis] * inside[:, np.newaxis] / np.float32(5.0)
    compiled = follow_flows(scaled, inside, 200, CPU)
    tensors = follow_flows(scaled, inside, 200, CPU, force_torch=True)
    for a, b in zip(compiled, tensors, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # the pixels end near their cell's centre (px)
    _, ys, xs = compiled
    cell = _cells()[inside[0]]
    centres = np.array([(cy, cx) for cy, cx, _ in CELLS], np.float32)[cell - 1]
    assert np.median(np.hypot(ys.numpy() - centres[:, 0], xs.numpy() - centres[:, 1])) < 2.0


@pytest.mark.parametrize("force_torch", [False, True])
def test_flow_errors_are_cellposes(force_torch: bool) -> None:
    labels = _cells()
    dp, _ = _network_like(labels, 1.0)
    dp[:, labels == 3] *= -1  # flows pointing away from the centre: a large error
    reference, _ = metrics.flow_error(labels, dp, CPU)
    ours = flow_errors(labels, dp, CPU, force_torch=force_torch)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    assert ours[2] > 1.0 > 0.4 > ours[[0, 1, 3, 4, 5]].max()


def test_segmenting_with_either_reconstruction_gives_the_same_masks(random_model_file: Path) -> None:
    from cellpipe.config import SegmentSettings
    from cellpipe.segment import load_cellpose_model, segment_cells

    rng = np.random.default_rng(1)
    frames = rng.random((2, 96, 96)).astype(np.float32)
    frames[:, 20:50, 20:50] += 2.0
    model = load_cellpose_model(random_model_file, "cpu")
    out = {}
    for way in ("cellpose", "cellpipe"):
        settings = SegmentSettings(
            method="cellpose", diameter_px=30.0,
            cellpose={"model": str(random_model_file), "device": "cpu", "reconstruction": way, "cellprob_threshold": -1.0},
        )
        out[way], _ = segment_cells(frames, settings, pixel_size_um=1.0, model=model)
    np.testing.assert_array_equal(np.asarray(out["cellpose"]), np.asarray(out["cellpipe"]))


@pytest.fixture(scope="module")
def random_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cellpose_helpers import save_untrained_cpnet

    return save_untrained_cpnet(tmp_path_factory.mktemp("cpnet") / "random_cpnet", diam_mean=30.0, seed=0)


@pytest.mark.parametrize(("way", "calls"), [("auto", 1), ("cellpipe", 1), ("cellpose", 0)])
def test_auto_reconstruction_is_cellpipes_with_cellpose3(
    random_model_file: Path, monkeypatch: pytest.MonkeyPatch, way: str, calls: int
) -> None:
    import cellpipe.masks
    from cellpipe.config import SegmentSettings
    from cellpipe.segment import load_cellpose_model, segment_cells

    seen = []
    real = cellpipe.masks.reconstruct_batch

    def counted(*args: object, **kwargs: object) -> list[np.ndarray]:
        seen.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cellpipe.masks, "reconstruct_batch", counted)
    cellpose = {"model": str(random_model_file), "device": "cpu"} | ({} if way == "auto" else {"reconstruction": way})
    settings = SegmentSettings(method="cellpose", diameter_px=30.0, cellpose=cellpose)
    assert settings.cellpose.reconstruction == way
    segment_cells(np.zeros((1, 64, 64), np.float32), settings, pixel_size_um=1.0,
                  model=load_cellpose_model(random_model_file, "cpu"))
    assert len(seen) == calls
