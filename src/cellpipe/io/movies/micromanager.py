"""Micro-Manager dataset folders: their positions (one set of ``*_MMStack_<position>.ome.tif`` files each).

The files of a position, continuation files (``_1``, ``_2``...) in order, are read as one movie through :mod:`.tiff`.
"""

from __future__ import annotations

import re
from pathlib import Path

import tifffile

from cellpipe.io.movies.common import POSITIONS_HINT, MovieError
from cellpipe.io.movies.tiff import _read_tiff_headers, tiff_positions

_MM_FILE = re.compile(r"^(?P<prefix>.+)_MMStack_(?P<label>.+)\.ome\.tiff?$", re.IGNORECASE)
"""A file of a Micro-Manager 2 dataset: ``<prefix>_MMStack_<position label>.ome.tif``; a position's series continues
in ``<prefix>_MMStack_<label>_1.ome.tif``, ``_2``, ... (Micro-Manager starts a new file at 4 GB)."""

_MM_CONTINUATION = re.compile(r"^(?P<first>.+)_\d+(?P<ending>\.ome\.tiff?)$", re.IGNORECASE)


def _natural_key(text: str) -> list[object]:
    """Sorts ``Pos2`` before ``Pos10``: runs of digits compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)]


def mm_positions(folder: Path) -> list[tuple[Path, str]]:
    """The positions of a Micro-Manager dataset folder, from its listing only.

    One position per ``<prefix>_MMStack_<label>.ome.tif`` file that is the first of its position: a
    file whose name less a ``_<n>`` before ``.ome.tif`` is in the folder too is a later part of that
    position's series, read through the first file's OME-XML.

    Parameters
    ----------
    folder : pathlib.Path
        The dataset folder.

    Returns
    -------
    list of (pathlib.Path, str)
        (first file, label) per position, in the labels' natural order (``Pos2`` before ``Pos10``).

    Raises
    ------
    MovieError
        No such file in the folder, or files of several acquisitions (prefixes) in it.
    """
    found = {f.name: match for f in folder.iterdir() if (match := _MM_FILE.match(f.name)) and f.is_file()}
    firsts = []
    for name, match in found.items():
        later = _MM_CONTINUATION.match(name)
        if later and f"{later['first']}{later['ending']}" in found:
            continue
        firsts.append(match)
    if not firsts:
        raise MovieError(f"{folder}: no Micro-Manager files (<prefix>_MMStack_<position>.ome.tif) in the folder")
    prefixes = sorted({m["prefix"] for m in firsts})
    if len(prefixes) > 1:
        raise MovieError(f"{folder}: Micro-Manager files of {len(prefixes)} acquisitions ({', '.join(map(repr, prefixes))}) "
                         "in one folder; give each acquisition a folder of its own")
    firsts.sort(key=lambda m: _natural_key(m["label"]))
    return [(folder / m.string, m["label"]) for m in firsts]


def _mm_position_file(folder: Path, scene: int | None) -> tuple[Path, str, int | None]:
    """The file of a position of a Micro-Manager folder, its label, and the position in that file to read.

    The file of position ``scene`` (0-based; None: the dataset's only position) of a Micro-Manager folder
    (:func:`mm_positions`), its label, and the position in that file to read it as (``scene`` of
    :func:`inspect_tiff`): None when the file's OME-XML describes one position, else the OME Image whose first
    plane lies in that file (Micro-Manager may describe every position of the dataset in each file's OME-XML).
    """
    positions = mm_positions(folder)
    if scene is None:
        if len(positions) != 1:
            labels = ", ".join(repr(label) for _, label in positions[:10]) + (", ..." if len(positions) > 10 else "")
            raise MovieError(f"{folder}: {len(positions)} Micro-Manager positions ({labels}) in one dataset folder; "
                             f"{POSITIONS_HINT}")
        scene = 0
    if not 0 <= scene < len(positions):
        raise MovieError(f"{folder}: no position {scene}: the Micro-Manager dataset holds {len(positions)} position(s) "
                         f"(0 to {len(positions) - 1})")
    file, label = positions[scene]

    def stored_here(tif: tifffile.TiffFile) -> tuple[int, list[int]]:
        """Positions the file's OME-XML describes, and those whose first plane is stored in this file."""
        indices = tiff_positions(tif)
        own = [k for k, i in enumerate(indices)
               if (first := next((page for page in tif.series[i].pages if page is not None), None)) is not None
               and first.parent is tif]
        return len(indices), own

    n_positions, own = _read_tiff_headers(file, stored_here)
    if n_positions < 2:
        return file, label, None
    if len(own) != 1:
        raise MovieError(f"{file}: its OME-XML describes {n_positions} positions, {len(own)} of them stored in this "
                         f"file: cannot tell which is position {label!r}")
    return file, label, own[0]
