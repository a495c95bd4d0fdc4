"""Training: flow-consistent augmentation, splits, schedule (a tiny real training run through rule
train_cellpose's step: test_steps_train.py; the annotations it reads: test_io_annotations.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from annotation_helpers import blobs, two_channel_movie
from scipy import ndimage as ndi

from cellpipe.config import NormalizeSettings, TrainSettings
from cellpipe.io.annotations import AnnotatedImage
from cellpipe.train import augment_batch, build_network, learning_rate_at, prepare_examples, split_examples, transform_crop


def _flows(labels: np.ndarray) -> np.ndarray:
    import torch
    from cellpose.dynamics import labels_to_flows

    return labels_to_flows([labels.astype(np.int32)], device=torch.device("cpu"))[0][1:4]


# --------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("flip_y", [False, True])
@pytest.mark.parametrize("flip_x", [False, True])
@pytest.mark.parametrize("k90", [0, 1, 2, 3])
def test_flips_and_rotations_transform_the_flow_vectors(flip_y: bool, flip_x: bool, k90: int) -> None:
    """Transforming (image, flows) must equal computing the flows of the transformed labels."""
    image, labels = blobs(shape=(64, 64))
    img, tgt = transform_crop(image[np.newaxis], _flows(labels), flip_y, flip_x, k90)
    moved = labels
    if flip_x:
        moved = moved[:, ::-1]
    if flip_y:
        moved = moved[::-1, :]
    moved = np.rot90(moved, k90)
    moved = np.ascontiguousarray(moved)
    expected = _flows(moved)
    np.testing.assert_array_equal(img[0] > 100, moved > 0)
    # Cellpose puts each cell's flow source at the pixel nearest its centre of mass; for these
    # symmetric ellipses that is a tie, which can break differently after a transform. Everywhere
    # else (355 cell pixels) the transformed vectors must be exact; a wrong sign or a
    # swapped component would break nearly all of them.
    ignore = np.zeros(moved.shape, bool)
    for cy, cx in ndi.center_of_mass(moved > 0, moved, np.unique(moved)[1:]):
        ignore[int(round(cy)) - 1 : int(round(cy)) + 2, int(round(cx)) - 1 : int(round(cx)) + 2] = True
    assert (moved > 0).sum() == 355
    np.testing.assert_allclose(tgt[:, ~ignore], expected[:, ~ignore], atol=1e-5)


def test_augment_batch_rescales_to_the_training_diameter() -> None:
    image, labels = blobs(shape=(96, 96), centres=((30, 30, 12, 12), (66, 66, 12, 12)))
    settings = TrainSettings(datasets=[{"images": "a", "labels": "b"}], tile_px=64, diam_mean_px=12.0)
    examples, _ = prepare_examples(
        [AnnotatedImage(image, labels, "blob", "g", 0)], [0], ["train"], NormalizeSettings(low_percentile=0.0, high_percentile=100.0)
    )
    assert examples[0].diameter_px == pytest.approx(24.0, rel=0.05)
    x, y = augment_batch(examples, np.random.default_rng(0), settings, augment=False)
    assert x.shape == (1, 2, 64, 64) and y.shape == (1, 3, 64, 64)
    assert not x[:, 1].any()  # the second channel stays empty, as Cellpose feeds one-channel images
    # diameter 24 px -> 12 px: a disc of ~113 px^2 instead of ~452 px^2 per cell
    cell_px = float(y[0, 0].sum())
    assert 100 <= cell_px <= 2 * 120
    x2, _ = augment_batch(examples, np.random.default_rng(0), settings, augment=False)
    np.testing.assert_array_equal(x, x2)


def _still_crops(seeds: range, on: bool = True, **augment: object) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(inputs, targets) of one crop of the two-blob image per rng seed, every augmentation off but ``augment``
    (``on`` False: augment_batch's ``augment=False``)."""
    image, labels = blobs(shape=(96, 96), centres=((30, 30, 12, 12), (66, 66, 12, 12)))
    examples, _ = prepare_examples(
        [AnnotatedImage(image, labels, "blob", "g", 0)], [0], ["train"], NormalizeSettings(low_percentile=0.0, high_percentile=100.0)
    )
    still = {
        "flips": False, "rotate90": False, "scale_range": 0.0, "intensity_scale": (1.0, 1.0), "intensity_shift": 0.0, "noise_sd_max": 0.0,
    }
    settings = TrainSettings(datasets=[{"images": "a", "labels": "b"}], tile_px=64, diam_mean_px=24.0, augment={**still, **augment})
    crops = [augment_batch(examples, np.random.default_rng(seed), settings, augment=on) for seed in seeds]
    return [x[0, 0] for x, _ in crops], [y[0] for _, y in crops]


def test_gamma_augmentation_raises_intensities_to_the_drawn_power() -> None:
    def crop(**augment: object) -> np.ndarray:
        return _still_crops(range(5, 6), **augment)[0][0]

    plain = crop()
    mid = (plain > 0.05) & (plain < 0.95)  # the blobs' edges, between background and their flat tops
    assert mid.sum() >= 20
    np.testing.assert_allclose(crop(gamma_range=(0.5, 0.5)), np.sqrt(np.maximum(plain, 0.0)), rtol=1e-6)
    np.testing.assert_allclose(crop(gamma_range=(2.0, 2.0)), np.maximum(plain, 0.0) ** 2, rtol=1e-6)
    # a range draws one exponent per crop, inside the range: log(out) / log(in) is the same everywhere
    exponents = np.log(crop(gamma_range=(0.5, 2.0))[mid]) / np.log(plain[mid])
    assert 0.5 <= exponents.min() and exponents.max() <= 2.0
    assert exponents.max() - exponents.min() < 1e-3


def test_intensity_gain_shift_and_noise_follow_their_settings() -> None:
    """Against the crop with every augmentation off (the same rng seed, so the same place): a gain of 2 doubles
    it, a shift adds one constant within the range, noise adds a zero-mean field of SD at most noise_sd_max."""
    seeds = range(6)
    plain, _ = _still_crops(seeds)
    for ref, doubled in zip(plain, _still_crops(seeds, intensity_scale=(2.0, 2.0))[0], strict=True):
        np.testing.assert_allclose(doubled, 2.0 * ref, rtol=1e-6)
    shifted = _still_crops(seeds, intensity_shift=0.2)[0]
    shifts = [float(np.mean(out - ref)) for ref, out in zip(plain, shifted, strict=True)]
    for ref, out, shift in zip(plain, shifted, shifts, strict=True):
        np.testing.assert_allclose(out - ref, shift, atol=1e-6)
    assert all(abs(v) <= 0.2 for v in shifts) and len({round(v, 6) for v in shifts}) > 1
    sds = [float(np.std(out - ref)) for ref, out in zip(plain, _still_crops(seeds, noise_sd_max=0.1)[0], strict=True)]
    assert all(0.0 <= v <= 0.1 * 1.05 for v in sds) and max(sds) > 0.02


def test_zoom_and_flips_follow_their_settings() -> None:
    """With flips and 90° turns off, each crop is the unaugmented crop of its seed; with flips on, some are
    mirrored, each a mirror of it.  With a zoom range of 1 (0.5-1.5x) the cells' area in the targets reaches beyond
    what the crops without zoom show."""
    seeds = range(8)
    plain, plain_targets = _still_crops(seeds)
    for a, b in zip(plain, _still_crops(seeds, on=False)[0], strict=True):
        np.testing.assert_array_equal(a, b)
    mirrored = _still_crops(seeds, flips=True)[0]
    assert any(not np.array_equal(a, b) for a, b in zip(plain, mirrored, strict=True))
    for a, b in zip(plain, mirrored, strict=True):
        assert any(np.array_equal(b, v) for v in (a, a[::-1], a[:, ::-1], a[::-1, ::-1]))
    cell_area = [float((y[0] > 0.5).sum()) for y in plain_targets]
    zoomed_area = [float((y[0] > 0.5).sum()) for y in _still_crops(seeds, scale_range=1.0)[1]]
    assert max(zoomed_area) > 1.2 * max(cell_area) or min(zoomed_area) < 0.8 * min(cell_area)


def test_gamma_range_must_be_ordered_and_positive() -> None:
    with pytest.raises(ValueError, match="gamma_range"):
        TrainSettings(datasets=[{"images": "a", "labels": "b"}], augment={"gamma_range": (1.5, 0.5)})
    with pytest.raises(ValueError, match="gamma_range"):
        TrainSettings(datasets=[{"images": "a", "labels": "b"}], augment={"gamma_range": (0.0, 1.0)})


def test_training_images_are_normalized_each_on_its_own_and_small_ones_dropped() -> None:
    """Each image's own percentiles become 0 and 1 (clipped where normalization clips), a missing pixel 0;
    an image with fewer than ``min_cells`` labelled cells is dropped, saying why."""
    from cellpipe.train import _normalize_image

    image = np.array([[0.0, 10.0, 20.0], [30.0, 40.0, np.nan]], np.float32)
    plain = NormalizeSettings(low_percentile=25.0, high_percentile=75.0, clip=False)  # 10 and 30 of the finite five
    np.testing.assert_allclose(_normalize_image(image, plain), [[-0.5, 0.0, 0.5], [1.0, 1.5, 0.0]])
    clipped = NormalizeSettings(low_percentile=25.0, high_percentile=75.0, clip=True)
    np.testing.assert_allclose(_normalize_image(image, clipped), [[0.0, 0.0, 0.5], [1.0, 1.0, 0.0]])
    two, labels = blobs(shape=(48, 48), centres=((12, 12, 5, 5), (34, 34, 5, 5)))
    examples, dropped = prepare_examples([AnnotatedImage(two, labels, "two", "g", 0)], [0], ["train"], plain, min_cells=3)
    assert examples == [] and dropped == ["two: 2 labelled cell(s), fewer than 3"]


def test_the_loss_is_cellposes_five_fold_flows_and_the_cell_probability() -> None:
    import torch

    from cellpipe.train import cellpose_loss

    _, labels = blobs(shape=(32, 32), centres=((10, 10, 5, 5), (22, 22, 5, 5)))
    targets = torch.from_numpy(_flows(labels))[None]  # cell probability, Y flow, X flow (unit vectors)
    logit = torch.where(targets[:, 0] > 0.5, 30.0, -30.0)
    exact = torch.cat([5.0 * targets[:, 1:], logit[:, None]], dim=1)
    assert float(cellpose_loss(exact, targets)) < 1e-6
    unit = torch.cat([targets[:, 1:], logit[:, None]], dim=1)  # flows 1x: (5 - 1)^2 / 2 per flow component
    expected = float((4.0 * targets[:, 1:]).pow(2).mean()) / 2.0
    assert float(cellpose_loss(unit, targets)) == pytest.approx(expected, rel=1e-5) and expected > 0.1


def test_crops_are_drawn_by_area_at_the_training_scale_times_the_datasets_weight() -> None:
    from dataclasses import replace

    from cellpipe.train import _sampling_weights

    settings = TrainSettings(datasets=[{"images": "a", "labels": "b"}, {"images": "c", "labels": "d", "weight": 3.0}],
                             tile_px=64, diam_mean_px=30.0)
    big = np.zeros((128, 128), np.float32)  # 4 tiles of 64 px at cells of 30 px
    a = replace(_example("a", 0), image=big, diameter_px=30.0)
    b = replace(_example("b", 0), image=big, diameter_px=15.0)  # rescaled 2x: 16 tiles
    c = replace(_example("c", 0), image=big, diameter_px=30.0, dataset=1)  # the dataset of weight 3
    np.testing.assert_allclose(_sampling_weights([a, b, c], settings), np.array([4.0, 16.0, 12.0]) / 32.0)


def test_validation_loss_uses_the_same_crops_every_time() -> None:
    from cellpipe.train import _validation_loss

    rng = np.random.default_rng(0)
    centres = [(int(y), int(x), 6, 6) for y, x in rng.integers(10, 150, size=(20, 2))]
    image, labels = blobs(shape=(160, 160), centres=centres)
    examples, _ = prepare_examples([AnnotatedImage(image, labels, "blob", "g", 0)], [0], ["train"], NormalizeSettings())
    settings = TrainSettings(datasets=[{"images": "a", "labels": "b"}], tile_px=64, diam_mean_px=12.0, batch_size=2)
    net = build_network(12.0, None, "cpu", seed=0)
    assert _validation_loss(net, examples, settings, "cpu") == _validation_loss(net, examples, settings, "cpu")


# --------------------------------------------------------------------------- split, schedule, network


def _example(group: str, frame: int, role: str = "auto"):
    from cellpipe.train import Example

    z = np.zeros((4, 4), np.float32)
    return Example(z, z.astype(np.uint32), np.zeros((3, 4, 4), np.float32), 10.0, 1, f"{group}:{frame}", group, frame, 0, role)


def test_split_by_movie_keeps_movies_whole_and_respects_roles() -> None:
    examples = [_example(g, t) for g in "abcde" for t in range(3)] + [_example("v", 0, "validation"), _example("t", 0, "train")]
    train, val = split_examples(examples, 0.4, "movie", seed=3)
    val_groups = {e.group for e in val}
    assert "v" in val_groups and "t" not in val_groups
    assert len(val_groups - {"v"}) == 2  # round(0.4 * 5) movies held out
    assert not val_groups & {e.group for e in train} - {"t"} & val_groups
    for g in val_groups - {"v"}:
        assert all(e.group != g for e in train)
    again = split_examples(examples, 0.4, "movie", seed=3)
    assert [e.source for e in again[1]] == [e.source for e in val]


def test_split_by_frame_holds_out_at_least_one_and_never_all() -> None:
    examples = [_example("a", t) for t in range(3)]
    train, val = split_examples(examples, 0.1, "frame", seed=0)
    assert len(val) == 1 and len(train) == 2
    train, val = split_examples(examples, 0.0, "frame", seed=0)
    assert len(val) == 0 and len(train) == 3
    train, val = split_examples(examples, 1.0, "frame", seed=0)  # never all: one is left to train on
    assert len(val) == 2 and len(train) == 1


def test_learning_rate_warms_up_then_decays() -> None:
    s = TrainSettings(datasets=[{"images": "a", "labels": "b"}], n_epochs=20, warmup_epochs=4, learning_rate=0.01)
    rates = [learning_rate_at(e, s) for e in range(20)]
    assert rates[0] == pytest.approx(0.002)
    assert rates[4] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(rates[4:], rates[5:]))
    assert rates[-1] == pytest.approx(0.0001)


def test_init_model_must_exist_and_match(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not fall back to downloading"):
        build_network(30.0, tmp_path / "missing.pth", "cpu", seed=0)
    net = build_network(17.0, None, "cpu", seed=0)
    net.save_model(str(tmp_path / "m.pth"))
    with pytest.raises(ValueError, match="diam_mean 17 px"):
        build_network(30.0, tmp_path / "m.pth", "cpu", seed=0)
    assert build_network(17.0, tmp_path / "m.pth", "cpu", seed=0) is not None


# --------------------------------------------------------------------------- a real (tiny) training run


def test_a_training_channel_name_the_images_lack_stops_the_start_in_one_line(tmp_path: Path) -> None:
    from cellpipe.config import ConfigError, load_config
    from cellpipe.preflight import check_samples

    movie, labels, _ = two_channel_movie(tmp_path)
    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((2, 64, 80), np.uint16))
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tmovie\ns1\t{movie}\n")

    def config(channel: object, images: Path = movie) -> object:
        return load_config({"train": {"mine": {"datasets": [
            {"images": str(movie), "labels": str(labels)},
            {"images": str(images), "labels": str(labels), "channel": channel}]}}})

    assert [r.sample for r in check_samples(sheet, config("H2B-GFP"))] == ["s1"]
    with pytest.raises(ConfigError) as err:
        check_samples(sheet, config("mCherry"))
    assert str(err.value) == (f"config train.mine.datasets[1].channel: {movie}: no channel named 'mCherry'; its "
                              "channels: 'DAPI', 'H2B-GFP'")
    with pytest.raises(ConfigError, match=r"datasets\[1\]\.channel: .*plain\.tif: channel 'GFP' is given by name, but the "
                                          r"file names no channels; give its index \(0-based\)$"):
        check_samples(sheet, config("GFP", tmp_path / "plain.tif"))
    assert check_samples(sheet, config("mCherry"), check_files=False)  # a cluster job reads no header
    with pytest.raises(ValueError, match="a channel name must not be empty"):
        config(" ")


def test_a_training_folder_is_digested_as_provenance_digests_a_folder(tmp_path: Path) -> None:
    """A dataset folder's digest in a model's record is the folder digest provenance.json records for the same folder,
    so the two can be compared; Snakemake's marker files are left out of both."""
    from cellpipe.io.checksums import describe_path
    from cellpipe.train.data import _dataset_digest

    folder = tmp_path / "01_GT" / "SEG"
    folder.mkdir(parents=True)
    (folder / "man_seg000.tif").write_bytes(b"a")
    (folder / "man_seg001.tif").write_bytes(b"b")
    digest = _dataset_digest(tmp_path / "01_GT")
    (tmp_path / "01_GT" / ".snakemake_timestamp").write_bytes(b"")
    assert _dataset_digest(tmp_path / "01_GT") == digest == describe_path("ground_truth", tmp_path / "01_GT")["sha256"]
    (folder / "man_seg001.tif").write_bytes(b"c")
    assert _dataset_digest(tmp_path / "01_GT") != digest


def test_bfloat16_training_learns_and_keeps_float32_weights() -> None:
    """train.<model>.precision bfloat16: the forward pass of each step under bfloat16 autocast. The same seed
    and crops give other weights than float32 training (so bfloat16 arithmetic ran), still float32, and the
    loss falls as far; MPS is refused before any step."""
    import torch

    from cellpipe.train import _validation_loss, train_network

    rng = np.random.default_rng(0)
    centres = [(int(y), int(x), 6, 6) for y, x in rng.integers(10, 86, size=(8, 2))]
    image, labels = blobs(shape=(96, 96), centres=centres)
    image += rng.normal(0, 5, image.shape).astype(np.float32)
    examples, _ = prepare_examples([AnnotatedImage(image, labels, "blob", "g", 0)], [0], ["train"], NormalizeSettings())
    base = {
        "datasets": [{"images": "unused", "labels": "unused"}], "n_epochs": 12, "samples_per_epoch": 8, "batch_size": 4,
        "tile_px": 64, "diam_mean_px": 12.0, "learning_rate": 0.01, "warmup_epochs": 1, "validation_fraction": 0.0,
    }
    before = _validation_loss(build_network(12.0, None, "cpu", seed=0), examples, TrainSettings.model_validate(base), "cpu")
    nets = {}
    for precision in ("float32", "bfloat16"):
        settings = TrainSettings.model_validate({**base, "precision": precision})
        nets[precision] = train_network(examples, [], settings, "cpu").net
        after = _validation_loss(nets[precision], examples, settings, "cpu")
        assert after < 0.7 * before, (precision, before, after)
    weights32, weights16 = (dict(nets[p].named_parameters()) for p in ("float32", "bfloat16"))
    assert all(w.dtype == torch.float32 for w in weights16.values())
    assert any(not torch.equal(weights32[k], weights16[k]) for k in weights32)
    with pytest.raises(ValueError, match="not on mps"):
        train_network(examples, [], TrainSettings.model_validate({**base, "precision": "bfloat16"}), "mps")
    assert TrainSettings.model_validate(base).precision == "float32"


def test_emulated_bfloat16_training_is_named_in_a_warning(monkeypatch, caplog) -> None:
    """bfloat16 training on a CPU without bfloat16 units warns once that it is emulated (1.9-9.6x slower per
    step there, bench/RESULTS.md); float32 training does not."""
    import cellpipe.segment.device
    from cellpipe.train import train_network

    monkeypatch.setattr(cellpipe.segment.device, "cpu_has_bfloat16_units", lambda: False)
    image, labels = blobs(shape=(64, 64), centres=[(20, 20, 6, 6), (40, 44, 6, 6)])
    examples, _ = prepare_examples([AnnotatedImage(image, labels, "blob", "g", 0)], [0], ["train"], NormalizeSettings())
    base = {
        "datasets": [{"images": "unused", "labels": "unused"}], "n_epochs": 1, "samples_per_epoch": 2, "batch_size": 2,
        "tile_px": 32, "diam_mean_px": 12.0, "warmup_epochs": 0, "validation_fraction": 0.0,
    }
    with caplog.at_level("WARNING"):
        train_network(examples, [], TrainSettings.model_validate(base), "cpu")
        assert not [r for r in caplog.records if "emulated" in r.getMessage()]
        train_network(examples, [], TrainSettings.model_validate({**base, "precision": "bfloat16"}), "cpu")
    warnings = [r.getMessage() for r in caplog.records if "emulated" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("train.<model>.precision is bfloat16"), warnings
