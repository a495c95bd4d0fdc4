"""What goes into a model's BioImage Model Zoo (bioimage.io) package, and the model test it must pass.

The package (written by :func:`cellpipe.io.bioimageio.write_bioimageio_package`) holds, besides the
weights, a raw test input and the network's outputs on it, the same as sample tensors, a cover image,
the model card with a section on the package as documentation, and the training record.  This module
makes those contents and then checks the written package with ``bioimageio.core.test_model`` (format
validation, and both weight formats must reproduce the test outputs from the raw test input with the
package's own preprocessing applied) before it is put in place.

cellpipe's normalization is a ``preprocessing`` step of the input, not prose
(:func:`cellpipe.io.bioimageio.input_preprocessing`).  The test input is therefore the raw frame
(camera counts) and the expected outputs are the network's outputs on that frame normalized by
:func:`cellpipe.normalize.normalize_movie`: the model test passes only if bioimage.io's preprocessing
reproduces cellpipe's normalization.  What still differs is written in the package's documentation
(:func:`preprocessing_notes`).

The test input is a frame simulated by :mod:`cellpipe.simulate` whose nuclei have the model's
training diameter, so a package never carries the user's (possibly licence-restricted) images.
The network's second input channel is all zeros; its first output holds the Y flow, the X flow and
the cell-probability logit, from which Cellpose's dynamics build the masks (not part of the package).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.io import bioimageio as package_format

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = [
    "cover_png",
    "export_bioimageio_package",
    "preprocessing_notes",
    "run_model_test",
    "simulated_raw_frame",
    "simulated_test_frame",
]

# bioimage.io model test messages that are no warning: bioimageio.core reports, as a warning of each
# passed output comparison, the largest differences left within tolerance ("all elements agree").
_AGREEMENT_NOTE = "all elements agree with expected values"


def simulated_raw_frame(diameter_px: float, size: int = 256, seed: int = 0) -> np.ndarray:
    """A frame of simulated nuclei, in camera counts (raw).

    Parameters
    ----------
    diameter_px : float
        About the nuclei's diameter (px); the number of nuclei covers about 15 % of the frame.
    size : int
        Side of the square frame (px).
    seed : int
        Seed of the simulation.

    Returns
    -------
    numpy.ndarray
        (size, size) uint16.
    """
    from cellpipe.simulate import make_nuclei_movie

    radius = diameter_px / 2.0 / 0.8  # semi-major axis; the simulator's minor/major ratio is 0.65-0.95
    n_cells = max(2, int(0.15 * size * size / (np.pi * (diameter_px / 2.0) ** 2)))
    movie = make_nuclei_movie(n_frames=1, shape=(size, size), seed=seed, nucleus_radius_px=radius, n_cells=n_cells)
    return np.asarray(movie.image[0])


def simulated_test_frame(diameter_px: float, size: int = 256, seed: int = 0) -> np.ndarray:
    """:func:`simulated_raw_frame` normalized like cellpipe's normalize stage (default settings).

    Parameters
    ----------
    diameter_px : float
        About the nuclei's diameter (px).
    size : int
        Side of the square frame (px).
    seed : int
        Seed of the simulation.

    Returns
    -------
    numpy.ndarray
        (size, size) float32, the low and high percentiles at 0 and 1.
    """
    from cellpipe.config import NormalizeSettings
    from cellpipe.normalize import normalize_movie

    raw = simulated_raw_frame(diameter_px, size=size, seed=seed)
    normalized, _ = normalize_movie(raw[np.newaxis, np.newaxis], NormalizeSettings())
    return np.asarray(normalized, dtype=np.float32)[0, 0]


def preprocessing_notes(normalization: Any) -> str:
    """The package documentation's section on the input and its preprocessing.

    Parameters
    ----------
    normalization : cellpipe.config.NormalizeSettings
        The normalization the model was trained with.

    Returns
    -------
    str
        Markdown, ending in an empty line: the input's axes and sizes (px), the preprocessing, what
        differs from cellpipe's normalize stage, the test tensors and the outputs.
    """
    s = normalization
    axes = ", ".join(package_format.scale_axes(s.mode))
    clip = (
        "then `clip` to [0, 1] (as the training's `clip: true`)"
        if s.clip
        else "no clipping (values below 0 and above 1 are kept, as cellpipe's `clip: false`)"
    )
    where = (
        "over the whole movie (`mode: movie`: one pair of percentiles per channel for all frames, computed on a "
        f"regular subsample of at most {s.max_sample_pixels} pixels per channel when the movie is larger)"
        if s.mode == "movie"
        else "over each frame separately (`mode: frame`)"
    )
    return "\n".join([
        "## This bioimage.io package",
        "",
        "- Input `raw`: axes (z, channel, y, x), float32 raw intensities (camera counts, any range); channel 1 "
        "holds the image, channel 2 must be all zeros; z holds frames (the 2D network's batch); y and x a "
        "multiple of 16 px. Rescale the image first so that the nuclei are "
        "about the model's diameter across (see above): the package does not resize.",
        f"- Preprocessing (applied by bioimage.io runtimes): `scale_range` with `min_percentile` "
        f"{s.low_percentile:g} and `max_percentile` {s.high_percentile:g} over the axes ({axes}), per channel, "
        f"{clip}. This is cellpipe's normalize stage: (x - low) / (high - low), low and high the intensities "
        "at these percentiles.",
        f"- What differs from cellpipe: cellpipe takes the percentiles {where}; the preprocessing takes them "
        "over the tensor it is given, so a movie gives the same values only when all of its frames are passed "
        "together along z (and it has no more pixels than the subsample), a tile or a single frame of a movie "
        "gets its own. bioimage.io divides by (high - low + 1e-6) where cellpipe divides by (high - low); "
        "a flat channel (high = low) becomes 0 in cellpipe and (x - low) / 1e-6 here (0 for the empty second "
        "channel); cellpipe ignores NaN pixels in the percentiles and cellpipe's segment stage sets NaN to 0.",
        "- The test input (`test_input.npy`, also `sample_input.tif`) is a raw frame simulated by cellpipe; "
        "the test outputs are the network's outputs on that frame normalized by cellpipe's own normalize "
        "stage, so `bioimageio test` checks that the preprocessing above reproduces cellpipe's normalization.",
        "- Outputs: `flow` holds the Y flow, the X flow and the cell-probability logit; Cellpose's dynamics "
        "(not part of this package) turn them into instance masks. `style` and `downsampled_*` are the "
        "network's internal features, as Cellpose's own exporter writes them.",
        "",
    ])


def cover_png(raw: np.ndarray, image: np.ndarray, flow: np.ndarray) -> bytes:
    """The package's cover image (PNG, 900 x 300 px): the raw test frame, the frame after preprocessing and the cell probability.

    Parameters
    ----------
    raw : numpy.ndarray
        (y, x) raw test frame (camera counts).
    image : numpy.ndarray
        (y, x) the same frame normalized (0 to 1).
    flow : numpy.ndarray
        (3, y, x) the network's first output: Y flow, X flow, cell-probability logit.

    Returns
    -------
    bytes
        The PNG file's bytes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9, 3), dpi=100)
    axes[0].imshow(raw, cmap="gray")
    axes[0].set_title("input (raw)", fontsize=9)
    axes[1].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[1].set_title("after preprocessing", fontsize=9)
    axes[2].imshow(1 / (1 + np.exp(-flow[2])), cmap="magma", vmin=0, vmax=1)
    axes[2].set_title("cell probability", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def run_model_test(package: Path) -> Any:
    """bioimage.io's model test of a written package; raises when a check fails.

    Parameters
    ----------
    package : pathlib.Path
        The package (``.zip``).

    Returns
    -------
    bioimageio.spec.summary.ValidationSummary
        The test's summary.

    Raises
    ------
    ValueError
        Naming every failed check and its errors.
    """
    from bioimageio.core import test_model

    summary = test_model(package)
    failed = [f"{d.name}: {'; '.join(e.msg for e in d.errors)}" for d in summary.details if d.status == "failed"]
    if failed:
        raise ValueError("bioimage.io model test failed: " + " | ".join(failed))
    return summary


def export_bioimageio_package(
    weights: PathLike,
    model_card: PathLike,
    output: PathLike,
    name: str,
    description: str,
    diam_mean_px: float,
    normalization: Any = None,
    authors: list[dict[str, str]] | None = None,
    license_id: str = "BSD-3-Clause",
    test_frame_px: int = 256,
    attachments: Sequence[PathLike] = (),
    provenance: str = "",
) -> dict[str, Any]:
    """Write the bioimage.io package of a Cellpose 3 CPnet and test it.

    Nothing is downloaded. The package is written and tested in a temporary folder and only then put
    in place, so a failed export leaves no zip under the final name.

    Parameters
    ----------
    weights : str or os.PathLike
        The network's state dict (``weights.pth``).
    model_card : str or os.PathLike
        The model card (Markdown); the package's documentation starts with it.
    output : str or os.PathLike
        The package to write (``.zip``).
    name : str
        The model's name in ``rdf.yaml``.
    description : str
        Its one-line description.
    diam_mean_px : float
        The cell diameter (px) the network works at; the simulated test frame's nuclei have it.
    normalization : cellpipe.config.NormalizeSettings, optional
        The normalization the model was trained with (default: cellpipe's defaults), written as the
        input's preprocessing.
    authors : list of dict of str to str, optional
        ``rdf.yaml`` authors (``name``, ...); default ``cellpipe developers``.
    license_id : str
        SPDX licence identifier.
    test_frame_px : int
        Side of the simulated test frame (px), a multiple of 16 (the network's input sizes).
    attachments : sequence of str or os.PathLike
        Files shipped with the package (the training record).
    provenance : str
        A Markdown paragraph added to the documentation (where the weights come from).

    Returns
    -------
    dict
        ``package`` (its path), ``status`` of bioimage.io's model test on the written package,
        ``checks`` (one line each) and ``warnings`` (the differences within tolerance that it reports
        for every passed output comparison left out).

    Raises
    ------
    ValueError
        When ``test_frame_px`` is no multiple of 16 or a check of the model test fails.
    """
    import torch

    from cellpipe.config import NormalizeSettings
    from cellpipe.normalize import normalize_movie

    if test_frame_px < 16 or test_frame_px % 16:
        raise ValueError(f"test_frame_px must be a multiple of 16 (the network's input sizes), got {test_frame_px}")
    settings = normalization if normalization is not None else NormalizeSettings()
    output = Path(output)
    net, kwargs = package_format.load_cpnet(weights)
    raw = simulated_raw_frame(diam_mean_px, size=test_frame_px)
    normalized, _ = normalize_movie(raw[np.newaxis, np.newaxis], settings)
    x_raw = np.stack([raw, np.zeros_like(raw)])[np.newaxis].astype(np.float32)  # (z=1, c=2, y, x)
    x = np.ascontiguousarray(np.stack([normalized[0, 0], np.zeros_like(normalized[0, 0])])[np.newaxis], dtype=np.float32)
    with torch.no_grad():
        outputs = [o.numpy() for o in net(torch.from_numpy(x))]
        traced = torch.jit.trace(net, torch.from_numpy(x))
    notes = preprocessing_notes(settings) + ("\n" + provenance.strip() + "\n" if provenance else "")

    def model_test(package: Path) -> Any:
        try:
            return run_model_test(package)
        except ValueError as err:
            raise ValueError(f"{output}: {err}") from None

    summary = package_format.write_bioimageio_package(
        output,
        weights=weights,
        architecture_kwargs=kwargs,
        torchscript=traced,
        model_card=model_card,
        notes=notes,
        name=name,
        description=description,
        authors=authors or [{"name": "cellpipe developers"}],
        license_id=license_id,
        test_input=x_raw,
        sample_input=np.stack([raw, np.zeros_like(raw)]),  # the raw frame keeps its camera counts (uint16)
        test_outputs=outputs,
        cover_png=cover_png(raw, x[0, 0], outputs[0][0]),
        preprocessing=package_format.input_preprocessing(settings),
        config={"cellpipe": {"diam_mean_px": float(diam_mean_px), "normalization": settings.model_dump(mode="json")}},
        attachments=attachments,
        check=model_test,
    )
    warnings = [
        f"{'.'.join(str(part) for part in w.loc) or 'model'}: {w.msg}"
        for d in summary.details
        for w in d.warnings
        if _AGREEMENT_NOTE not in w.msg
    ]
    result = {
        "package": str(output),
        "status": summary.status,
        "checks": [f"{d.status}: {d.name}" for d in summary.details],
        "warnings": warnings,
    }
    logger.info(
        "wrote %s (bioimage.io model test: %s, %d checks, %d warnings)",
        output, summary.status, len(summary.details), len(warnings),
    )
    return result
