"""napari reader for a results folder: ``napari results/<sample>`` opens a sample's movie, labels and tracks.

An npe2 plugin (manifest ``cellpipe/napari.yaml``, entry point ``napari.manifest`` in pyproject.toml).
napari calls :func:`get_reader` with the folder; it answers only for a folder that holds
``image.ome.zarr`` and returns a function giving napari's layer data tuples ``(data, kwargs, type)``:

* the movie, ``image.ome.zarr``: every resolution level of its NGFF ``multiscales`` (one level: a plain
  image layer; several: a multiscale layer), one layer per channel (``omero`` channel labels as names),
  contrast limits from ``normalization.tsv`` (the percentiles normalization used) where it covers the
  channel, else from the channel's ``omero`` display window;
* the label images ``image.ome.zarr/labels/cells`` and ``labels/tracks`` (pixel values: track ids), the
  latter with the per-track table ``track_metrics.parquet`` as its features (one row per track id);
* a Tracks layer from ``tracks_napari.csv`` (``track_id, t, y, x``: frames and pixels) with its lineage
  graph ``tracks_napari_graph.json`` and the per-track table as per-point features;
* a Points layer "cells (measurements)": one point per cell per frame at its centroid, with that row of
  ``cells.parquet`` (area in µm², mean and integrated intensity per channel, track id, ...) as its
  features.  The ``cells`` label values are renumbered every frame, so per-cell measurements cannot
  hang on that label layer as the per-track table hangs on ``tracks``.

Every layer is in the image's physical units, minutes and micrometres: the scale comes from the NGFF
``coordinateTransformations`` of each array, and the track points are the CSV's pixel and frame
columns under the image's level-0 scale (napari shows them at value x scale), so tracks and masks
line up by construction.  Layers carry
``units`` and ``axis_labels`` so napari sees the same units everywhere.  Arrays are opened lazily
(dask over zarr, one chunk per frame): nothing reads a whole movie.

This module imports neither napari nor Qt (napari's reader contract needs only the tuples), and
cellpipe's other modules never import it, so the workflow's imports stay light.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellpipe import layout

if TYPE_CHECKING:
    from cellpipe.io.omezarr import Multiscales

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
LayerData = tuple[Any, dict[str, Any], str]

IMAGE = layout.in_sample(layout.IMAGE_STORE)  # the store, not its metadata file
LABELS = ("cells", "tracks")
TRACKS_CSV = layout.in_sample(layout.NAPARI_CSV)
TRACKS_GRAPH = layout.in_sample(layout.NAPARI_GRAPH)
TRACK_METRICS = layout.in_sample(layout.TRACK_METRICS)
CELLS = layout.in_sample(layout.CELLS)
CELLS_LAYER = "cells (measurements)"
NORMALIZATION = layout.in_sample(layout.NORMALIZATION)

__all__ = ["get_reader", "read_results", "results_folder"]


def results_folder(path: PathLike | Sequence[PathLike]) -> Path | None:
    """A path as a cellpipe results folder, or None when it is not one.

    ``image.ome.zarr`` itself is not one: OME-Zarr readers (napari-ome-zarr) open that.

    Parameters
    ----------
    path : str or os.PathLike or sequence of them
        What napari was asked to open; a sequence counts only when it holds one path.

    Returns
    -------
    pathlib.Path or None
        The folder (``results/<sample>``, holding an ``image.ome.zarr`` group of NGFF 0.4 or 0.5), or None.
    """
    if not isinstance(path, (str, os.PathLike)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.is_dir() and _is_group(p / IMAGE):
        return p
    return None


def _is_group(store: Path) -> bool:
    """Whether ``store`` holds the metadata file of an OME-Zarr group, NGFF 0.4 (``.zattrs``) or 0.5 (``zarr.json``)."""
    return any((store / name).is_file() for name in layout.OME_ZARR_METADATA.values())


def get_reader(path: PathLike | Sequence[PathLike]) -> Callable[[Any], list[LayerData]] | None:
    """napari's reader hook.

    Parameters
    ----------
    path : str or os.PathLike or sequence of them
        What napari was asked to open.

    Returns
    -------
    callable or None
        :func:`read_results` when ``path`` is a cellpipe results folder (:func:`results_folder`), else
        None so that napari asks other readers.
    """
    if results_folder(path) is None:
        return None
    return read_results


def _open_ngff(store: Path) -> Multiscales:
    """The image's multiscales with each level as a dask array over its Zarr chunks (one per frame)."""
    import dask.array as da

    from cellpipe.io.omezarr import open_multiscales

    image = open_multiscales(store)
    return dataclasses.replace(image, levels=[da.from_zarr(a, chunks=a.chunks) for a in image.levels])


def _drop(values: Sequence[Any], index: int | None) -> list[Any]:
    """``values`` without the item at ``index`` (the channel axis); all of them when ``index`` is None."""
    return [v for i, v in enumerate(values) if i != index]


def _contrast_limits(folder: Path, n_channels: int) -> list[tuple[float, float] | None]:
    """Per channel (low, high) contrast limits from ``normalization.tsv``.

    Per channel (low, high) from ``normalization.tsv``: the movie-wide percentile values, or the
    lowest low and highest high of the per-frame ones; None for a channel the table does not cover
    (normalization may use one channel only) and for every channel where the table is missing or odd.
    """
    path = folder / NORMALIZATION
    if not path.is_file():
        return [None] * n_channels
    from cellpipe.io import tables

    limits: list[tuple[float, float] | None] = []
    try:
        table = tables.read_tsv(path)
        for c in range(n_channels):
            rows = table[table["channel"] == c]
            low, high = float(rows["low_value"].min()), float(rows["high_value"].max())
            limits.append((low, high) if high > low else None)  # NaN (no rows) compares False
    except (KeyError, ValueError) as exc:
        logger.warning("%s: not used for contrast limits (%s)", path, exc)
        return [None] * n_channels
    return limits


_CHANNEL_COLORMAPS = {1: ["gray"], 2: ["magenta", "green"]}
_MANY_COLORMAPS = ["cyan", "magenta", "yellow", "blue", "green", "red"]


def _colormap(channel: dict[str, Any], i: int, n_channels: int) -> str:
    """The omero channel colour (``RRGGBB``) as napari's ``#rrggbb`` colormap, else napari's defaults."""
    color = str(channel.get("color") or "")
    if len(color) == 6 and all(ch in "0123456789abcdefABCDEF" for ch in color):
        return "#" + color.lower()
    return _CHANNEL_COLORMAPS.get(n_channels, _MANY_COLORMAPS)[i % (n_channels if n_channels <= 2 else 6)]


def _image_layers(folder: Path, img: Multiscales) -> list[LayerData]:
    """One image layer per channel (split here, with the channel's own name and colour), all levels."""
    c = img.axes.index("c") if "c" in img.axes else None
    n_channels = int(img.levels[0].shape[c]) if c is not None else 1
    channels = list(img.attrs.get("omero", {}).get("channels", []))[:n_channels]
    channels += [{} for _ in range(len(channels), n_channels)]
    limits = _contrast_limits(folder, n_channels)
    layers: list[LayerData] = []
    for i, channel in enumerate(channels):
        levels = img.levels if c is None else [lev[(slice(None),) * c + (i,)] for lev in img.levels]
        label = channel.get("label") or f"ch{i}"
        kwargs: dict[str, Any] = {
            "name": img.name if n_channels == 1 else f"{img.name} {label}",
            "scale": _drop(img.scale, c),
            "translate": _drop(img.translate, c),
            "units": _drop(img.units, c),
            "axis_labels": _drop(img.axes, c),
            "multiscale": len(levels) > 1,
            "colormap": _colormap(channel, i, n_channels),
            "blending": "translucent_no_depth" if i == 0 else "additive",
            "metadata": {"cellpipe": img.attrs.get("cellpipe", {}), "path": str(folder / IMAGE), "channel": i},
        }
        window = channel.get("window") or {}
        if limits[i] is not None:
            kwargs["contrast_limits"] = list(limits[i])
        elif isinstance(window.get("start"), (int, float)) and isinstance(window.get("end"), (int, float)):
            if window["end"] > window["start"]:  # the omero display window, where normalization has none
                kwargs["contrast_limits"] = [float(window["start"]), float(window["end"])]
        layers.append((levels if len(levels) > 1 else levels[0], kwargs, "image"))
    return layers


def _read_metrics(folder: Path) -> Any:
    """``track_metrics.parquet`` (one row per track), or None when it is not there."""
    path = folder / TRACK_METRICS
    if not path.is_file():
        return None
    from cellpipe.io import tables

    return tables.read_parquet(path)


def _label_layer(folder: Path, name: str, metrics: Any) -> LayerData | None:
    """The label layer of ``labels/<name>`` in physical units (µm, minutes), None when the store is missing.

    ``metrics`` (one row per track id) become the ``tracks`` layer's features.
    """
    store = folder / IMAGE / "labels" / name
    if not _is_group(store):
        logger.info("%s: not found, no %s layer", store, name)
        return None
    lab = _open_ngff(store)
    kwargs: dict[str, Any] = {
        "name": name,
        "scale": lab.scale,
        "translate": lab.translate,
        "units": lab.units,
        "axis_labels": lab.axes,
        "multiscale": len(lab.levels) > 1,
        "metadata": {"path": str(store)},
    }
    if name == "tracks" and metrics is not None and len(metrics):
        # napari maps a label value to the features row whose "index" is that value
        features = metrics.copy()
        features.insert(0, "index", features["track_id"].to_numpy())
        kwargs["features"] = features.reset_index(drop=True)
    return (lab.levels if len(lab.levels) > 1 else lab.levels[0]), kwargs, "labels"


def _calibration(image: Multiscales, dims: Sequence[str]) -> dict[str, Any]:
    """A layer's ``scale``, ``translate``, ``units`` and ``axis_labels`` keyword arguments.

    ``dims`` names the layer's data axes (``image``'s axis names, in the data's order; values in frames
    and px).  Each axis gets the image's own level-0 scale, translation and unit (minutes per frame and µm per px,
    minutes and µm, for cellpipe's images), the numbers its image and label layers use, so napari shows a
    point at value x scale + translate, on the frame and pixel the masks hold.
    """
    index = [image.axes.index(a) for a in dims]
    return {
        "scale": [image.scale[i] for i in index],
        "translate": [image.translate[i] for i in index],
        "units": [image.units[i] for i in index],
        "axis_labels": list(dims),
    }


def _tracks_layer(folder: Path, image: Multiscales, metrics: Any) -> LayerData | None:
    """The Tracks layer of ``tracks_napari.csv``, None when the file is missing or empty.

    Points stay in the CSV's frames and px under the image's level-0 scale; the lineage graph and the
    per-point features (physical positions in µm and minutes, ``metrics`` per track) come along.
    """
    import numpy as np
    import pandas as pd

    from cellpipe.io import tables

    path = folder / TRACKS_CSV
    if not path.is_file():
        logger.info("%s: not found, no Tracks layer", path)
        return None
    table = tables.read_csv(path)
    missing = [col for col in ("track_id", "t", "y", "x") if col not in table.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {missing} missing (expected track_id, t, y, x in frames and pixels)")
    if table.empty:
        return None
    # Data stay in the CSV's frames and pixels and the layer gets the image's own level-0 scale (and
    # translation), the same numbers the image and label layers use: napari shows every point at
    # pixel/frame value x scale, in minutes and micrometres, so tracks and masks agree by construction.
    # (Not minutes in the data: napari's Tracks layer looks time points up by rounding the time column
    # to integers, which would merge frames whose interval is not a whole number of minutes.)
    dims = [a for a in ("t", "z", "y", "x") if a in image.axes and a in table.columns]
    index = [image.axes.index(a) for a in dims]
    data = np.column_stack(
        [table["track_id"].to_numpy(np.float64)] + [table[a].to_numpy(np.float64) for a in dims]
    )
    graph: dict[int, list[int]] = {}
    graph_path = folder / TRACKS_GRAPH
    if graph_path.is_file():
        graph = {int(k): [int(p) for p in v] for k, v in tables.read_json(graph_path).items()}
    features = pd.DataFrame({"track_id": table["track_id"].to_numpy(np.int64), "frame": table["t"].to_numpy(np.int64)})
    physical = {"t": "time_min", "z": "z_um", "y": "y_um", "x": "x_um"}
    for a, i in zip(dims, index, strict=True):
        features[physical[a]] = table[a].to_numpy(np.float64) * image.scale[i] + image.translate[i]
    if metrics is not None and len(metrics):
        extra = metrics.drop(columns=[c for c in ("parent",) if c in metrics.columns])
        features = features.merge(extra, on="track_id", how="left", validate="many_to_one")
    kwargs: dict[str, Any] = {
        "name": "tracks (lineage)",
        "graph": graph,
        "features": features,
        **_calibration(image, dims),
        "tail_length": 10,
        "metadata": {"path": str(path), "graph_path": str(graph_path)},
    }
    return data, kwargs, "tracks"


def _cells_layer(folder: Path, image: Multiscales) -> LayerData | None:
    """A Points layer of the cells' centroids with ``cells.parquet`` as features, None when there is none.

    Points are in frames and px (``centroid_<axis>_um`` divided by the image's level-0 pixel size, µm/px)
    under the image's level-0 scale and translation, as the Tracks layer, so napari shows each one in
    minutes and µm on its own cell.  ``track_id`` is 0 for a cell that no track holds (the tracks
    labels' background value), so the features stay integers.
    """
    import numpy as np

    from cellpipe.io import tables

    path = folder / CELLS
    if not path.is_file():
        logger.info("%s: not found, no %s layer", path, CELLS_LAYER)
        return None
    table = tables.read_parquet(path)
    if table.empty:
        return None
    spatial = [a for a in ("z", "y", "x") if a in image.axes]
    missing = [col for col in ("frame", *(f"centroid_{a}_um" for a in spatial)) if col not in table.columns]
    if missing:
        logger.warning("%s: column(s) %s missing, no %s layer", path, missing, CELLS_LAYER)
        return None
    dims = ["t", *spatial] if "t" in image.axes else spatial
    columns = [table["frame"].to_numpy(np.float64)] if "t" in dims else []
    columns += [table[f"centroid_{a}_um"].to_numpy(np.float64) / image.scale[image.axes.index(a)] for a in spatial]
    features = table.reset_index(drop=True)
    if "track_id" in features.columns:
        features["track_id"] = features["track_id"].fillna(0).astype(np.int64)
    kwargs: dict[str, Any] = {
        "name": CELLS_LAYER,
        "features": features,
        **_calibration(image, dims),
        "size": 3,
        "face_color": "yellow",
        "border_width": 0,
        "metadata": {"path": str(path)},
    }
    return np.column_stack(columns), kwargs, "points"


def read_results(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """The layers of one results folder.

    Parameters
    ----------
    path : str or os.PathLike or sequence of them
        A results folder (``results/<sample>``), or a sequence of one.

    Returns
    -------
    list of (data, dict, str)
        napari layer data tuples, in this order: one image layer per channel, the ``cells`` and
        ``tracks`` label layers, the lineage Tracks layer, the Points layer of the cells'
        measurements; each present part only. Scales are µm per px and minutes per frame, from the
        image's NGFF metadata.

    Raises
    ------
    ValueError
        When ``path`` is not a results folder, or ``tracks_napari.csv`` lacks ``track_id``, ``t``,
        ``y`` or ``x``.
    """
    folder = results_folder(path)
    if folder is None:
        raise ValueError(f"{path}: not a cellpipe results folder (no {IMAGE} inside)")
    image = _open_ngff(folder / IMAGE)
    metrics = _read_metrics(folder)
    layers = _image_layers(folder, image)
    for name in LABELS:
        layer = _label_layer(folder, name, metrics)
        if layer is not None:
            layers.append(layer)
    tracks = _tracks_layer(folder, image, metrics)
    if tracks is not None:
        layers.append(tracks)
    cells = _cells_layer(folder, image)
    if cells is not None:
        layers.append(cells)
    return layers
