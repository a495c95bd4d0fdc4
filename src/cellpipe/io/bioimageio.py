"""Export a trained Cellpose 3 model as a BioImage Model Zoo (bioimage.io) package.

The package (a zip: ``rdf.yaml``, the state-dict weights with their architecture file
:mod:`cellpipe.io.bioimageio_cpnet` and a conda environment, the same network traced to TorchScript, a test input and the network's outputs
on it, a cover image and the model card as documentation) follows bioimage.io model spec 0.5
and is checked after it is written with ``bioimageio.core.test_model`` (format validation, and both
weight formats must reproduce the test outputs).  Tensor descriptions come from Cellpose's own
exporter (``cellpose.export``).

The test input is a frame simulated by :mod:`cellpipe.simulate` whose nuclei have the model's
training diameter, so a package never carries the user's (possibly licence-restricted) images.
The network expects what cellpipe feeds it: one channel normalized so that the 1st percentile
is 0 and the 99.8th is 1 (second channel all zeros), nuclei rescaled to ``diam_mean`` px; its
first output holds the Y flow, the X flow and the cell-probability logit, from which Cellpose's
dynamics build the masks.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.io.atomic import atomic_path

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = ["simulated_test_frame", "write_bioimageio_package"]

_CITATIONS = (
    ("Stringer, Wang, Michaelos, Pachitariu. Cellpose: a generalist algorithm for cellular segmentation. "
     "Nature Methods 18, 100-106 (2021)", "10.1038/s41592-020-01018-x"),
    ("Pachitariu, Stringer. Cellpose 2.0: how to train your own model. Nature Methods 19, 1634-1641 (2022)",
     "10.1038/s41592-022-01663-4"),
)


def simulated_test_frame(diameter_px: float, size: int = 256, seed: int = 0) -> np.ndarray:
    """A (size, size) float32 frame of simulated nuclei about ``diameter_px`` across, normalized like cellpipe."""
    from cellpipe.normalize import NormalizeSettings, normalize_movie
    from cellpipe.simulate import make_nuclei_movie

    radius = diameter_px / 2.0 / 0.8  # semi-major axis; the simulator's minor/major ratio is 0.65-0.95
    n_cells = max(2, int(0.15 * size * size / (np.pi * (diameter_px / 2.0) ** 2)))
    movie = make_nuclei_movie(n_frames=1, shape=(size, size), seed=seed, nucleus_radius_px=radius, n_cells=n_cells)
    normalized, _ = normalize_movie(movie.image[:, np.newaxis], NormalizeSettings())
    return np.asarray(normalized, dtype=np.float32)[0, 0]


def _cover(path: Path, image: np.ndarray, flow: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6, 3), dpi=100)
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("input (normalized)", fontsize=9)
    axes[1].imshow(1 / (1 + np.exp(-flow[2])), cmap="magma", vmin=0, vmax=1)
    axes[1].set_title("cell probability", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_bioimageio_package(
    weights: PathLike,
    model_card: PathLike,
    output: PathLike,
    name: str,
    description: str,
    diam_mean_px: float,
    authors: list[dict[str, str]] | None = None,
    license_id: str = "BSD-3-Clause",
    test_frame_px: int = 256,
) -> dict[str, Any]:
    """Write the bioimage.io package of ``weights`` (a Cellpose 3 CPnet state dict) to ``output`` (.zip).

    Returns the status of bioimage.io's model test on the written package and its checks; raises
    :class:`ValueError` when a check fails.  Nothing is downloaded.
    """
    import torch
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as spec
    from cellpose import export as cellpose_export
    from cellpose.transforms import pad_image_ND

    output = Path(output)
    net, kwargs = cellpose_export.load_bioimageio_cpnet_model(str(weights))
    frame = simulated_test_frame(diam_mean_px, size=test_frame_px)
    x = np.stack([frame, np.zeros_like(frame)])[np.newaxis]  # (z=1, c=2, y, x)
    x, _, _ = pad_image_ND(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with torch.no_grad():
            outputs = [o.numpy() for o in net(torch.from_numpy(x))]
            traced = torch.jit.trace(net, torch.from_numpy(x))
        traced.save(str(tmp / "cellpose_torchscript.pt"))
        np.save(tmp / "test_input.npy", x)
        np.save(tmp / "test_output.npy", outputs[0])
        np.save(tmp / "test_style.npy", outputs[1])
        for i, down in enumerate(outputs[2:]):
            np.save(tmp / f"test_downsampled_{i}.npy", down)
        _cover(tmp / "cover.png", x[0, 0], outputs[0][0])
        (tmp / "environment.yaml").write_text(
            "name: cellpose-cpnet\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n"
            f"  - pip:\n      - torch=={torch.__version__.split('+')[0]}\n      - cellpose==3.1.1.2\n"
        )
        torch_version = torch.__version__.split("+")[0]
        descr = spec.ModelDescr(
            name=name,
            description=description,
            authors=[spec.Author(**a) for a in (authors or [{"name": "cellpipe developers"}])],
            cite=[spec.CiteEntry(text=text, doi=spec.Doi(doi)) for text, doi in _CITATIONS],
            covers=[spec.FileDescr(source=tmp / "cover.png")],
            documentation=spec.FileDescr(source=Path(model_card)),
            license=spec.LicenseId(license_id),
            tags=["cellpose", "cellpipe", "nuclei", "fluorescence-light-microscopy", "2d", "instance-segmentation"],
            inputs=[cellpose_export.descr_gen_input(tmp / "test_input.npy")],
            outputs=[
                cellpose_export.descr_gen_output_flow(tmp / "test_output.npy"),
                cellpose_export.descr_gen_output_style(tmp / "test_style.npy"),
                *cellpose_export.descr_gen_output_downsampled(tmp),
            ],
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
            config={"cellpipe": {"diam_mean_px": float(diam_mean_px), "normalization_percentiles": [1.0, 99.8]}},
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
    result = {"package": str(output), "status": summary.status, "checks": [f"{d.status}: {d.name}" for d in summary.details]}
    logger.info("wrote %s (bioimage.io model test: %s, %d checks)", output, summary.status, len(summary.details))
    return result
