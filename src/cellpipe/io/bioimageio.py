"""Export a Cellpose 3 model as a BioImage Model Zoo (bioimage.io) package.

The package (a zip: ``rdf.yaml``, the state-dict weights with their architecture file
:mod:`cellpipe.io.bioimageio_cpnet` and a conda environment, the same network traced to TorchScript, a
raw test input and the network's outputs on it, sample tensors (TIFF) of the same, a cover image, the
model card with a section on the package as documentation, and the training record as attachments)
follows bioimage.io model spec 0.5 and is checked after it is written with ``bioimageio.core.test_model``
(format validation, and both weight formats must reproduce the test outputs from the raw test input
with the package's own preprocessing applied).  Tensor axes come from Cellpose's own exporter
(``cellpose.export``).

cellpipe's normalization is a ``preprocessing`` step of the input, not prose: ``scale_range`` with the
percentiles the model was trained with (``training.json``, ``normalization``) over the axes
``z, y, x`` (movie mode: a movie's frames given along ``z`` share one pair of percentiles per channel,
as in cellpipe's normalize stage) or ``y, x`` (frame mode), then ``clip`` to [0, 1] when the training
clipped.  The test input is therefore the raw frame (camera counts) and the expected outputs are the
network's outputs on that frame normalized by :func:`cellpipe.normalize.normalize_movie`: the model
test passes only if bioimage.io's preprocessing reproduces cellpipe's normalization.  What still
differs is written in the package's documentation (:func:`preprocessing_notes`).

The test input is a frame simulated by :mod:`cellpipe.simulate` whose nuclei have the model's
training diameter, so a package never carries the user's (possibly licence-restricted) images.
The network's second input channel is all zeros; its first output holds the Y flow, the X flow and
the cell-probability logit, from which Cellpose's dynamics build the masks (not part of the package).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.io.atomic import atomic_path

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = [
    "MODEL_FILES",
    "input_preprocessing",
    "model_folders",
    "preprocessing_notes",
    "simulated_raw_frame",
    "simulated_test_frame",
    "write_bioimageio_package",
]

MODEL_FILES = ("weights.pth", "model_card.md", "training.json")
"""What a model folder holds (rule train_cellpose writes them; resources/models/<name>/ ships them)."""

_CITATIONS = (
    ("Stringer, Wang, Michaelos, Pachitariu. Cellpose: a generalist algorithm for cellular segmentation. "
     "Nature Methods 18, 100-106 (2021)", "10.1038/s41592-020-01018-x"),
    ("Pachitariu, Stringer. Cellpose 2.0: how to train your own model. Nature Methods 19, 1634-1641 (2022)",
     "10.1038/s41592-022-01663-4"),
)

# bioimage.io model test messages that are no warning: bioimageio.core reports, as a warning of each
# passed output comparison, the largest differences left within tolerance ("all elements agree").
_AGREEMENT_NOTE = "all elements agree with expected values"


def model_folders(root: PathLike) -> list[str]:
    """Names of the folders under a root that hold a model (every one of :data:`MODEL_FILES`).

    Parameters
    ----------
    root : str or os.PathLike
        E.g. the shipped ``resources/models``; a missing ``root`` holds none.

    Returns
    -------
    list of str
        Folder names, sorted.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if d.is_dir() and all((d / f).is_file() for f in MODEL_FILES))


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


def _scale_axes(mode: str) -> tuple[str, ...]:
    # Cellpose's input axes are (z, channel, y, x), z being the 2D network's batch: frames of a movie.
    """Axes ``scale_range`` takes its percentiles over: ``z, y, x`` in movie mode (z: the frames), ``y, x`` in frame mode."""
    return ("z", "y", "x") if mode == "movie" else ("y", "x")


def input_preprocessing(normalization: Any) -> list[Any]:
    """The input's bioimage.io ``preprocessing`` (spec 0.5 descriptions) for cellpipe's normalization.

    ``scale_range`` maps the ``low_percentile`` intensity to 0 and the ``high_percentile`` one to 1,
    per channel, over ``z, y, x`` in movie mode and ``y, x`` in frame mode; ``clip`` to [0, 1] follows
    when the settings clip.

    Parameters
    ----------
    normalization : cellpipe.normalize.NormalizeSettings
        The normalization the model was trained with (percentiles 0-100, mode, clip).

    Returns
    -------
    list
        ``ScaleRangeDescr`` and, when clipping, ``ClipDescr``.
    """
    from bioimageio.spec.model import v0_5 as spec

    steps: list[Any] = [
        spec.ScaleRangeDescr(
            kwargs=spec.ScaleRangeKwargs(
                axes=[spec.AxisId(a) for a in _scale_axes(normalization.mode)],
                min_percentile=normalization.low_percentile,
                max_percentile=normalization.high_percentile,
            )
        )
    ]
    if normalization.clip:
        steps.append(spec.ClipDescr(kwargs=spec.ClipKwargs(min=0.0, max=1.0)))
    return steps


def preprocessing_notes(normalization: Any) -> str:
    """The package documentation's section on the input and its preprocessing.

    Parameters
    ----------
    normalization : cellpipe.normalize.NormalizeSettings
        The normalization the model was trained with.

    Returns
    -------
    str
        Markdown, ending in an empty line: the input's axes and sizes (px), the preprocessing, what
        differs from cellpipe's normalize stage, the test tensors and the outputs.
    """
    s = normalization
    axes = ", ".join(_scale_axes(s.mode))
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


def _cover(path: Path, raw: np.ndarray, image: np.ndarray, flow: np.ndarray) -> None:
    """The package's cover image: the raw test frame, the frame after preprocessing and the cell probability."""
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
    fig.savefig(path)
    plt.close(fig)


def _write_tiff(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (at least 2-D) as a greyscale TIFF at ``path``; returns ``path``."""
    import tifffile

    tifffile.imwrite(path, np.ascontiguousarray(np.atleast_2d(array)), photometric="minisblack")
    return path


def write_bioimageio_package(
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
    normalization : cellpipe.normalize.NormalizeSettings, optional
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
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as spec
    from cellpose import export as cellpose_export

    from cellpipe.config import NormalizeSettings
    from cellpipe.normalize import normalize_movie

    if test_frame_px < 16 or test_frame_px % 16:
        raise ValueError(f"test_frame_px must be a multiple of 16 (the network's input sizes), got {test_frame_px}")
    settings = normalization if normalization is not None else NormalizeSettings()
    output = Path(output)
    net, kwargs = cellpose_export.load_bioimageio_cpnet_model(str(weights))
    raw = simulated_raw_frame(diam_mean_px, size=test_frame_px)
    normalized, _ = normalize_movie(raw[np.newaxis, np.newaxis], settings)
    x_raw = np.stack([raw, np.zeros_like(raw)])[np.newaxis].astype(np.float32)  # (z=1, c=2, y, x)
    x = np.ascontiguousarray(np.stack([normalized[0, 0], np.zeros_like(normalized[0, 0])])[np.newaxis], dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with torch.no_grad():
            outputs = [o.numpy() for o in net(torch.from_numpy(x))]
            traced = torch.jit.trace(net, torch.from_numpy(x))
        traced.save(str(tmp / "cellpose_torchscript.pt"))
        np.save(tmp / "test_input.npy", x_raw)
        np.save(tmp / "test_output.npy", outputs[0])
        np.save(tmp / "test_style.npy", outputs[1])
        for i, down in enumerate(outputs[2:]):
            np.save(tmp / f"test_downsampled_{i}.npy", down)
        # Sample tensors (FAIR): the same tensors as TIFF, which imageio reads (npy is not allowed there);
        # the raw frame keeps its camera counts (uint16).
        sample_input = _write_tiff(tmp / "sample_input.tif", np.stack([raw, np.zeros_like(raw)]))
        sample_outputs = [_write_tiff(tmp / "sample_flow.tif", outputs[0][0]), _write_tiff(tmp / "sample_style.tif", outputs[1][0])]
        sample_outputs += [_write_tiff(tmp / f"sample_downsampled_{i}.tif", d[0]) for i, d in enumerate(outputs[2:])]
        _cover(tmp / "cover.png", raw, x[0, 0], outputs[0][0])
        (tmp / "environment.yaml").write_text(
            "name: cellpose-cpnet\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n"
            f"  - pip:\n      - torch=={torch.__version__.split('+')[0]}\n      - cellpose==3.1.1.2\n"
        )
        card = Path(model_card).read_text(encoding="utf-8").rstrip("\n")
        doc = tmp / "model_card.md"
        doc.write_text(card + "\n\n" + preprocessing_notes(settings) + ("\n" + provenance.strip() + "\n" if provenance else ""))
        torch_version = torch.__version__.split("+")[0]

        preprocessing = input_preprocessing(settings)
        base_input = cellpose_export.descr_gen_input(tmp / "test_input.npy")
        input_descr = spec.InputTensorDescr(
            id=base_input.id,
            description="raw intensities; channel 2 all zeros (see the documentation)",
            axes=base_input.axes,
            test_tensor=base_input.test_tensor,
            sample_tensor=spec.FileDescr(source=sample_input),
            data=base_input.data,
            preprocessing=preprocessing,
        )
        base_outputs = [
            cellpose_export.descr_gen_output_flow(tmp / "test_output.npy"),
            cellpose_export.descr_gen_output_style(tmp / "test_style.npy"),
            *cellpose_export.descr_gen_output_downsampled(tmp),
        ]
        output_descrs = [
            spec.OutputTensorDescr(
                id=o.id, description=o.description, axes=o.axes, test_tensor=o.test_tensor,
                sample_tensor=spec.FileDescr(source=sample), data=o.data,
            )
            for o, sample in zip(base_outputs, sample_outputs, strict=True)
        ]
        descr = spec.ModelDescr(
            name=name,
            description=description,
            authors=[spec.Author(**a) for a in (authors or [{"name": "cellpipe developers"}])],
            cite=[spec.CiteEntry(text=text, doi=spec.Doi(doi)) for text, doi in _CITATIONS],
            covers=[spec.FileDescr(source=tmp / "cover.png")],
            documentation=spec.FileDescr(source=doc),
            attachments=[spec.FileDescr(source=Path(a)) for a in attachments],
            license=spec.LicenseId(license_id),
            tags=["cellpose", "cellpipe", "nuclei", "fluorescence-light-microscopy", "2d", "instance-segmentation"],
            inputs=[input_descr],
            outputs=output_descrs,
            weights=spec.WeightsDescr(
                pytorch_state_dict=spec.PytorchStateDictWeightsDescr(
                    source=Path(weights),
                    architecture=spec.ArchitectureFromFileDescr(
                        source=Path(__file__).with_name("bioimageio_cpnet.py"),
                        callable=spec.Identifier("CellposeCPnet"),
                        kwargs=kwargs,
                    ),
                    pytorch_version=spec.Version(torch_version),
                    dependencies=spec.FileDescr(source=tmp / "environment.yaml"),
                ),
                torchscript=spec.TorchscriptWeightsDescr(
                    source=tmp / "cellpose_torchscript.pt",
                    pytorch_version=spec.Version(torch_version),
                    parent="pytorch_state_dict",
                ),
            ),
            config={"cellpipe": {"diam_mean_px": float(diam_mean_px), "normalization": settings.model_dump(mode="json")}},
        )
        # Written and tested in the temporary folder, then copied to ``output`` under a temporary name
        # and renamed: an interrupted or failed export leaves no zip under the final name.
        package = tmp / "package" / output.name
        package.parent.mkdir()
        save_bioimageio_package(descr, output_path=package)
        from bioimageio.core import test_model

        summary = test_model(package)
        failed = [f"{d.name}: {'; '.join(e.msg for e in d.errors)}" for d in summary.details if d.status == "failed"]
        if failed:
            raise ValueError(f"{output}: bioimage.io model test failed: " + " | ".join(failed))
        with atomic_path(output) as final_tmp:
            shutil.copyfile(package, final_tmp)
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
