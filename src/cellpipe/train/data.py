"""The training data of a model: annotated datasets, their checksums, and the examples split for training.

Datasets are read from disk by :mod:`cellpipe.io.annotations`; their checksums go into the model's record;
the examples are split for training and validation.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cellpipe.config import NormalizeSettings
from cellpipe.io.annotations import read_annotations
from cellpipe.io.checksums import cached_file_sha256, files_under, tree_digest

logger = logging.getLogger(__name__)


def _dataset_digest(path: Path) -> str:
    """sha256 of a file, or a folder's digest in the form provenance records use (:func:`~cellpipe.io.checksums.tree_digest`)."""
    if path.is_file():
        return cached_file_sha256(path)
    return tree_digest({"path": name, "sha256": cached_file_sha256(path / name)} for name in files_under(path))


def load_examples(
    train_settings: Any, norm: NormalizeSettings, device: str
) -> tuple[list[Any], list[Any], list[dict[str, Any]], list[str]]:
    """Read every dataset of the training settings, prepare examples and split them.

    The same settings always give the same split.

    Parameters
    ----------
    train_settings : cellpipe.config.TrainSettings
        The model's ``train.<name>`` section: datasets (images, labels, frames, channel, frame step,
        role, weight), ``min_marker_coverage``, ``min_cells``, ``validation_fraction``,
        ``validation_by`` and ``seed``.
    norm : cellpipe.config.NormalizeSettings
        The normalization applied to each image (percentiles), as the normalize stage does.
    device : str
        Torch device the examples are prepared on (``"cuda"``, ``"mps"`` or ``"cpu"``).

    Returns
    -------
    train : list of Example
        Training examples.
    validation : list of Example
        Validation examples.
    datasets : list of dict
        One provenance row per dataset: paths, sha256 of images and labels, frames used (0-based) and
        skipped with the reason, role, weight.
    dropped : list of str
        Why images were not used (too few cells, ...).
    """
    from cellpipe.train import prepare_examples, split_examples

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
    examples, dropped = prepare_examples(images, ds_index, roles, norm, train_settings.min_cells, device=device)
    for why in dropped:
        logger.info("not used: %s", why)
    train, validation = split_examples(
        examples, train_settings.validation_fraction, train_settings.validation_by, train_settings.seed
    )
    return train, validation, data_rows, dropped
