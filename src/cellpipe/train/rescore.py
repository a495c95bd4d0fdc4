"""Measure a trained model's validation scores again, when its record holds scores computed another way.

For example scores computed by another cellpipe's scoring; ``tools/rescore_model.py`` runs it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cellpipe.config import NormalizeSettings
from cellpipe.io import tables
from cellpipe.io.checksums import cached_file_sha256
from cellpipe.train.data import load_examples
from cellpipe.train.model_card import model_card_versions, render_model_card

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def rescore_model(model_dir: PathLike, reason: str, device: str = "auto", threads: int = 1) -> dict[str, Any]:
    """Measure a trained model's validation scores again and rewrite its ``training.json`` and ``model_card.md``.

    The validation images are rebuilt from the settings recorded in ``training.json`` (paths relative to
    the working directory, as at training) and must be exactly the recorded ones; the weights must still
    have the recorded sha256.

    Parameters
    ----------
    model_dir : str or os.PathLike
        The model's folder (``results/models/<name>``).
    reason : str
        Why the scores are measured again; written into the record and the card.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU) or a torch device name.
    threads : int
        Torch CPU threads (at least 1).

    Returns
    -------
    dict
        The new validation scores (as :func:`cellpipe.train.validation_scores` returns them).

    Raises
    ------
    ValueError
        When the weights' sha256 or the rebuilt validation images differ from the record.
    """
    import torch

    from cellpipe.config import TrainSettings
    from cellpipe.segment import load_cellpose_model, select_device
    from cellpipe.train import validation_scores

    torch.set_num_threads(max(1, int(threads)))
    model_dir = Path(model_dir)
    record_path = model_dir / "training.json"
    summary = tables.read_json(record_path)
    weights = model_dir / summary["weights"]
    if cached_file_sha256(weights) != summary["weights_sha256"]:
        raise ValueError(f"{weights}: sha256 differs from the one recorded in {record_path}")
    run_device = select_device(device)
    train_settings = TrainSettings.model_validate(summary["settings"])
    norm = NormalizeSettings.model_validate(summary["normalization"])
    _, validation, _, _ = load_examples(train_settings, norm, run_device)
    sources = [e.source for e in validation]
    if sources != summary["validation_images"]:
        raise ValueError(f"{record_path}: the validation images rebuilt now differ from the recorded ones: {sources}")
    scores = validation_scores(load_cellpose_model(weights, run_device), validation)
    summary["validation"] = scores
    summary["validation_rescored"] = {"device": run_device, "reason": reason, "versions": model_card_versions()}
    tables.write_json(summary, record_path)
    tables.write_text(render_model_card(summary), model_dir / "model_card.md")
    logger.info("%s: validation %s", model_dir, {k: v for k, v in scores.items() if k != "per_image"})
    return scores
