"""Entry point of the ``train_cellpose`` rule: read annotations, train, write the model and its card.

Outputs, all in one folder ``<results>/models/<model>/``:

* ``weights.pth`` — the Cellpose 3 network (a ``CPnet`` state dict; loads in
  Cellpose's GUI and command line and as ``segment.cellpose.model``);
* ``model_card.md`` — training data, sparse-annotation policy, hyper-parameters,
  validation AP@0.5 / AP@0.75, sha256 of the weights, versions;
* ``training.json`` — the same as data, plus per-image validation scores;
* ``training_curve.tsv`` — loss and learning rate per epoch.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.io import tables
from cellpipe.io.annotations import read_annotations
from cellpipe.io.atomic import atomic_path
from cellpipe.normalize import NormalizeSettings
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

SPARSE_POLICY = (
    "Only completely annotated frames are trained on. A Cell Tracking Challenge SEG frame counts as complete "
    "when at least {coverage:.0%} of the cells marked in its TRA tracking ground truth overlap a SEG mask; "
    "sparser frames are left out (never used with their unlabelled nuclei as background). Image/label pairs "
    "are taken to be complete annotations."
)


def _input_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def _sha256_of(path: Path) -> str:
    from cellpipe.segment import file_sha256

    return file_sha256(path)


def _dataset_digest(path: Path) -> str:
    """sha256 of a file, or of the sorted (relative name, sha256) list of a folder's files."""
    import hashlib

    if path.is_file():
        return _sha256_of(path)
    digest = hashlib.sha256()
    for file in _input_files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\t{_sha256_of(file)}\n".encode())
    return digest.hexdigest()


def train_cellpose_step(
    model_name: str,
    settings: dict[str, Any],
    normalize: dict[str, Any],
    weights: PathLike,
    card: PathLike,
    record: PathLike,
    curve: PathLike,
    threads: int = 1,
) -> None:
    """Train one model (config ``train.<model_name>``) and write its four outputs."""
    import torch

    from cellpipe.segment import file_sha256, load_cellpose_model, select_device
    from cellpipe.train import TrainSettings, prepare_examples, split_examples, train_network, validation_scores

    torch.set_num_threads(max(1, int(threads)))
    train_settings = TrainSettings.model_validate(settings)
    norm = NormalizeSettings.model_validate(normalize)
    images, ds_index, roles, data_rows = [], [], [], []
    for i, ds in enumerate(train_settings.datasets):
        found = read_annotations(ds.images, ds.labels, ds.frames, ds.channel, train_settings.min_marker_coverage)
        chosen = found.images[:: ds.frame_step]
        images += chosen
        ds_index += [i] * len(chosen)
        roles += [ds.role] * len(chosen)
        data_rows.append(
            {
                "images": ds.images,
                "labels": ds.labels,
                "images_sha256": _dataset_digest(Path(ds.images)),
                "labels_sha256": _dataset_digest(Path(ds.labels)),
                "frames_used": [img.frame for img in chosen],
                "frames_skipped": {str(t): why for t, why in found.skipped.items()},
                "completeness_checked": found.completeness_checked,
                "role": ds.role,
                "weight": ds.weight,
            }
        )
        logger.info("dataset %d (%s): %d image(s) used, %d skipped as sparse", i, ds.labels, len(chosen), len(found.skipped))
    examples, dropped = prepare_examples(images, ds_index, roles, norm, train_settings.min_cells)
    for why in dropped:
        logger.info("not used: %s", why)
    train, validation = split_examples(
        examples, train_settings.validation_fraction, train_settings.validation_by, train_settings.seed
    )
    device = select_device(train_settings.device)
    logger.info(
        "training %s on %s: %d training and %d validation image(s), %d epochs x %d crops",
        model_name, device, len(train), len(validation), train_settings.n_epochs, train_settings.samples_per_epoch,
    )

    def progress(row: dict[str, float]) -> None:
        val = "" if np.isnan(row["validation_loss"]) else f", validation loss {row['validation_loss']:.4f}"
        logger.info(
            "epoch %d/%d: train loss %.4f%s, lr %.2e, %.0f s",
            row["epoch"], train_settings.n_epochs, row["train_loss"], val, row["learning_rate"], row["seconds"],
        )

    result = train_network(train, validation, train_settings, device, progress)

    weights = Path(weights)
    weights.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights) as tmp:
        result.net.save_model(str(tmp))
    weights_sha = file_sha256(weights)
    # validation AP with the saved file, loaded the way the segmentation stage loads it
    model = load_cellpose_model(weights, device)
    scores = validation_scores(model, validation)
    last = result.history.iloc[-1]
    summary: dict[str, Any] = {
        "model": model_name,
        "weights": weights.name,
        "weights_sha256": weights_sha,
        "architecture": "Cellpose 3 CPnet, nbase [2, 32, 64, 128, 256], 3 outputs, 3x3 kernels",
        "diam_mean_px": train_settings.diam_mean_px,
        "diam_labels_px": float(result.net.diam_labels.item()),
        "device": device,
        "n_train_images": result.n_train,
        "n_validation_images": result.n_validation,
        "train_images": [e.source for e in train],
        "validation_images": [e.source for e in validation],
        "datasets": data_rows,
        "not_used": dropped,
        "sparse_annotation_policy": SPARSE_POLICY.format(coverage=train_settings.min_marker_coverage),
        "normalization": norm.model_dump(mode="json"),
        "settings": train_settings.model_dump(mode="json"),
        "final_train_loss": float(last["train_loss"]),
        "final_validation_loss": None if np.isnan(last["validation_loss"]) else float(last["validation_loss"]),
        "validation": scores,
        "training_seconds": float(last["seconds"]),
        "versions": {name: package_version(name) for name in ("cellpipe", "cellpose", "torch", "numpy")},
    }
    tables.write_tsv(result.history, curve)
    tables.write_json(summary, record)
    tables.write_text(render_model_card(summary), card)
    logger.info("wrote %s (sha256 %s); validation %s", weights, weights_sha, {k: v for k, v in scores.items() if k != "per_image"})


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a (no validation images)"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_model_card(summary: dict[str, Any]) -> str:
    """The model card (Markdown) of a training run summary written by :func:`train_cellpose_step`."""
    s = summary["settings"]
    lines = [
        f"# Cellpose model card: {summary['model']}",
        "",
        f"- Weights: `{summary['weights']}`, sha256 `{summary['weights_sha256']}`",
        f"- Architecture: {summary['architecture']}; loads in Cellpose 3.1 "
        "(`CellposeModel(pretrained_model=<path>)`, GUI, `python -m cellpose --pretrained_model <path>`)",
        f"- Cells are rescaled to a diameter of {summary['diam_mean_px']:g} px; mean diameter of the training "
        f"cells {summary['diam_labels_px']:.1f} px. Give the diameter of your cells (segment.diameter_um or diameter_px).",
        "- Input: one channel, normalized like cellpipe's normalize stage "
        f"(percentiles {summary['normalization']['low_percentile']:g} -> 0 and {summary['normalization']['high_percentile']:g} -> 1).",
        f"- Trained on {summary['device']} with cellpose {summary['versions']['cellpose']}, torch "
        f"{summary['versions']['torch']}, numpy {summary['versions']['numpy']}, cellpipe {summary['versions']['cellpipe']}.",
        "",
        "## Validation",
        "",
        f"Instance average precision (TP / (TP + FP + FN), Cellpose's definition) on {summary['n_validation_images']} "
        "held-out image(s), each segmented at its own median ground-truth diameter:",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| AP@0.5 | {_fmt(summary['validation'].get('ap@0.5'))} |",
        f"| AP@0.75 | {_fmt(summary['validation'].get('ap@0.75'))} |",
        f"| final training loss | {summary['final_train_loss']:.4f} |",
        f"| final validation loss | {_fmt(summary['final_validation_loss'])} |",
        "",
        "## Training data",
        "",
        summary["sparse_annotation_policy"],
        "",
        "| images | labels | frames used | frames skipped | role | sha256 (images / labels) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in summary["datasets"]:
        used = ", ".join("-" if f is None else str(f) for f in row["frames_used"]) or "none"
        skipped = len(row["frames_skipped"])
        lines.append(
            f"| `{row['images']}` | `{row['labels']}` | {used} | {skipped} | {row['role']} | "
            f"`{row['images_sha256'][:12]}` / `{row['labels_sha256'][:12]}` |"
        )
    lines += [
        "",
        f"{summary['n_train_images']} training image(s), {summary['n_validation_images']} validation image(s).",
        "",
        "## Hyper-parameters",
        "",
        "```json",
        json.dumps({k: v for k, v in s.items() if k != "datasets"}, indent=2, sort_keys=True),
        "```",
        "",
        "Full record: `training.json`; loss per epoch: `training_curve.tsv`.",
        "",
    ]
    return "\n".join(lines)
