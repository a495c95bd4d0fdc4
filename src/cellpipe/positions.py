"""Positions become samples: a row whose file holds several positions expands into one row per position.

Positions become samples: a sample sheet row whose file holds several positions (an OME-TIFF's OME Images, a
CZI, ND2 or LIF file's scenes) expands, with its ``positions`` column, into one row per position.

``positions`` is ``all`` or a comma-separated list of positions, each a 0-based index or the position's own
name in the file.  Each expanded row is the original with ``positions`` removed, ``scene`` set to the
position's index, and the sample named ``<row's sample>_<position's name>`` (its index where the file names
none, or where names repeat), with characters a sample name may not hold replaced by ``_``.

The expansion reads one header per file (:func:`cellpipe.io.movies.list_scenes`), kept in the record of checked
files (:mod:`cellpipe.runtime.checked_files`) with the file's signature, so a sheet of many positioned files is not
listed again at the next start while its files are unchanged.

The positions one row chooses must be alike in size and length; :func:`cellpipe.preflight.check_positions_alike`
refuses them otherwise, once each position's header is checked, and a position of another size runs on a row of its
own.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cellpipe.config import SampleRow
    from cellpipe.runtime.checked_files import CheckedFiles

_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


def position_labels(names: list[str]) -> list[str]:
    """The part of each position's sample name that tells it apart.

    Parameters
    ----------
    names : list of str
        The file's name of each position, in position order ('' where unnamed).

    Returns
    -------
    list of str
        One label per position: its name made safe for a sample name (runs of other characters
        become ``_``; ``.``, ``_`` and ``-`` at either end are dropped), or its 0-based index where
        that leaves nothing or two positions alike.
    """
    safe = [_NOT_IN_NAMES.sub("_", n).strip("._-") for n in names]
    counts = Counter(safe)
    return [label if label and counts[label] == 1 else str(index) for index, label in enumerate(safe)]


def select_positions(spec: str, names: list[str]) -> list[int]:
    """The positions a sheet's ``positions`` value chooses, in the order given.

    Parameters
    ----------
    spec : str
        ``all``, or a comma-separated list of 0-based indices and position names.
    names : list of str
        The file's name of each position, in position order ('' where unnamed).

    Returns
    -------
    list of int
        0-based indices into ``names``.

    Raises
    ------
    ValueError
        A position that is not in the file, or one listed twice.
    """
    if spec.strip().lower() == "all":
        return list(range(len(names)))
    chosen: list[int] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            raise ValueError(f"positions {spec!r}: an empty item (use 'all' or e.g. 0,2,5)")
        if item in names:  # a name first: a position may be named "1"
            index = names.index(item)
        elif re.fullmatch(r"\d+", item) and int(item) < len(names):
            index = int(item)
        else:
            named = [n for n in names if n]
            known = f"; its names: {', '.join(named[:10])}{', ...' if len(named) > 10 else ''}" if named else ""
            raise ValueError(f"position {item!r} is not in the file: it holds {len(names)} position(s), "
                             f"0 to {len(names) - 1}{known}")
        if index in chosen:
            raise ValueError(f"position {item!r} is listed twice in positions {spec!r}")
        chosen.append(index)
    return chosen


def scene_names(movie: str, fmt: str, checked: CheckedFiles | None) -> list[str]:
    """The names of the positions of one file, from the record of checked files when it holds them.

    Parameters
    ----------
    movie : str
        Path of the movie file.
    fmt : str
        Its sheet ``format`` (:func:`cellpipe.io.movies.list_scenes`).
    checked : cellpipe.runtime.checked_files.CheckedFiles or None
        The record of checked files: used when it holds the names for the file as it is now, and
        given them otherwise; None lists the file every time.

    Returns
    -------
    list of str
        One name per position, in position order ('' where the file names none).
    """
    from cellpipe.io import movies

    if checked is not None:
        names = checked.scenes(movie, fmt)
        if names is not None:
            return names
    names = movies.list_scenes(movie, fmt)  # type: ignore[arg-type]
    if checked is not None:
        checked.record_scenes(movie, fmt, names)
    return names


def expand_positions(row: SampleRow, where: str, checked: CheckedFiles | None = None) -> list[SampleRow]:
    """The rows ``row`` stands for: itself when it has no ``positions``, else one per chosen position (module doc).

    Parameters
    ----------
    row : cellpipe.config.SampleRow
        A sample sheet row.
    where : str
        Sheet, line and sample; starts each error message.
    checked : cellpipe.runtime.checked_files.CheckedFiles or None
        The record of checked files (:func:`scene_names`).

    Returns
    -------
    list of cellpipe.config.SampleRow
        ``[row]``, or one row per position with ``scene`` set and ``positions`` removed.

    Raises
    ------
    cellpipe.config.ConfigError
        One line naming ``where``, the file and the problem: a file that cannot be listed, a
        position it does not hold, a ground truth for several positions, a sample name that is not
        allowed (reserved).
    """
    from pydantic import ValidationError

    from cellpipe.config import ConfigError, SampleRow
    from cellpipe.io.movies import MovieError

    if row.positions is None:
        return [row]
    if row.scene is not None:
        raise ConfigError(f"{where}: give positions or scene, not both")
    if not Path(row.movie).exists():
        raise ConfigError(f"{where}: movie not found: {row.movie} (positions are listed from its headers)")
    try:
        names = scene_names(row.movie, row.format, checked)
        chosen = select_positions(row.positions, names)
    except (MovieError, ValueError) as err:
        raise ConfigError(f"{where}: {row.movie}: {str(err).splitlines()[0]}") from None
    if row.ground_truth and len(chosen) > 1:
        raise ConfigError(f"{where}: {row.movie}: one ground_truth for {len(chosen)} positions; ground truth belongs "
                          "to one position: give that position a row of its own (positions: one position, or scene)")
    labels = position_labels(names)
    rows = []
    for index in chosen:
        name = f"{row.sample}_{labels[index]}"
        values = {**row.model_dump(exclude={"positions"}), "sample": name, "scene": index}
        try:
            rows.append(SampleRow.model_validate(values))
        except ValidationError as err:
            problem = err.errors()[0]["msg"]
            raise ConfigError(f"{where}: {row.movie}: position {index} would be sample {name!r}: {problem}") from None
    return rows
