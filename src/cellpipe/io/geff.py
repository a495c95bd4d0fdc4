"""geff (Graph Exchange File Format) stores of tracking results: a Zarr group of node and edge arrays.

:func:`write_track_geff` writes a :class:`cellpipe.export.TrackGraph` with the ``geff`` library's
array writer (``geff.core_io.write_arrays``), which checks the store against the geff specification
(``geff.validate_structure``, what ``geff validate`` runs) before it is kept.  The metadata say:

* axes ``t`` (type time, unit minute), ``y``, ``x`` (type space, unit micrometer), so readers place
  nodes on the OME-Zarr image, which has the same axis names and units;
* per property its unit (``micrometer^2`` for ``area_um2``, ``pixel`` for ``y_px``, ``frame`` ...)
  and a description;
* ``track_node_props``: ``lineage_id`` as lineage and, when every track is a maximal unbranched path,
  ``track_id`` as tracklet;
* ``display_hints`` (x horizontal, y vertical, t time) and, under ``extra.cellpipe``, the pixel size
  and frame interval the positions and times came from;
* ``related_objects`` when given: the OME-Zarr image and its label images, by paths relative to the
  geff store (``labels/tracks`` holds each node's ``track_id``, ``labels/cells`` its ``label``).

The store is Zarr v3 or v2 (``zarr_format``; the workflow writes the format of its OME-Zarr image, so
``ome_zarr.version`` 0.5 gives v3 and 0.4 gives v2), written under a temporary sibling name and renamed when
complete.  geff 1.3 writes both and its validation and readers (``geff validate``, ``geff.read``,
``read_to_memory``) read both; in Zarr v3 geff stores each property array as one shard (one file) of the
chunks it would write in v2.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cellpipe.io.atomic import atomic_path

if TYPE_CHECKING:
    from cellpipe.export import TrackGraph

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

__all__ = ["related_image_objects", "write_track_geff"]


def related_image_objects(store: PathLike, image: PathLike) -> list[dict[str, str]]:
    """geff related objects for an OME-Zarr image, seen from a geff store.

    Parameters
    ----------
    store : str or os.PathLike
        The geff store the objects are listed in.
    image : str or os.PathLike
        The OME-Zarr image (the store, or its metadata file; NGFF 0.4 or 0.5).

    Returns
    -------
    list of dict of str to str
        The image (``type`` ``image``) and, where they exist, its label images ``tracks`` (pixel values
        = ``track_id``) and ``cells`` (pixel values = ``label``), with ``node_prop`` naming that
        property; every ``path`` relative to ``store``.
    """
    from cellpipe.io.omezarr import store_path, stored_ngff_version

    image = store_path(image)
    base = Path(store)

    def rel(path: Path) -> str:
        """``path`` relative to the geff store, with ``/`` separators (links resolved)."""
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()

    out = [{"type": "image", "path": rel(image)}]
    for name, prop in (("tracks", "track_id"), ("cells", "label")):
        if stored_ngff_version(image / "labels" / name) is not None:
            out.append({"type": "labels", "path": rel(image / "labels" / name), "node_prop": prop})
    return out


def _prop_metadata(graph: TrackGraph, name: str, values: Any, edge: bool = False) -> Any:
    """geff metadata of one property: its dtype, and its unit (nodes only) and description from ``graph``."""
    from geff_spec import PropMetadata

    return PropMetadata(
        identifier=name,
        dtype=values.dtype,
        unit=None if edge else graph.units.get(name),
        description=graph.descriptions.get(name),
    )


def write_track_geff(
    store: PathLike,
    graph: TrackGraph,
    extra: dict[str, Any] | None = None,
    related: list[dict[str, str]] | None = None,
    zarr_format: Literal[2, 3] = 3,
) -> None:
    """Write a track graph as a geff store.

    Parameters
    ----------
    store : str or os.PathLike
        The store, a folder (e.g. ``results/<sample>/tracks.geff``); it must not exist or be empty.
    graph : cellpipe.export.TrackGraph
        Nodes (positions in µm, times in minutes, other properties in the units ``graph.units`` gives),
        edges and their properties.
    extra : dict, optional
        More entries for the metadata's ``extra.cellpipe`` (e.g. the sample name).
    related : list of dict, optional
        geff related objects, each ``{"type": "image" | "labels", "path": ..., "node_prop": ...}``
        (``path`` relative to ``store``; :func:`related_image_objects` makes them for an OME-Zarr image).
    zarr_format : {2, 3}
        The store's Zarr format: 3 (``zarr.json``, as NGFF 0.5 images) or 2 (``.zgroup``/``.zattrs``, as 0.4).

    Raises
    ------
    FileExistsError
        When ``store`` exists and is not an empty folder.
    ValueError
        When the store would not pass geff's validation (nothing is left behind), or ``zarr_format`` is
        neither 2 nor 3.
    """
    from geff.core_io import write_arrays
    from geff_spec import Axis, DisplayHint, GeffMetadata, RelatedObject

    if zarr_format not in (2, 3):
        raise ValueError(f"zarr_format {zarr_format!r}: 2 or 3")
    store = Path(store)
    if store.exists() and (not store.is_dir() or any(store.iterdir())):
        raise FileExistsError(f"{store}: exists and is not an empty folder; refusing to overwrite it")
    node_props = {
        name: {"values": values, "missing": graph.node_missing.get(name)}
        for name, values in graph.node_props.items()
    }
    edge_props = {name: {"values": values, "missing": None} for name, values in graph.edge_props.items()}
    track_props = {"lineage": "lineage_id"}
    if graph.tracklets:
        track_props["tracklet"] = "track_id"
    metadata = GeffMetadata(
        directed=True,
        axes=[
            Axis(name="t", type="time", unit="minute"),
            # the graph of a 3-D tracking result has a z position (µm) per node
            *([Axis(name="z", type="space", unit="micrometer")] if "z" in graph.node_props else []),
            Axis(name="y", type="space", unit="micrometer"),
            Axis(name="x", type="space", unit="micrometer"),
        ],
        node_props_metadata={name: _prop_metadata(graph, name, v) for name, v in graph.node_props.items()},
        edge_props_metadata={name: _prop_metadata(graph, name, v, edge=True) for name, v in graph.edge_props.items()},
        track_node_props=track_props,
        related_objects=[RelatedObject(**r) for r in related] if related else None,
        display_hints=DisplayHint(display_horizontal="x", display_vertical="y", display_time="t"),
        extra={"cellpipe": {"pixel_size_um": graph.pixel_size_um, "frame_interval_min": graph.frame_interval_min,
                            **(extra or {})}},
    )
    with atomic_path(store) as tmp:
        write_arrays(str(tmp), graph.node_ids, node_props, graph.edges, edge_props, metadata, zarr_format=zarr_format)
    logger.info("wrote geff %s (Zarr v%d): %d nodes, %d edges (%d divisions)", store, zarr_format, len(graph.node_ids), len(graph.edges),
                int(graph.edge_props["division"].sum()) if "division" in graph.edge_props else 0)
