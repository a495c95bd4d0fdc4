"""cellpipe.masks against Cellpose 3.1's own mask reconstruction, on flows of synthetic round cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cellpose import dynamics, metrics, utils

from cellpipe.masks import (
    fill_holes_and_remove_small_masks,
    flow_errors,
    follow_flows,
    masks_from_end_points,
    reconstruct_batch,
    reconstruct_masks,
)

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


def _crowd(shape: tuple[int, int] = (192, 192), n: int = 40, seed: int = 0) -> np.ndarray:
    """Labels of ``n`` random discs of radius 6-14 px, later discs cut into earlier ones (touching cells)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i in range(1, n + 1):
        cy, cx = rng.integers(10, shape[0] - 10), rng.integers(10, shape[1] - 10)
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(6, 15) ** 2] = i
    return labels


def _holes_and_bad_flows(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network-like flows of ``labels`` where cell 3's flows turn 60 degrees (its pixels still
    spiral to one point, but the flow error is 1) and cell 4 has pixels of low probability
    inside (holes in its mask)."""
    dp, cellprob = _network_like(labels, 0.5, seed=3)
    cell = labels == 3
    turn = np.deg2rad(60)
    dp[0, cell], dp[1, cell] = (
        np.cos(turn) * dp[0, cell] - np.sin(turn) * dp[1, cell],
        np.sin(turn) * dp[0, cell] + np.cos(turn) * dp[1, cell],
    )
    cellprob[[84, 90, 96], [101, 101, 88]] = -4.0  # cell 4: centre (90, 92), radius 16 px
    return dp, cellprob


def _slow_flows(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Weak, noisy flows of a crowd: in 10 steps of 0.5 px the pixels of a large cell do not reach its
    centre, so the end points spread over rings and plateaus and the seeds' search window, growth and
    thresholds decide the masks; the logits of the cells' outer pixels are exactly the threshold 0."""
    from skimage.segmentation import find_boundaries

    labels = _crowd(seed=seed, n=60)
    dp, cellprob = _network_like(labels, 0.8, seed=seed)
    cellprob[find_boundaries(labels, mode="inner")] = 0.0
    return 0.5 * dp, cellprob


@pytest.mark.parametrize(
    "case", ["crowd0", "crowd1", "crowd2", "slow_flows", "holes_and_bad_flows", "no_flow_check", "big_mask"]
)
def test_labels_are_cellposes_pixel_for_pixel(case: str) -> None:
    niter = 200
    if case.startswith("crowd"):
        dp, cellprob = _network_like(_crowd(seed=int(case[-1]), n=60), 0.8, seed=int(case[-1]))
        options: dict = {}
    elif case == "slow_flows":
        dp, cellprob = _slow_flows()
        niter, options = 10, {}
        assert (cellprob == 0).sum() > 100
    elif case in ("holes_and_bad_flows", "no_flow_check"):
        dp, cellprob = _holes_and_bad_flows(_cells())
        options = {"flow_threshold": 0.0} if case == "no_flow_check" else {}
    else:  # one cell over a quarter of the frame: dropped by max_size_fraction 0.2
        labels = _cells((64, 64))
        labels[labels == 1] = 0
        yy, xx = np.mgrid[:64, :64]
        labels[(yy - 32) ** 2 + (xx - 32) ** 2 <= 20**2] = 7
        dp, cellprob = _network_like(labels, 0.3)
        options = {"max_size_fraction": 0.2}
    reference = dynamics.resize_and_compute_masks(dp, cellprob, niter=niter, device=CPU, interp=True, **options)
    ours = reconstruct_masks(dp, cellprob, niter, **options)
    assert reference.max() > 0 or case == "big_mask"
    if case == "holes_and_bad_flows":  # the flow check drops cell 3, the hole in cell 4 is filled
        assert reference.max() == len(CELLS) - 1
        assert (reference[[84, 90, 96], [101, 101, 88]] > 0).all()
    if case == "no_flow_check":  # flow_threshold 0 keeps cell 3
        assert reference.max() == len(CELLS)
    np.testing.assert_array_equal(ours, reference)


def _label_soup(seed: int, dtype: type = np.uint16) -> np.ndarray:
    """Labels with what fill_holes_and_remove_small_masks must treat as Cellpose does: gaps in the
    numbering (masks removed by the flow check), masks under 15 px and one of exactly 15 px, rings with
    holes, a mask inside another's hole, masks in an order other than row-major."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96]
    labels = _crowd((96, 96), 12, seed).astype(dtype)
    labels[labels == 5] = 0  # a gap
    for i in range(20, 26):  # masks of 1-16 px
        y, x = rng.integers(0, 92, 2)
        size = rng.integers(1, 5)
        labels[y : y + size, x : x + size] = i
    labels[labels == 22] = 0  # another gap among the small ones
    labels[93:96, 91:96] = 30  # 15 px: kept at min_size 15
    r = np.hypot(yy - 48, xx - 48)
    labels[(r >= 6) & (r <= 10)] = 40  # a ring whose hole holds mask 41 and some background
    labels[r <= 2] = 41
    labels[(r > 2) & (r < 6)] = 0
    return labels


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_size", [15, 0, -1])
def test_holes_and_small_masks_are_cellposes(seed: int, min_size: int) -> None:
    labels = _label_soup(seed)
    reference = utils.fill_holes_and_remove_small_masks(labels.copy(), min_size=min_size)
    ours = fill_holes_and_remove_small_masks(labels.copy(), min_size=min_size)
    assert ours.dtype == reference.dtype
    np.testing.assert_array_equal(ours, reference)
    assert reference[48, 48] == reference[48, 56] > 0  # the ring's hole is filled by the ring


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32])
def test_holes_and_small_masks_with_no_background_are_cellposes(dtype: type) -> None:
    labels = _label_soup(1, dtype)
    labels[labels == 0] = 70000 if dtype == np.uint32 else 60  # every pixel in a mask
    reference = utils.fill_holes_and_remove_small_masks(labels.copy(), min_size=15)
    np.testing.assert_array_equal(fill_holes_and_remove_small_masks(labels.copy(), min_size=15), reference)


@pytest.mark.parametrize("case", ["crowds", "slow_flows"])
def test_compiled_and_torch_seeds_give_the_same_labels(case: str) -> None:
    if case == "crowds":
        flows = [_network_like(_crowd(seed=s, n=60), 0.8, s) for s in range(3)]
        niter, max_size_fraction = 200, 0.4
    else:  # spread end points, and the largest masks (over 0.7% of the frame, 258 px) dropped
        flows = [_slow_flows(s) for s in range(3)]
        niter, max_size_fraction = 10, 0.007
    inside = np.stack([cellprob > 0 for _, cellprob in flows])
    scaled = np.stack([dp for dp, _ in flows]) * inside[:, np.newaxis] / np.float32(5.0)
    frame, ys, xs = follow_flows(scaled, inside, niter, CPU)
    compiled = masks_from_end_points(inside, frame, ys, xs, max_size_fraction)
    tensors = masks_from_end_points(inside, frame, ys, xs, max_size_fraction, force_torch=True)
    np.testing.assert_array_equal(compiled, tensors)
    assert min(int(m.max()) for m in compiled) > 30
    if case == "slow_flows":
        kept_all = masks_from_end_points(inside, frame, ys, xs, 1.0)
        assert all(int(a.max()) > int(b.max()) for a, b in zip(kept_all, compiled, strict=True))


@pytest.mark.parametrize("force_torch", [False, True])
def test_seeds_are_cellposes_on_placed_end_points(force_torch: bool) -> None:
    """End points placed by hand: a seed is a bin with more than 10 end points that no bin of its 5 x 5
    window exceeds, and it grows 5 px into bins holding more than 2."""
    # (y, x, end points): a peak; a lesser one 2 px from it (no seed, within its 5 x 5 window) on a ridge
    # of 5-point bins, which the peak's growth follows for 5 px; the same along a column; two peaks 3 px apart
    row = [(30, 30, 30), (30, 31, 5), (30, 32, 20)] + [(30, x, 5) for x in range(33, 39)]
    bins = row + [(x - 10, y + 20, n) for y, x, n in row] + [(10, 10, 15), (10, 13, 12)]
    ys = np.concatenate([np.full(n, y, np.float32) for y, _, n in bins]) + np.float32(0.25)
    xs = np.concatenate([np.full(n, x, np.float32) for _, x, n in bins]) + np.float32(0.5)
    inside = np.zeros((1, 64, 64), bool)
    inside.reshape(-1)[: len(ys)] = True
    pixels = np.nonzero(inside[0])
    reference = dynamics.get_masks_torch(
        torch.from_numpy(np.stack([ys, xs])).int(), pixels, (64, 64), max_size_fraction=0.4
    )
    ours = masks_from_end_points(
        inside, torch.zeros(len(ys), dtype=torch.long), torch.from_numpy(ys), torch.from_numpy(xs),
        force_torch=force_torch,
    )
    np.testing.assert_array_equal(ours[0], reference)
    at = dict(zip(zip(ys.astype(int).tolist(), xs.astype(int).tolist()), ours[0][pixels].tolist()))
    assert at[(30, 35)] == at[(30, 30)] > 0 and at[(30, 36)] == at[(30, 38)] == 0
    assert at[(25, 50)] == at[(20, 50)] > 0 and at[(26, 50)] == at[(28, 50)] == 0
    assert len({at[(30, 30)], at[(10, 10)], at[(10, 13)]}) == 3


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


def test_torch_steps_stop_at_the_frames_edge_as_the_compiled_loop() -> None:
    dp, _ = _network_like(_cells(), 0.5)
    # every pixel flows away from its cell's centre and towards the bottom right, many onto the edge
    scaled = -dp[np.newaxis] / np.float32(5.0) + np.float32(0.5)
    inside = np.ones((1, *dp.shape[1:]), bool)
    compiled = follow_flows(scaled, inside, 200, CPU)
    tensors = follow_flows(scaled, inside, 200, CPU, force_torch=True)
    for a, b in zip(compiled, tensors, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    _, ys, xs = compiled
    assert (ys.numpy() == 127).sum() > 1000 and ys.numpy().max() == xs.numpy().max() == 127


@pytest.mark.parametrize("force_torch", [False, True])
def test_flow_errors_are_cellposes(force_torch: bool) -> None:
    labels = _cells()
    labels[100:106, 60:70] = 7  # even sides: four pixels tie nearest to the mean, the first is the centre
    dp, _ = _network_like(labels, 1.0)
    dp[:, labels == 3] *= -1  # flows pointing away from the centre: a large error
    reference, _ = metrics.flow_error(labels, dp, CPU)
    ours = flow_errors(labels, dp, CPU, force_torch=force_torch)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    assert ours[2] > 1.0 > 0.4 > ours[[0, 1, 3, 4, 5, 6]].max()


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
