"""The BioImage Model Zoo (bioimage.io) package format of a Cellpose 3 model: writing the zip, reading model folders.

The package (a zip: ``rdf.yaml``, the state-dict weights with their architecture file
:mod:`cellpipe.io.bioimageio_cpnet` and a conda environment, the same network traced to TorchScript, a
raw test input and the network's outputs on it, sample tensors (TIFF) of the same, a cover image, the
model card with a section on the package as documentation, and the training record as attachments)
follows bioimage.io model spec 0.5.  Tensor axes come from Cellpose's own exporter
(``cellpose.export``).  What the package holds (the simulated test frame, the network's outputs, the
cover, the documentation) and the model test it must pass are made by :mod:`cellpipe.train.bioimageio`.

cellpipe's normalization is a ``preprocessing`` step of the input, not prose: ``scale_range`` with the
percentiles the model was trained with (``training.json``, ``normalization``) over the axes
``z, y, x`` (movie mode: a movie's frames given along ``z`` share one pair of percentiles per channel,
as in cellpipe's normalize stage) or ``y, x`` (frame mode), then ``clip`` to [0, 1] when the training
clipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.io.atomic import atomic_path

PathLike = str | os.PathLike[str]

__all__ = [
    "MODEL_FILES",
    "input_preprocessing",
    "load_cpnet",
    "model_folders",
    "scale_axes",
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


def scale_axes(mode: str) -> tuple[str, ...]:
    """Axes ``scale_range`` takes its percentiles over: ``z, y, x`` in movie mode (z: the frames), ``y, x`` in frame mode.

    Cellpose's input axes are (z, channel, y, x), z being the 2D network's batch: the frames of a movie.

    Parameters
    ----------
    mode : str
        ``normalize.mode``: ``"movie"`` or ``"frame"``.

    Returns
    -------
    tuple of str
        The axis ids.
    """
    return ("z", "y", "x") if mode == "movie" else ("y", "x")


def input_preprocessing(normalization: Any) -> list[Any]:
    """The input's bioimage.io ``preprocessing`` (spec 0.5 descriptions) for cellpipe's normalization.

    ``scale_range`` maps the ``low_percentile`` intensity to 0 and the ``high_percentile`` one to 1,
    per channel, over ``z, y, x`` in movie mode and ``y, x`` in frame mode; ``clip`` to [0, 1] follows
    when the settings clip.

    Parameters
    ----------
    normalization : cellpipe.config.NormalizeSettings
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
                axes=[spec.AxisId(a) for a in scale_axes(normalization.mode)],
                min_percentile=normalization.low_percentile,
                max_percentile=normalization.high_percentile,
            )
        )
    ]
    if normalization.clip:
        steps.append(spec.ClipDescr(kwargs=spec.ClipKwargs(min=0.0, max=1.0)))
    return steps


def _write_tiff(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (at least 2-D) as a greyscale TIFF at ``path``; returns ``path``."""
    import tifffile

    tifffile.imwrite(path, np.ascontiguousarray(np.atleast_2d(array)), photometric="minisblack")
    return path



def load_cpnet(weights: PathLike) -> tuple[Any, dict[str, Any]]:
    """The Cellpose 3 CPnet of a state-dict file, as Cellpose's bioimage.io exporter builds it.

    Parameters
    ----------
    weights : str or os.PathLike
        The network's state dict (``weights.pth``).

    Returns
    -------
    tuple
        The network (a ``torch.nn.Module`` returning flow, style and downsampled tensors) and the
        keyword arguments that rebuild it (the architecture's ``kwargs`` in ``rdf.yaml``).
    """
    from cellpose import export as cellpose_export

    return cellpose_export.load_bioimageio_cpnet_model(str(weights))


def write_bioimageio_package(
    output: PathLike,
    *,
    weights: PathLike,
    architecture_kwargs: dict[str, Any],
    torchscript: Any,
    model_card: PathLike,
    notes: str,
    name: str,
    description: str,
    authors: Sequence[dict[str, str]],
    license_id: str,
    test_input: np.ndarray,
    sample_input: np.ndarray,
    test_outputs: Sequence[np.ndarray],
    cover_png: bytes,
    preprocessing: list[Any],
    config: dict[str, Any],
    attachments: Sequence[PathLike] = (),
    check: Callable[[Path], Any] | None = None,
) -> Any:
    """Write a bioimage.io package (spec 0.5) of a Cellpose 3 CPnet, check it, then put it in place.

    The package is written in a temporary folder and ``check`` is called on it there; only when it
    returns is the zip copied to ``output`` under a temporary name and renamed, so a failed check or
    an interrupted export leaves no zip under the final name.

    Parameters
    ----------
    output : str or os.PathLike
        The package to write (``.zip``).
    weights : str or os.PathLike
        The network's state dict (``weights.pth``), shipped with :mod:`cellpipe.io.bioimageio_cpnet`
        as its architecture.
    architecture_kwargs : dict
        The architecture's keyword arguments (from :func:`load_cpnet`).
    torchscript : torch.jit.ScriptModule
        The same network traced, saved as the TorchScript weights.
    model_card : str or os.PathLike
        The model card (Markdown); the package's documentation starts with it.
    notes : str
        Markdown added to the documentation after the model card.
    name : str
        The model's name in ``rdf.yaml``.
    description : str
        Its one-line description.
    authors : sequence of dict of str to str
        ``rdf.yaml`` authors (``name``, ...).
    license_id : str
        SPDX licence identifier.
    test_input : numpy.ndarray
        (z, channel, y, x) float32 test input (raw intensities).
    sample_input : numpy.ndarray
        (channel, y, x) the same as a sample tensor (TIFF), in its own dtype.
    test_outputs : sequence of numpy.ndarray
        The network's outputs on the test input after preprocessing: flow, style, then the
        downsampled features.
    cover_png : bytes
        The cover image (PNG).
    preprocessing : list
        The input's preprocessing descriptions (:func:`input_preprocessing`).
    config : dict
        ``rdf.yaml``'s ``config`` (cellpipe's diameter in px and normalization).
    attachments : sequence of str or os.PathLike
        Files shipped with the package (the training record).
    check : callable, optional
        Called with the written package's path before it is put in place (bioimage.io's model
        test); raising stops the export.

    Returns
    -------
    Any
        What ``check`` returned (None without one).
    """
    import torch
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as spec
    from cellpose import export as cellpose_export

    output = Path(output)
    outputs = list(test_outputs)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        torchscript.save(str(tmp / "cellpose_torchscript.pt"))
        np.save(tmp / "test_input.npy", test_input)
        np.save(tmp / "test_output.npy", outputs[0])
        np.save(tmp / "test_style.npy", outputs[1])
        for i, down in enumerate(outputs[2:]):
            np.save(tmp / f"test_downsampled_{i}.npy", down)
        # Sample tensors (FAIR): the same tensors as TIFF, which imageio reads (npy is not allowed there).
        sample = _write_tiff(tmp / "sample_input.tif", sample_input)
        samples = [_write_tiff(tmp / "sample_flow.tif", outputs[0][0]), _write_tiff(tmp / "sample_style.tif", outputs[1][0])]
        samples += [_write_tiff(tmp / f"sample_downsampled_{i}.tif", d[0]) for i, d in enumerate(outputs[2:])]
        (tmp / "cover.png").write_bytes(cover_png)
        torch_version = torch.__version__.split("+")[0]
        (tmp / "environment.yaml").write_text(
            "name: cellpose-cpnet\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n"
            f"  - pip:\n      - torch=={torch_version}\n      - cellpose==3.1.1.2\n"
        )
        card = Path(model_card).read_text(encoding="utf-8").rstrip("\n")
        doc = tmp / "model_card.md"
        doc.write_text(card + "\n\n" + notes)

        base_input = cellpose_export.descr_gen_input(tmp / "test_input.npy")
        input_descr = spec.InputTensorDescr(
            id=base_input.id,
            description="raw intensities; channel 2 all zeros (see the documentation)",
            axes=base_input.axes,
            test_tensor=base_input.test_tensor,
            sample_tensor=spec.FileDescr(source=sample),
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
                sample_tensor=spec.FileDescr(source=sample_output), data=o.data,
            )
            for o, sample_output in zip(base_outputs, samples, strict=True)
        ]
        descr = spec.ModelDescr(
            name=name,
            description=description,
            authors=[spec.Author(**a) for a in authors],
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
                        kwargs=architecture_kwargs,
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
            config=config,
        )
        package = tmp / "package" / output.name
        package.parent.mkdir()
        save_bioimageio_package(descr, output_path=package)
        checked = check(package) if check is not None else None
        with atomic_path(output) as final_tmp:
            shutil.copyfile(package, final_tmp)
    return checked
