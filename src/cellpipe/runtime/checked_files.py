"""A record of the sample-sheet rows whose files passed the header checks.

Unchanged files are then not inspected again at the next ``snakemake`` start.

Checking a movie reads every page header of its TIFF (to catch a file cut short): about 30 ms for a
500-frame OME-TIFF and 100 ms for a plain TIFF of 500 frames on this project's machines, so a sheet
of 1,000 such movies costs a minute or more at every start.  The record keeps, for each row that
passed, what the check depended on:

- the row itself (every column), the ``ingest`` settings and the source code of the checks
  (:data:`CHECK_MODULES`), as the key, so a changed check runs again on every row;
- the signature of the movie and of its ground truth: for a file its size, modification time (ns),
  inode and device; for a folder (CTC) the same for every file below it; and the same for every other file the
  movie reads (``reads``: the later files of a multi-file OME-TIFF, :func:`cellpipe.io.movies.movie_files`), so
  replacing any of them checks the row again.

The positions of a file on a row with a ``positions`` column (:mod:`cellpipe.positions`) are kept too, with the
file's signature, so the rows they expand into are known without listing the file again.

With a row that passed, the record keeps the warnings its check gave (a sheet value far from the
file's, cellpipe.preflight.check_samples), so a start that skips the row repeats them, and the movie's
shape, pixel type and (3-D) z step, which size the jobs' memory requests.

A row is skipped only when its key is recorded and every signature is unchanged; anything else
(another file, another version of the checks, an edited row) checks it again.  Failed rows are never
recorded, so an error is reported again at every start until it is fixed; rows no longer in the
sheet are dropped from the record when it is next written.  The record lives in
Snakemake's own folder (``.snakemake/cellpipe/checked_files.json`` of the working directory);
deleting it makes the next start check every file.  An unreadable or foreign record is ignored and
rewritten.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

from cellpipe.io.atomic import atomic_path

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

RECORD_FORMAT = "cellpipe checked files 3"
"""Written into the record; a record of another format is ignored."""

CHECK_MODULES = (
    "cellpipe.config.pipeline", "cellpipe.preflight", "cellpipe.ingest",
    "cellpipe.io.movies", "cellpipe.io.ctc", "cellpipe.io.ground_truth", "cellpipe.positions",
)
"""The modules whose code checks a row; their source is part of every key."""


def signature(path: PathLike) -> str | None:
    """What changes when the file or folder at ``path`` changes, as a short digest.

    A file: size (bytes), modification time (ns), inode and device.  A folder: the same for every
    file below it, with its path relative to the folder (names sorted).

    Parameters
    ----------
    path : str or os.PathLike
        A file or folder.

    Returns
    -------
    str or None
        The digest; None when ``path`` does not exist.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    parts = [f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}"]
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                try:
                    fst = os.stat(full)
                except OSError:
                    return None  # removed while we look: not a state to record
                parts.append(f"{os.path.relpath(full, path)}:{fst.st_size}:{fst.st_mtime_ns}:{fst.st_ino}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def checks_digest() -> str:
    """A digest of the source files of :data:`CHECK_MODULES` (found without importing them).

    Returns
    -------
    str
        32 hex digits; changes with the code of any check and with :data:`RECORD_FORMAT`.
    """
    digest = hashlib.sha256(RECORD_FORMAT.encode())
    for name in CHECK_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        digest.update(name.encode())
        digest.update(Path(origin).read_bytes() if origin and os.path.isfile(origin) else b"?")
    return digest.hexdigest()[:32]


def row_key(row: dict[str, Any], ingest: dict[str, Any], checks: str) -> str:
    """The key of a sample-sheet row in the record.

    Parameters
    ----------
    row : dict
        The row's values, by column.
    ingest : dict
        The ``ingest`` settings.
    checks : str
        :func:`checks_digest`.

    Returns
    -------
    str
        32 hex digits.
    """
    text = json.dumps([checks, row, ingest], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class CheckedFiles:
    """The record at ``path`` (see the module doc); :meth:`save` writes what :meth:`record` added.

    An unreadable record, or one of another :data:`RECORD_FORMAT`, is ignored (logged) and starts empty.

    Parameters
    ----------
    path : str or os.PathLike
        The record's file (``.snakemake/cellpipe/checked_files.json``).

    Attributes
    ----------
    path : pathlib.Path
        The record's file.
    checks : str
        :func:`checks_digest` of the code running now, part of every key.
    rows : dict of str to list of (str or None)
        Per row key that passed: the signatures of its files, then of the other files its movie reads.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.checks = checks_digest()
        self.rows: dict[str, list[str | None]] = {}
        self._notes: dict[str, list[str]] = {}  # warnings of rows that passed, by key
        # [[T, C, Y, X], dtype, pixel size µm, z-planes] of rows that passed, by key
        self._headers: dict[str, list[Any]] = {}
        # the positions of files whose rows have a positions column (cellpipe.positions): key -> [signature, names]
        self._scenes: dict[str, list[Any]] = {}
        # the other files the movie of a row that passed reads (a multi-file OME-TIFF's later files), by key
        self._reads: dict[str, list[str]] = {}
        self._seen: set[str] = set()  # rows looked up or recorded since the record was read
        self._changed = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            logger.warning("ignoring the record of checked files %s: %s", self.path, err)
            return
        if isinstance(data, dict) and data.get("format") == RECORD_FORMAT and isinstance(data.get("rows"), dict):
            self.rows = {k: list(v) for k, v in data["rows"].items() if isinstance(v, list)}
            notes = data.get("notes")
            if isinstance(notes, dict):
                self._notes = {k: [str(n) for n in v] for k, v in notes.items() if k in self.rows and isinstance(v, list)}
            scenes = data.get("scenes")
            if isinstance(scenes, dict):
                self._scenes = {k: v for k, v in scenes.items() if isinstance(v, list) and len(v) == 2
                                and isinstance(v[1], list) and all(isinstance(n, str) for n in v[1])}
            reads = data.get("reads")
            if isinstance(reads, dict):
                self._reads = {k: [str(f) for f in v] for k, v in reads.items() if k in self.rows and isinstance(v, list)}
            headers = data.get("headers")
            if isinstance(headers, dict):
                self._headers = {k: v for k, v in headers.items() if k in self.rows and _is_header(v)}

    def key(self, row: dict[str, Any], ingest: dict[str, Any]) -> str:
        """The key of a row (its values) checked with these ``ingest`` settings by this version of the checks.

        Parameters
        ----------
        row : dict
            The row's values, by column.
        ingest : dict
            The ``ingest`` settings.

        Returns
        -------
        str
            :func:`row_key` with :attr:`checks`.
        """
        return row_key(row, ingest, self.checks)

    def passed(self, key: str, files: list[PathLike]) -> bool:
        """Whether a row passed with exactly these files, and the other files its movie reads, as they are now.

        Parameters
        ----------
        key : str
            The row's key (:meth:`key`).
        files : list of str or os.PathLike
            The row's files (movie, ground truth), in the order recorded.

        Returns
        -------
        bool
            True when recorded and every signature (the files' and the recorded ``reads``) is unchanged.
        """
        self._seen.add(key)
        recorded = self.rows.get(key)
        every = [*files, *self._reads.get(key, [])]
        return recorded is not None and None not in recorded and recorded == [signature(f) for f in every]

    def notes(self, key: str) -> list[str]:
        """The warnings recorded with a row when it passed.

        Parameters
        ----------
        key : str
            The row's key.

        Returns
        -------
        list of str
            One line each; empty when none are recorded.
        """
        return list(self._notes.get(key, []))

    def reads(self, key: str) -> list[str]:
        """The other files recorded as read by a row's movie (the later files of a multi-file OME-TIFF).

        Reads the record only, not the files, so a cluster job can name the same inputs as the main process.

        Parameters
        ----------
        key : str
            The row's key.

        Returns
        -------
        list of str
            Paths as recorded (relative to the working directory when the movie's is); empty when none are.
        """
        return list(self._reads.get(key, []))

    def header(self, key: str) -> tuple[tuple[int, int, int, int], str, float, int, float | None] | None:
        """The movie's header recorded with a row.

        Parameters
        ----------
        key : str
            The row's key.

        Returns
        -------
        tuple or None
            ((T, C, Y, X) in frames, channels and px, pixel type name, pixel size in µm, z-planes per
            stack, z step in µm of a movie kept in 3-D or None); None when not recorded.
        """
        value = self._headers.get(key)
        if value is None:
            return None
        z_step = float(value[4]) if len(value) > 4 and value[4] is not None else None
        return (tuple(value[0]), value[1], float(value[2]), int(value[3]), z_step)  # type: ignore[return-value]

    def _scenes_key(self, movie: PathLike, fmt: str) -> str:
        """The record's key of the positions of the file ``movie`` read as ``fmt``."""
        return row_key({"scenes of": str(movie), "format": fmt}, {}, self.checks)

    def scenes(self, movie: PathLike, fmt: str) -> list[str] | None:
        """The positions recorded for a file, if the file is unchanged since.

        Parameters
        ----------
        movie : str or os.PathLike
            The movie file.
        fmt : str
            The format it is read as.

        Returns
        -------
        list of str or None
            One name per position ('' where unnamed); None when not recorded or the file changed.
        """
        key = self._scenes_key(movie, fmt)
        self._seen.add(key)
        recorded = self._scenes.get(key)
        if recorded is None or recorded[0] is None or recorded[0] != signature(movie):
            return None
        return list(recorded[1])

    def record_scenes(self, movie: PathLike, fmt: str, names: list[str]) -> None:
        """Note the positions of a file as it is now.

        Parameters
        ----------
        movie : str or os.PathLike
            The movie file; nothing is noted when it does not exist.
        fmt : str
            The format it is read as.
        names : list of str
            One name per position ('' where unnamed).
        """
        key = self._scenes_key(movie, fmt)
        self._seen.add(key)
        entry = [signature(movie), list(names)]
        if entry[0] is not None and self._scenes.get(key) != entry:
            self._scenes[key] = entry
            self._changed = True

    def record(
        self, key: str, files: list[PathLike], notes: list[str] | tuple[str, ...] = (),
        header: tuple[tuple[int, int, int, int], str, float, int, float | None] | None = None,
        reads: list[PathLike] | tuple[PathLike, ...] = (),
    ) -> None:
        """Note that a row passed its checks with its files as they are now.

        Nothing is noted when one of the files does not exist.

        Parameters
        ----------
        key : str
            The row's key (:meth:`key`).
        files : list of str or os.PathLike
            The row's files (movie, ground truth).
        notes : list or tuple of str
            The warnings the check gave, one line each.
        header : tuple or None
            The movie's (T, C, Y, X) shape in frames, channels and px, pixel type name, pixel size (µm),
            z-planes per stack and the z step (µm) of a movie kept in 3-D, else None.
        reads : list or tuple of str or os.PathLike
            The other files the movie reads (the later files of a multi-file OME-TIFF), whose
            signatures count as the files' do.
        """
        self._seen.add(key)
        read = [os.fspath(f) for f in reads]
        signatures = [signature(f) for f in [*files, *read]]
        if None in signatures:
            return
        kept = [list(header[0]), header[1], float(header[2]), int(header[3]),
                None if header[4] is None else float(header[4])] if header is not None else None
        if (self.rows.get(key) != signatures or self._notes.get(key, []) != list(notes) or self._headers.get(key) != kept
                or self._reads.get(key, []) != read):
            self.rows[key] = signatures
            for store, value in ((self._notes, list(notes)), (self._headers, kept), (self._reads, read)):
                if value:
                    store[key] = value  # type: ignore[index]
                else:
                    store.pop(key, None)
            self._changed = True

    def save(self, prune: bool = True) -> None:
        """Write the record (atomically) when it changed; a failure to write only warns.

        Parameters
        ----------
        prune : bool
            Drop the rows not looked up since the record was read (call it so after reading a whole
            sheet, not after a sheet that stopped at an error).
        """
        if prune and not set(self.rows) | set(self._scenes) <= self._seen:
            self.rows = {key: value for key, value in self.rows.items() if key in self._seen}
            self._scenes = {key: value for key, value in self._scenes.items() if key in self._seen}
            self._notes = {key: value for key, value in self._notes.items() if key in self.rows}
            self._headers = {key: value for key, value in self._headers.items() if key in self.rows}
            self._reads = {key: value for key, value in self._reads.items() if key in self.rows}
            self._changed = True
        if not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as tmp:
                Path(tmp).write_text(json.dumps({"format": RECORD_FORMAT, "rows": self.rows, "notes": self._notes,
                                                "headers": self._headers, "scenes": self._scenes,
                                                "reads": self._reads}),
                                     encoding="utf-8")
            self._changed = False
        except OSError as err:
            logger.warning("could not write the record of checked files %s: %s", self.path, err)


def _is_header(value: Any) -> bool:
    """Whether ``value`` is a recorded header: [[T, C, Y, X], dtype, pixel size µm, z-planes, z step µm or null]."""
    return (
        isinstance(value, list) and len(value) == 5 and isinstance(value[3], int) and value[3] >= 1
        and (value[4] is None or (isinstance(value[4], (int, float)) and value[4] > 0))
        and isinstance(value[0], list) and len(value[0]) == 4
        and all(isinstance(n, int) and n >= 0 for n in value[0]) and isinstance(value[1], str)
        and isinstance(value[2], (int, float)) and value[2] > 0
    )
