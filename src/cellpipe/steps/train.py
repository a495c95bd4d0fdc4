"""Entry points of the rules of train.smk: ``train_cellpose`` and ``export_bioimageio``.

``train_cellpose`` reads annotations, trains, and writes the model and its card; ``export_bioimageio`` packs
a model folder as a BioImage Model Zoo package.

``train_cellpose`` writes, all in one folder ``<results>/models/<model>/``:

* ``weights.pth`` — the Cellpose 3 network (a ``CPnet`` state dict; loads in
  Cellpose's GUI and command line and as ``segment.cellpose.model``);
* ``model_card.md`` — training data, sparse-annotation policy, hyper-parameters,
  validation AP@0.5 / AP@0.75, sha256 of the weights, versions;
* ``training.json`` — the same as data, plus per-image validation scores;
* ``training_curve.tsv`` — loss and learning rate per epoch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.config import NormalizeSettings
from cellpipe.config.jobs import TrainJob
from cellpipe.io import tables
from cellpipe.io.checksums import cached_file_sha256
from cellpipe.io.torch_files import write_network
from cellpipe.train.data import load_examples
from cellpipe.train.model_card import model_card_versions, render_model_card

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


SPARSE_POLICY = (
    "Only completely annotated frames are trained on. A Cell Tracking Challenge SEG frame counts as complete "
    "when at least {coverage:.0%} of the cells marked in its TRA tracking ground truth overlap a SEG mask; "
    "sparser frames are left out (never used with their unlabelled nuclei as background). Image/label pairs "
    "are taken to be complete annotations."
)


def train_cellpose_step(
    model_name: str,
    settings: Mapping[str, Any] | TrainJob,
    weights: PathLike,
    card: PathLike,
    record: PathLike,
    curve: PathLike,
    threads: int = 1,
) -> None:
    """Train one model (config ``train.<model_name>``) and write its four outputs (module doc).

    Parameters
    ----------
    model_name : str
        The model's name under ``train``.
    settings : mapping or TrainJob
        The job's settings (:meth:`cellpipe.config.jobs.JobSettings.job_settings`), or their JSON dump
        (the rule's params), validated as :class:`cellpipe.config.jobs.TrainJob`: ``train``, its
        ``train.<model_name>`` entry (:class:`cellpipe.config.TrainSettings`; ``diam_mean_px`` in px,
        ``n_epochs`` in epochs), and ``normalize``, the ``normalize`` section (percentiles), applied to
        the training images as segmentation applies it to a movie.
    weights : str or os.PathLike
        The ``weights.pth`` to write.
    card : str or os.PathLike
        The ``model_card.md`` to write.
    record : str or os.PathLike
        The ``training.json`` to write.
    curve : str or os.PathLike
        The ``training_curve.tsv`` to write (loss and learning rate per epoch).
    threads : int
        CPU threads torch may use (the job's ``threads``).
    """
    import torch

    from cellpipe.segment import load_cellpose_model, select_device
    from cellpipe.train import train_network, validation_scores

    torch.set_num_threads(max(1, int(threads)))
    job = TrainJob.model_validate(settings)
    train_settings, norm = job.train, job.normalize
    device = select_device(train_settings.device)
    train, validation, data_rows, dropped = load_examples(train_settings, norm, device)
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
    write_network(result.net, weights)
    weights_sha = cached_file_sha256(weights)
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
        # which weights a fine-tune started from, beyond their path
        "init_model_sha256": cached_file_sha256(train_settings.init_model) if train_settings.init_model else None,
        "final_train_loss": float(last["train_loss"]),
        "final_validation_loss": None if np.isnan(last["validation_loss"]) else float(last["validation_loss"]),
        "validation": scores,
        "training_seconds": float(last["seconds"]),
        "versions": model_card_versions(),
    }
    tables.write_tsv(result.history, curve)
    tables.write_json(summary, record)
    tables.write_text(render_model_card(summary), card)
    logger.info("wrote %s (sha256 %s); validation %s", weights, weights_sha, {k: v for k, v in scores.items() if k != "per_image"})


def export_bioimageio_step(
    weights: PathLike,
    card: PathLike,
    record: PathLike,
    output: PathLike,
    test_frame_px: int = 256,
    origin: str = "trained",
) -> dict[str, Any]:
    """Write the BioImage Model Zoo package of a model folder (see :mod:`cellpipe.train.bioimageio`).

    The input's preprocessing is the normalization recorded in the training record
    (``normalization``; cellpipe's defaults for a record without one).  The training record and,
    when present next to it, the loss curve travel in the package as attachments.

    Parameters
    ----------
    weights : str or os.PathLike
        The model's ``weights.pth``.
    card : str or os.PathLike
        Its ``model_card.md``.
    record : str or os.PathLike
        Its ``training.json``.
    output : str or os.PathLike
        The package to write.
    test_frame_px : int
        Side of the simulated test frame (px), a multiple of 16 (:func:`cellpipe.train.bioimageio.export_bioimageio_package`).
    origin : str
        ``"trained"`` for a model the workflow trained (rule train_cellpose,
        ``<results>/models/<name>/``), ``"shipped"`` for one shipped with cellpipe
        (``resources/models/<name>/``, whose weights were trained on licence-clean data only, see
        resources/models/README.md).

    Returns
    -------
    dict
        :func:`cellpipe.train.bioimageio.export_bioimageio_package`'s result: the package's path, the
        model test's status, its checks and warnings.

    Raises
    ------
    ValueError
        ``origin`` is neither ``"trained"`` nor ``"shipped"``, or as
        :func:`cellpipe.train.bioimageio.export_bioimageio_package` raises.
    """
    from cellpipe.train.bioimageio import export_bioimageio_package

    if origin not in ("trained", "shipped"):
        raise ValueError(f"origin must be 'trained' or 'shipped', got {origin!r}")
    summary = tables.read_json(record)
    normalization = NormalizeSettings.model_validate(summary.get("normalization") or {})
    sources = sorted({Path(d["images"]).name for d in summary["datasets"]})
    ap = summary["validation"].get("ap@0.5")
    made = (
        "shipped with cellpipe (resources/models/{model}), trained by cellpipe's rule train_cellpose"
        if origin == "shipped"
        else "trained by cellpipe (rule train_cellpose)"
    ).format(model=summary["model"])
    description = (
        f"Cellpose 3 network {made} on {summary['n_train_images']} annotated image(s) from {', '.join(sources)}. "
        f"Nuclei must be rescaled to {summary['diam_mean_px']:g} px across; input: raw intensities, one channel "
        f"(second channel zero), normalized by the preprocessing (percentiles {normalization.low_percentile:g} -> 0, "
        f"{normalization.high_percentile:g} -> 1); output: Y flow, X flow and cell-probability logit, turned into "
        "masks by Cellpose's dynamics. "
        + (f"Validation AP@0.5: {ap:.3f}." if ap is not None else "No validation images.")
    )
    record = Path(record)
    attachments = [record] + [p for p in (record.with_name("training_curve.tsv"),) if p.is_file()]
    provenance = [
        "## Provenance",
        "",
        f"- Weights sha256 `{summary['weights_sha256']}`; training record `training.json`"
        + (", loss per epoch `training_curve.tsv`" if len(attachments) > 1 else "")
        + " (attached to this package).",
    ]
    if origin == "shipped":
        provenance.append(
            "- Shipped with cellpipe in `resources/models/" + summary["model"] + "/`. Only weights trained on "
            "licence-clean data are shipped: cellpipe's own simulated movies and CC0 images (the training data "
            "table above); never on data whose licence forbids redistribution. Licence of the weights: "
            "BSD-3-Clause, as cellpipe."
        )
    else:
        provenance.append(
            "- Trained by the user's cellpipe run; the training data listed above are theirs: check that their "
            "licence allows sharing a model trained on them before publishing this package."
        )
    result = export_bioimageio_package(
        weights, card, output, name=f"cellpipe {summary['model']}", description=description,
        diam_mean_px=summary["diam_mean_px"], normalization=normalization, test_frame_px=test_frame_px,
        attachments=attachments, provenance="\n".join(provenance),
    )
    for check in result["checks"]:
        logger.info("bioimage.io %s", check)
    for warning in result["warnings"]:
        logger.warning("bioimage.io model test warning: %s", warning)
    return result
