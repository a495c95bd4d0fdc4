"""The model card (Markdown) of a trained model, written from its training record (``training.json``)."""

from __future__ import annotations

import json
from typing import Any

from cellpipe.versions import package_version


def model_card_versions() -> dict[str, str | None]:
    """Installed versions of the packages a model card names.

    Returns
    -------
    dict of str to str or None
        Version of cellpipe, cellpose, torch and numpy, by package name; None where one is not installed.
    """
    return {name: package_version(name) for name in ("cellpipe", "cellpose", "torch", "numpy")}


def _fmt(value: Any) -> str:
    """A validation number for the card: 3 decimals for a float, ``n/a`` for None (no validation images)."""
    if value is None:
        return "n/a (no validation images)"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_model_card(summary: dict[str, Any]) -> str:
    """The model card (Markdown) of a trained model.

    Parameters
    ----------
    summary : dict
        The training record (``training.json``) written by the ``train_cellpose`` step: weights and
        their sha256, diameters (px), normalization percentiles, device, versions, training time (s),
        validation scores (AP@0.5, AP@0.75), losses, datasets and settings.

    Returns
    -------
    str
        The card, ending in a newline.
    """
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
        f"{summary['versions']['torch']}, numpy {summary['versions']['numpy']}, cellpipe "
        f"{summary['versions']['cellpipe'] or '(a source checkout)'}, in {summary['training_seconds']:.0f} s.",
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
    ]
    if "init_model_sha256" in summary:
        start = (
            f"- Fine-tuned from `{s['init_model']}` (sha256 `{summary['init_model_sha256']}`)."
            if summary["init_model_sha256"] else "- Trained from scratch (random initial weights)."
        )
        lines.insert(lines.index("## Validation") - 1, start)
    if summary.get("trained_as"):
        lines.insert(lines.index("## Validation") - 1, f"- Trained as {summary['trained_as']}.")
    if summary.get("validation_rescored"):
        again = summary["validation_rescored"]
        lines += [
            "",
            f"Validation scores measured again on {again['device']} with cellpose {again['versions']['cellpose']}, "
            f"torch {again['versions']['torch']}: {again['reason']}",
        ]
    lines += [
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
