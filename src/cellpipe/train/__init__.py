"""Training and fine-tuning Cellpose 3 networks on annotated images.

The network is Cellpose 3's standard ``CPnet`` (two input channels, the
second left empty for one-channel nuclei images; three outputs: Y flow,
X flow, cell probability), so a trained model loads in Cellpose's own GUI
and command line as well as in cellpipe's segmentation stage.

Recipe (all numbers are settings, see :class:`TrainSettings`):

1. Annotated images (:mod:`cellpipe.io.annotations`; sparse CTC frames are
   left out there) are normalized exactly as the workflow's normalize stage
   would (the image's own ``low``/``high`` percentiles), and Cellpose's flow
   targets are computed from the labels (``cellpose.dynamics.labels_to_flows``).
2. Images are split into training and validation **by frame** or **by
   movie** with a fixed seed (or by the role a dataset is given).
3. Every epoch draws ``samples_per_epoch`` random crops (images chosen in
   proportion to their area after rescaling, times the dataset's weight).
   Each crop is rescaled so the image's median cell diameter becomes
   ``diam_mean_px`` (times a random zoom), then flipped, rotated by multiples
   of 90° (flow vectors transformed with the image), and its intensities
   scaled, shifted and given Gaussian noise.
4. Loss: Cellpose's — mean squared error of the two flow maps against
   5x the target flows, halved, plus binary cross-entropy of the cell
   probability.  AdamW, linear warm-up then cosine decay of the learning rate.
5. The weights of the last epoch are kept, with their BatchNorm statistics
   recomputed from training crops (:func:`recalibrate_batchnorm`); validation loss is logged every
   few epochs and validation AP@0.5 / AP@0.75 is measured at the end by
   segmenting the validation images with the saved model
   (:func:`validation_scores`).

Everything is seeded: the same data, settings and device give the same
weights.  Units: diameters and crop sizes in px, learning rate per step.

Reading the annotated datasets is :mod:`cellpipe.train.data`, the model card
:mod:`cellpipe.train.model_card`, scoring a trained model again
:mod:`cellpipe.train.rescore`; the rule's entry point is :mod:`cellpipe.steps.train`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.config import NormalizeSettings, TrainSettings
from cellpipe.io.annotations import AnnotatedImage

logger = logging.getLogger(__name__)

__all__ = [
    "Example",
    "TrainingResult",
    "augment_batch",
    "build_network",
    "cellpose_loss",
    "prepare_examples",
    "recalibrate_batchnorm",
    "split_examples",
    "train_network",
    "transform_crop",
    "validation_scores",
]

#: Channels per feature level of Cellpose 3's standard network (2 input channels).
CPNET_NBASE: tuple[int, ...] = (2, 32, 64, 128, 256)


@dataclass(frozen=True)
class Example:
    """A training image ready for cropping.

    Attributes
    ----------
    image : numpy.ndarray
        (Y, X) float32 normalized intensities.
    labels : numpy.ndarray
        (Y, X) uint32 instance labels (for scoring).
    targets : numpy.ndarray
        (3, Y, X) float32 cell probability (0/1), Y flow, X flow.
    diameter_px : float
        Median cell diameter (px, Cellpose's definition: diameter of the disc of the median area).
    n_cells : int
        Labelled cells in the image.
    source : str
        Where the image came from (file and frame), for messages and records.
    group : str
        The movie it belongs to; a split by movie keeps a group together.
    frame : int or None
        0-based frame in its movie, None for a single image.
    dataset : int
        Index of its dataset in ``train.datasets``.
    role : str
        ``"train"``, ``"validation"`` or ``"auto"`` (split by :func:`split_examples`).
    """

    image: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    diameter_px: float
    n_cells: int
    source: str
    group: str
    frame: int | None
    dataset: int
    role: str


@dataclass
class TrainingResult:
    """A trained network and its history.

    Attributes
    ----------
    net : cellpose.resnet_torch.CPnet
        The network, in eval mode, BatchNorm statistics recalibrated.
    history : pandas.DataFrame
        One row per epoch: ``epoch`` (1-based), ``learning_rate``, ``train_loss``, ``validation_loss``
        (NaN where not measured), ``seconds`` (wall-clock s since training started).
    device : str
        Torch device it was trained on.
    n_train : int
        Training examples.
    n_validation : int
        Validation examples.
    """

    net: Any
    history: pd.DataFrame
    device: str
    n_train: int
    n_validation: int


# --------------------------------------------------------------------------- data


def _normalize_image(image: np.ndarray, norm: NormalizeSettings) -> np.ndarray:
    """``image`` scaled so its ``low``/``high`` percentiles become 0 and 1, as float32.

    Clipped to 0-1 when ``norm.clip``; non-finite pixels become 0 and are left out of the percentiles.
    """
    finite = np.isfinite(image)
    values = image[finite] if not finite.all() else image
    low, high = np.percentile(values, [norm.low_percentile, norm.high_percentile]) if values.size else (0.0, 1.0)
    scale = float(high - low) if high > low else 1.0
    out = (np.where(finite, image, low) - low) / scale
    if norm.clip:
        out = np.clip(out, 0.0, 1.0)
    return out.astype(np.float32)


def prepare_examples(
    images: Sequence[AnnotatedImage],
    dataset_index: Sequence[int],
    roles: Sequence[str],
    norm: NormalizeSettings,
    min_cells: int = 1,
    device: str = "cpu",
) -> tuple[list[Example], list[str]]:
    """Normalize annotated images and compute their Cellpose flow targets.

    Parameters
    ----------
    images : sequence of cellpipe.io.annotations.AnnotatedImage
        The annotated images (intensities and instance labels).
    dataset_index : sequence of int
        ``dataset_index[i]``: index of the dataset ``images[i]`` comes from.
    roles : sequence of str
        ``roles[i]``: the role of ``images[i]`` (``"train"``, ``"validation"``, ``"auto"``).
    norm : cellpipe.config.NormalizeSettings
        Percentiles (and clipping) applied to each image on its own.
    min_cells : int
        Images with fewer labelled cells (at least 1) are dropped.
    device : str
        Torch device the flows are computed on: ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Returns
    -------
    examples : list of Example
        One per image kept, in input order.
    dropped : list of str
        One line per image dropped, saying why.
    """
    import torch
    from cellpose.dynamics import labels_to_flows
    from cellpose.utils import diameters

    examples: list[Example] = []
    dropped: list[str] = []
    for item, ds, role in zip(images, dataset_index, roles, strict=True):
        if item.n_cells < max(1, min_cells):
            dropped.append(f"{item.source}: {item.n_cells} labelled cell(s), fewer than {max(1, min_cells)}")
            continue
        flows = labels_to_flows([item.labels.astype(np.int32)], device=torch.device(device))[0]  # labels, cellprob, flowY, flowX
        diameter = float(diameters(item.labels)[0])
        examples.append(
            Example(
                image=_normalize_image(item.image, norm),
                labels=item.labels,
                targets=np.ascontiguousarray(flows[1:4], dtype=np.float32),
                diameter_px=diameter,
                n_cells=item.n_cells,
                source=item.source,
                group=item.group,
                frame=item.frame,
                dataset=int(ds),
                role=role,
            )
        )
    return examples, dropped


def split_examples(
    examples: Sequence[Example], fraction: float, by: str, seed: int
) -> tuple[list[Example], list[Example]]:
    """Split examples into a training and a validation set.

    Examples whose dataset role is ``"train"`` or ``"validation"`` go to that set; ``"auto"`` ones are
    split by frame (each image apart) or by movie (all images of a ``group`` together), holding out
    ``round(fraction * n)`` of them, but at least one and never all when ``fraction > 0`` and at least
    two candidates exist.

    Parameters
    ----------
    examples : sequence of Example
        The prepared examples.
    fraction : float
        Share (0-1) of the ``"auto"`` frames or movies held out for validation.
    by : str
        ``"frame"`` or ``"movie"``.
    seed : int
        Seed of the random choice; the same inputs give the same split.

    Returns
    -------
    train : list of Example
    validation : list of Example
    """
    train = [e for e in examples if e.role == "train"]
    val = [e for e in examples if e.role == "validation"]
    auto = [e for e in examples if e.role == "auto"]
    if not auto:
        return train, val
    keys = sorted({e.group for e in auto}) if by == "movie" else list(range(len(auto)))
    n_hold = int(round(fraction * len(keys)))
    if fraction > 0 and len(keys) >= 2:
        n_hold = min(max(n_hold, 1), len(keys) - 1)
    else:
        n_hold = 0
    rng = np.random.default_rng(seed)
    held = {keys[i] for i in rng.permutation(len(keys))[:n_hold]} if n_hold else set()
    for i, e in enumerate(auto):
        (val if (e.group if by == "movie" else i) in held else train).append(e)
    return train, val


# --------------------------------------------------------------------------- augmentation


def transform_crop(
    image: np.ndarray, targets: np.ndarray, flip_y: bool, flip_x: bool, k90: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flip and rotate an image crop and its flow targets consistently.

    Flow vectors are transformed with the pixels: a flip along X negates the X flow, along Y the Y
    flow; each counter-clockwise quarter turn (``np.rot90``) maps (flowY, flowX) to (-flowX, flowY).

    Parameters
    ----------
    image : numpy.ndarray
        (C, Y, X) crop.
    targets : numpy.ndarray
        (3, Y, X) cell probability, Y flow, X flow (px).
    flip_y : bool
        Flip along Y.
    flip_x : bool
        Flip along X.
    k90 : int
        Counter-clockwise quarter turns (taken modulo 4), applied after the flips.

    Returns
    -------
    image : numpy.ndarray
        The transformed crop, C-contiguous.
    targets : numpy.ndarray
        The transformed targets, C-contiguous.
    """
    img = image
    tgt = targets.copy()
    if flip_x:
        img = img[..., ::-1]
        tgt = tgt[..., ::-1].copy()
        tgt[2] = -tgt[2]
    if flip_y:
        img = img[..., ::-1, :]
        tgt = tgt[..., ::-1, :].copy()
        tgt[1] = -tgt[1]
    for _ in range(k90 % 4):
        img = np.rot90(img, axes=(-2, -1))
        tgt = np.rot90(tgt, axes=(-2, -1)).copy()
        fy, fx = tgt[1].copy(), tgt[2].copy()
        tgt[1], tgt[2] = -fx, fy
    return np.ascontiguousarray(img), np.ascontiguousarray(tgt)


def augment_batch(
    examples: Sequence[Example], rng: np.random.Generator, settings: TrainSettings, augment: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Random crops of examples, as network input and targets.

    Each crop is rescaled so the example's median diameter becomes ``diam_mean_px`` (times a random
    zoom when ``augment``), cut at a random place, then flipped/rotated and intensity-augmented (a
    gamma when ``augment.gamma_range`` is set, gain, shift, Gaussian noise) when ``augment``. The
    second input channel is zero, as Cellpose feeds one-channel images.

    Parameters
    ----------
    examples : sequence of Example
        One crop is made of each.
    rng : numpy.random.Generator
        Source of every random choice (Cellpose's cropper is seeded from it).
    settings : cellpipe.config.TrainSettings
        ``tile_px`` (crop size, px), ``diam_mean_px`` (px) and the ``augment`` section.
    augment : bool
        Apply the random zoom, flips, rotations and intensity changes.

    Returns
    -------
    x : numpy.ndarray
        (B, 2, tile_px, tile_px) float32 network input.
    y : numpy.ndarray
        (B, 3, tile_px, tile_px) float32 targets: cell probability, Y flow, X flow.
    """
    from cellpose.transforms import random_rotate_and_resize

    aug = settings.augment
    tile = settings.tile_px
    n = len(examples)
    x = np.zeros((n, 2, tile, tile), np.float32)
    y = np.zeros((n, 3, tile, tile), np.float32)
    for i, ex in enumerate(examples):
        # cellpose's cropper draws from numpy's global generator: seed it from ours
        np.random.seed(int(rng.integers(0, 2**32 - 1)))
        scale_range = aug.scale_range if augment else 0.0
        rescale = np.array([ex.diameter_px / settings.diam_mean_px], np.float32)
        img2 = np.stack([ex.image, np.zeros_like(ex.image)])
        imgs, lbls, _ = random_rotate_and_resize(
            [img2], Y=[ex.targets], scale_range=scale_range, xy=(tile, tile), do_flip=False, rotate=False, rescale=rescale
        )
        img, tgt = imgs[0], lbls[0]
        if augment:
            flip_y = bool(aug.flips and rng.random() < 0.5)
            flip_x = bool(aug.flips and rng.random() < 0.5)
            k90 = int(rng.integers(0, 4)) if aug.rotate90 else 0
            img, tgt = transform_crop(img, tgt, flip_y, flip_x, k90)
            low, high = aug.intensity_scale
            gain = rng.uniform(low, high)
            shift = rng.uniform(-aug.intensity_shift, aug.intensity_shift)
            sd = rng.uniform(0.0, aug.noise_sd_max)
            channel = img[0]
            if aug.gamma_range is not None:
                gamma = np.exp(rng.uniform(np.log(aug.gamma_range[0]), np.log(aug.gamma_range[1])))
                channel = np.maximum(channel, 0.0) ** np.float32(gamma)
            channel = channel * gain + shift
            if sd > 0:
                channel = channel + rng.normal(0.0, sd, size=channel.shape).astype(np.float32)
            img = img.copy()
            img[0] = channel
        x[i] = img
        y[i] = tgt
    return x, y


# --------------------------------------------------------------------------- network


def build_network(diam_mean_px: float, init_model: str | Path | None, device: str, seed: int) -> Any:
    """A Cellpose 3 ``CPnet`` on a device, with fresh or loaded weights.

    Parameters
    ----------
    diam_mean_px : float
        The cell diameter (px) the network works at; a loaded network must have the same.
    init_model : str or pathlib.Path or None
        Weights to start from: an existing local file (checked; never downloaded) holding a network of
        the same layout. None: fresh weights from ``seed``.
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"mps"``).
    seed : int
        Torch seed for the fresh weights.

    Returns
    -------
    cellpose.resnet_torch.CPnet
        The network, channels-last on ``device``.

    Raises
    ------
    ValueError
        When ``init_model`` is no 2-channel CPnet or has another ``diam_mean``.
    """
    import torch
    from cellpose.resnet_torch import CPnet

    from cellpipe.io.torch_files import load_state_dict
    from cellpipe.segment import check_model_path

    torch.manual_seed(seed)
    net = CPnet(list(CPNET_NBASE), nout=3, sz=3, mkldnn=False, max_pool=True, diam_mean=float(diam_mean_px))
    if init_model is not None:
        path = check_model_path(init_model)
        state = load_state_dict(path)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}: not a Cellpose 3 CPnet with 2 input channels (missing {list(missing)[:3]}, "
                f"unexpected {list(unexpected)[:3]})"
            )
        stored = float(net.diam_mean.item())
        if abs(stored - diam_mean_px) > 1e-6:
            raise ValueError(
                f"{path}: the model was trained with diam_mean {stored:g} px but train.diam_mean_px is "
                f"{diam_mean_px:g}; set diam_mean_px to {stored:g} to fine-tune it"
            )
    # channels-last: a training step on 2 CPU cores takes about 1.35x less time (and cuDNN prefers it)
    return net.to(torch.device(device), memory_format=torch.channels_last)


def _to_net(x: np.ndarray, device: str) -> Any:
    """A batch (B, C, Y, X) as a channels-last tensor on ``device``."""
    import torch

    return torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)


def cellpose_loss(prediction: Any, targets: Any) -> Any:
    """Cellpose's training loss for a batch.

    Mean squared error of the flows against 5x the targets, halved, plus binary cross-entropy of the
    cell probability.

    Parameters
    ----------
    prediction : torch.Tensor
        (B, 3, Y, X) predicted Y flow, X flow, cell-probability logit.
    targets : torch.Tensor
        (B, 3, Y, X) cell probability (0/1), Y flow, X flow.

    Returns
    -------
    torch.Tensor
        The scalar loss.
    """
    import torch.nn.functional as F

    flow_loss = F.mse_loss(prediction[:, :2], 5.0 * targets[:, 1:]) / 2.0
    prob_loss = F.binary_cross_entropy_with_logits(prediction[:, 2], (targets[:, 0] > 0.5).float())
    return flow_loss + prob_loss


def learning_rate_at(epoch: int, settings: TrainSettings) -> float:
    """Learning rate of an epoch: linear warm-up over ``warmup_epochs``, then cosine decay to 1 % of the peak.

    Parameters
    ----------
    epoch : int
        0-based epoch.
    settings : cellpipe.config.TrainSettings
        ``learning_rate`` (the peak, per optimizer step), ``warmup_epochs``, ``n_epochs``.

    Returns
    -------
    float
        The learning rate.
    """
    peak = settings.learning_rate
    warm = min(settings.warmup_epochs, settings.n_epochs - 1)
    if epoch < warm:
        return peak * (epoch + 1) / (warm + 1)
    span = max(1, settings.n_epochs - warm - 1)
    progress = (epoch - warm) / span
    return peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _sampling_weights(examples: Sequence[Example], settings: TrainSettings) -> np.ndarray:
    """Probability of drawing each example: its area in tiles after rescaling (at least 1) times its dataset's weight."""
    weights = []
    for ex in examples:
        scale = settings.diam_mean_px / max(ex.diameter_px, 1e-6)
        area_tiles = ex.image.shape[0] * ex.image.shape[1] * scale * scale / float(settings.tile_px**2)
        weights.append(settings.datasets[ex.dataset].weight * max(area_tiles, 1.0))
    total = float(np.sum(weights))
    return np.asarray(weights, dtype=np.float64) / total


def _validation_loss(net: Any, examples: Sequence[Example], settings: TrainSettings, device: str) -> float:
    """Mean loss of ``net`` on fixed, unaugmented validation crops (the same crops at every call)."""
    import torch

    rng = np.random.default_rng(settings.seed + 1)  # the same crops every time
    batch = [examples[i % len(examples)] for i in range(max(len(examples), settings.batch_size))]
    total, count = 0.0, 0
    net.eval()
    with torch.no_grad():
        for start in range(0, len(batch), settings.batch_size):
            part = batch[start : start + settings.batch_size]
            x, y = augment_batch(part, rng, settings, augment=False)
            pred = net(_to_net(x, device))[0]
            total += float(cellpose_loss(pred, torch.from_numpy(y).to(device)).item()) * len(part)
            count += len(part)
    return total / max(count, 1)


def recalibrate_batchnorm(net: Any, examples: Sequence[Example], settings: TrainSettings, device: str) -> int:
    """Recompute the BatchNorm running mean and variance of a network from training crops.

    During training, BatchNorm keeps exponential running averages (CPnet: momentum 0.05) that lag
    behind the weights; after a short run they still weigh the initial values heavily and the network
    in eval mode (as used for segmentation) is off. Here the statistics are reset and averaged
    cumulatively over ``settings.batchnorm_calibration_crops`` augmented crops (seeded) passed through
    the final weights, without any gradient step. The network is left in eval mode.

    Parameters
    ----------
    net : torch.nn.Module
        The trained network.
    examples : sequence of Example
        Training examples the crops are drawn from.
    settings : cellpipe.config.TrainSettings
        ``batchnorm_calibration_crops``, ``batch_size``, ``seed`` and the crop settings.
    device : str
        Torch device of ``net``.

    Returns
    -------
    int
        Crops used; 0 when there are no crops, no BatchNorm layers or no examples.
    """
    import torch

    n_crops = settings.batchnorm_calibration_crops
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if n_crops == 0 or not norms or not examples:
        net.eval()
        return 0
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all calibration batches
    rng = np.random.default_rng(settings.seed + 2)
    probabilities = _sampling_weights(examples, settings)
    picks = rng.choice(len(examples), size=n_crops, p=probabilities)
    net.train()
    with torch.no_grad():
        for start in range(0, n_crops, settings.batch_size):
            x, _ = augment_batch([examples[i] for i in picks[start : start + settings.batch_size]], rng, settings)
            net(_to_net(x, device))
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    net.eval()
    return n_crops


def train_network(
    train: Sequence[Example],
    validation: Sequence[Example],
    settings: TrainSettings,
    device: str,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainingResult:
    """Train a CPnet, logging the validation loss every few epochs.

    Deterministic for fixed inputs, settings and device (torch and numpy are seeded from
    ``settings.seed``). The last epoch's validation loss is measured after BatchNorm recalibration, on
    the network as it is saved.

    Parameters
    ----------
    train : sequence of Example
        Training examples; at least one.
    validation : sequence of Example
        Validation examples; may be empty.
    settings : cellpipe.config.TrainSettings
        The model's training settings (epochs, crops per epoch, batch size, learning rate, ...).
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"mps"``).
    progress : callable, optional
        Called after every epoch with that epoch's history row.

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        When ``train`` is empty.
    """
    import torch

    if not train:
        raise ValueError("no training images left (all annotated frames were sparse, too small or held out)")
    bfloat16 = settings.precision == "bfloat16"
    if bfloat16 and torch.device(device).type not in ("cpu", "cuda"):
        raise ValueError(f"train precision 'bfloat16' runs on a CPU or a CUDA GPU, not on {device}; use float32")
    if bfloat16:
        from cellpipe.segment import warn_if_bfloat16_emulated

        warn_if_bfloat16_emulated("train.<model>.precision", torch.device(device).type)
    net = build_network(settings.diam_mean_px, settings.init_model, device, settings.seed)
    # diam_labels: mean diameter of the training cells (px); Cellpose uses it when no diameter is given
    net.diam_labels.data = torch.tensor([float(np.mean([e.diameter_px for e in train]))], device=device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(settings.seed)
    probabilities = _sampling_weights(train, settings)
    rows: list[dict[str, float]] = []
    started = time.perf_counter()
    for epoch in range(settings.n_epochs):
        lr = learning_rate_at(epoch, settings)
        for group in optimizer.param_groups:
            group["lr"] = lr
        picks = rng.choice(len(train), size=settings.samples_per_epoch, p=probabilities)
        net.train()
        loss_sum = 0.0
        for start in range(0, len(picks), settings.batch_size):
            batch = [train[i] for i in picks[start : start + settings.batch_size]]
            x, y = augment_batch(batch, rng, settings)
            with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bfloat16):
                pred = net(_to_net(x, device))[0]
            loss = cellpose_loss(pred.float(), torch.from_numpy(y).to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.item()) * len(batch)
        row = {
            "epoch": float(epoch + 1),
            "learning_rate": lr,
            "train_loss": loss_sum / len(picks),
            "validation_loss": float("nan"),
            "seconds": time.perf_counter() - started,
        }
        last = epoch == settings.n_epochs - 1  # its validation loss is measured after BatchNorm calibration
        if validation and not last and (epoch + 1) % settings.validation_every_epochs == 0:
            row["validation_loss"] = _validation_loss(net, validation, settings, device)
        rows.append(row)
        if progress is not None:
            progress(row)
    recalibrate_batchnorm(net, train, settings, device)
    if validation:  # the last validation loss is that of the network as it is saved
        rows[-1]["validation_loss"] = _validation_loss(net, validation, settings, device)
    history = pd.DataFrame(rows, columns=["epoch", "learning_rate", "train_loss", "validation_loss", "seconds"])
    history["epoch"] = history["epoch"].astype("int64")
    return TrainingResult(net=net, history=history, device=device, n_train=len(train), n_validation=len(validation))


def validation_scores(model: Any, examples: Sequence[Example], thresholds: Sequence[float] = (0.5, 0.75)) -> dict[str, Any]:
    """Instance average precision of a model on examples (Cellpose's AP = TP / (TP + FP + FN)).

    Each image is segmented by cellpipe's Cellpose path at its own median ground-truth diameter (px),
    so the score measures the network, not diameter estimation.

    Parameters
    ----------
    model : cellpose.models.CellposeModel
        The model, loaded from its weights file.
    examples : sequence of Example
        Images with their ground-truth labels.
    thresholds : sequence of float
        IoU thresholds (0-1).

    Returns
    -------
    dict
        ``{"ap@0.5": mean, "ap@0.75": mean, "per_image": [{"source", "ap@0.5", ...}, ...]}`` for the
        default thresholds; the means are None when there are no examples.
    """
    from cellpipe.config import SegmentSettings
    from cellpipe.metrics import instance_scores
    from cellpipe.segment import segment_cells

    keys = [f"ap@{t:g}" for t in thresholds]
    if not examples:
        return {**{k: None for k in keys}, "per_image": []}
    per_image = []
    for ex in examples:
        settings = SegmentSettings.model_validate(
            {"method": "cellpose", "diameter_px": ex.diameter_px, "cellpose": {"model": str(model.pretrained_model)}}
        )
        masks, _ = segment_cells(ex.image[np.newaxis], settings, pixel_size_um=1.0, model=model)
        scores = instance_scores(ex.labels, masks[0], thresholds)
        per_image.append({"source": ex.source, **{f"ap@{t}": row["ap"] for t, row in scores.items()}})
    means = {k: float(np.mean([row[k] for row in per_image])) for k in keys}
    return {**means, "per_image": per_image}

