"""The provenance record of one sample (``results/<sample>/provenance.json``) and the checks of a replay.

A record holds what is needed to rerun an analysis and to know that the rerun used the same
things: the sha256 of every input file (movie, ground truth, config files, sample sheet, tracker
configuration, Cellpose model) and, for those a job reads, the sha256 of the bytes that job read
(:func:`inputs_as_read`), the resolved configuration and the settings each job used
(:func:`job_settings_record`), the versions of the packages the
pipeline imports, the model and device segmentation used, the snakemake command line and the run
time and peak memory of each rule, and the sha256 of the sample's result tables.

Everything here is pure: the values are read from disk by :mod:`cellpipe.io.checksums` and
:mod:`cellpipe.steps.provenance`, and :mod:`cellpipe.replay` applies :func:`check_record`.
Keys are documented in README.md ("Provenance and replay").  Apart from :data:`VOLATILE_KEYS`
(when, how long, which command), two records of the same analysis in the same folder are equal.
"""

from __future__ import annotations

import platform
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cellpipe import layout
from cellpipe.numbers import as_number
from cellpipe.versions import package_version

SCHEMA_VERSION = 3
"""Version of the record's layout; a replay refuses records newer than it understands.
2: ``movie_at_ingest``, the movie as ingest_movie read it against the movie file.
3: ``as_read`` (:func:`inputs_as_read`) in its place, for every input a job reads (:data:`READ_BY`: the
movie, the Cellpose model, the tracker configuration, the ground truth); a replay of version 2 would look
at the movie only.  A version 2 record's ``movie_at_ingest`` is still checked (:func:`recorded_as_read`)."""

PINNED_PACKAGES: tuple[str, ...] = (
    "cellpipe",
    "numpy",
    "scipy",
    "scikit-image",
    "pandas",
    "pyarrow",
    "pydantic",
    "pyyaml",
    "tifffile",
    "imagecodecs",
    "zarr",
    "numcodecs",
    "ome-zarr",
    "dask",
    "matplotlib",
    "torch",
    "cellpose",
    "btrack",
    "py-ctcmetrics",
    "traccuracy",
    "snakemake",
)
"""Distributions whose versions are recorded (with Python's) and compared by a replay: everything the
rules import that can change a number, plus snakemake itself."""

INPUT_ROLES: tuple[str, ...] = ("movie", "ground_truth", "config", "sample_sheet", "tracker_config", "model")
"""Kinds of recorded input, in the order they are listed."""

ADVISORY_ROLES: frozenset[str] = frozenset({"config"})
"""Inputs whose change does not stop a replay: it runs with the resolved configuration stored in the
record, not with the config files (whose checksums are kept to show where that configuration came from)."""

JOB_SETTINGS: dict[str, tuple[str, str]] = {
    "segment_frames": ("segmentation_info", "job_settings"),
    "track_cells": ("tracking_info", "settings"),
}
"""Rules whose job also records in its run info the settings it used (:class:`cellpipe.config.jobs.JobSettings`,
after the sample sheet's row and with shipped paths resolved): the input of rule record_provenance holding
that run info, and the key there.  The record's ``job_settings`` (:func:`job_settings_record`) holds every
job's settings by rule; for these rules, what the run info says."""

VOLATILE_KEYS: tuple[str, ...] = ("created_utc", "command", "timings")
"""Top-level keys that differ between two runs of the same analysis (date, command line, run times)."""

OUTPUT_TABLES: tuple[str, ...] = tuple(
    layout.in_sample(t)
    for t in (layout.NORMALIZATION, layout.TRACKS, layout.LINEAGE, layout.CELLS, layout.TRACK_METRICS, layout.COUNTS,
              layout.MSD, layout.QC, layout.EVALUATION)
)
"""Result files of a sample (in ``results/<sample>/``) whose sha256 is recorded; a replay compares them.
``evaluation.json`` exists only for samples with ground truth.  The exports (``ctc/``, ``tracks_napari.csv``,
``tracks.geff``, ``tracks.trackmate.xml``) are not listed: they are conversions of ``tracks.parquet`` and ``cells.parquet`` (recorded
here) with the image's calibration, and two of them are folders."""


def package_versions(packages: Sequence[str] = PINNED_PACKAGES) -> dict[str, str | None]:
    """The running Python's version and each distribution's installed version.

    Parameters
    ----------
    packages : sequence of str
        Distribution names (default :data:`PINNED_PACKAGES`).

    Returns
    -------
    dict of str to str or None
        ``{"python": "3.11.7", "numpy": "2.0.2", ...}``; None for a distribution not installed.
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({name: package_version(name) for name in packages})
    return versions


def _job_timing(row: Mapping[str, Any]) -> dict[str, float | None]:
    """One benchmark row as ``seconds`` (s, 0.01), ``max_rss_mb`` (MB, 0.1) and ``cpu_seconds`` (s, 0.01), None where unmeasured."""
    seconds, rss, cpu = (as_number(row.get(key), finite=True) for key in ("s", "max_rss", "cpu_time"))
    return {
        "seconds": None if seconds is None else round(seconds, 2),
        "max_rss_mb": None if rss is None else round(rss, 1),
        "cpu_seconds": None if cpu is None else round(cpu, 2),
    }


def benchmark_timings(
    rows: Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Run time and peak memory per rule from Snakemake's benchmark tables.

    A rule with several jobs for the sample (``segment_frames``, one per part of ``segment.scatter``)
    gets the sum of their ``seconds`` and ``cpu_seconds`` (the jobs' time together, whether or not they
    ran at once), the largest ``max_rss_mb`` (the most one job needed), each None unless every job was
    measured, ``jobs`` (their number) and ``parts``: each job's own values, with its ``job`` (the
    benchmark file's name without ``.tsv``, e.g. ``s1.part0``), in the order given.

    Parameters
    ----------
    rows : mapping of str to mapping or sequence of mapping
        Rule name -> the first row ``{column: value}`` of its ``benchmarks/<rule>/<...>.tsv`` (columns
        ``s``: wall-clock s, ``max_rss``: MB, ``cpu_time``: s), or a list of such rows, one per job of
        the rule (:func:`cellpipe.steps.provenance.read_benchmarks`). A rule with an empty list is left
        out.

    Returns
    -------
    dict of str to dict
        Rule -> ``{"seconds", "max_rss_mb", "cpu_seconds"}`` rounded to 0.01 s / 0.1 MB, None where a
        value is missing or not a number (Snakemake writes ``-`` where it could not measure).
    """
    out: dict[str, dict[str, Any]] = {}
    for rule, value in rows.items():
        jobs = [value] if isinstance(value, Mapping) else list(value)
        if not jobs:
            continue
        if len(jobs) == 1:
            out[rule] = _job_timing(jobs[0])
            continue
        parts = [{"job": job.get("job"), **_job_timing(job)} for job in jobs]
        seconds, rss, cpu = ([p[key] for p in parts] for key in ("seconds", "max_rss_mb", "cpu_seconds"))
        out[rule] = {
            "seconds": None if None in seconds else round(sum(seconds), 2),
            "max_rss_mb": None if None in rss else max(rss),
            "cpu_seconds": None if None in cpu else round(sum(cpu), 2),
            "jobs": len(parts),
            "parts": parts,
        }
    return out


def invocation_record(
    argv: Sequence[str],
    working_directory: str,
    snakefile: str,
    snakemake_version: str | None,
    revision: Mapping[str, Any] | None,
    started_utc: str | None = None,
) -> dict[str, Any]:
    """What the main snakemake process records when it starts (the ``command`` of a provenance record).

    Environment variables, user and host names are not recorded.

    Parameters
    ----------
    argv : sequence of str
        Its command line.
    working_directory : str
        Its working directory (after ``--directory``).
    snakefile : str
        The main Snakefile.
    snakemake_version : str or None
        Snakemake's version.
    revision : mapping or None
        ``{"commit", "dirty"}`` of the workflow's git checkout, or None outside one.
    started_utc : str, optional
        Start time, ISO 8601 UTC (default: now, :func:`utc_now`).

    Returns
    -------
    dict
        ``argv``, ``command_line`` (shell-quoted), ``workdir``, ``snakefile``, ``snakemake``,
        ``workflow_revision``, ``started_utc``.
    """
    return {
        "argv": list(argv),
        "command_line": shlex.join(argv),
        "workdir": working_directory,
        "snakefile": snakefile,
        "snakemake": snakemake_version,
        "workflow_revision": dict(revision) if revision else None,
        "started_utc": started_utc or utc_now(),
    }


def utc_now() -> str:
    """The current time in UTC, to the second.

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SSZ``.
    """
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


READ_BY: dict[str, str] = {
    "movie": "ingest_movie",
    "model": "segment_frames",
    "tracker_config": "track_cells",
    "ground_truth": "evaluate_sample",
}
"""The job that reads each input whose bytes the results come from, and records the sha256 of what it read
(``inputs_read`` in its output, :func:`inputs_as_read`).  A file replaced after that job ran, its mtime
restored (``cp -p``, ``rsync -a`` from a backup), reruns nothing; record_provenance, rerun later, would
otherwise certify the new file's sha256 over results computed from the old one."""


def file_differences(
    recorded: Iterable[Mapping[str, Any]], found: Mapping[str, Mapping[str, Any] | None], gone: str, changed: str, **context: Any
) -> list[str]:
    """One line per recorded file that is missing or has another sha256 now.

    Parameters
    ----------
    recorded : iterable of mapping
        Recorded files, each with ``path`` and ``sha256``.
    found : mapping of str to mapping or None
        Path -> its entry now (with ``sha256``); None or absent when missing.
    gone : str
        Template of the line for a missing file.
    changed : str
        Template of the line for a file with another sha256.
    **context
        More fields for the templates.

    Returns
    -------
    list of str
        The templates formatted with ``path``, ``recorded`` (the recorded sha256), ``now`` (the sha256
        found, ``changed`` only) and ``context``, in the order of ``recorded``.
    """
    lines = []
    for entry in recorded:
        now = found.get(entry["path"])
        if now is None:
            lines.append(gone.format(path=entry["path"], recorded=entry["sha256"], **context))
        elif now["sha256"] != entry["sha256"]:
            lines.append(changed.format(path=entry["path"], recorded=entry["sha256"], now=now["sha256"], **context))
    return lines


def read_differences(read: Mapping[str, Any], found: Mapping[str, Any] | None, read_by: str = "ingest_movie") -> list[str]:
    """How an input as a job read it differs from the input as it is now.

    A folder is compared on the files read (a CTC movie's frames): other files in it were not read, so
    they do not count.

    Parameters
    ----------
    read : mapping
        What the job recorded of the bytes it read: ``type``, ``bytes``, ``sha256`` and, for a folder,
        ``files``.
    found : mapping or None
        The input described now (:func:`cellpipe.io.checksums.describe_path`), None when gone.
    read_by : str
        The rule of the job that read it, named in the lines.

    Returns
    -------
    list of str
        One line per difference; empty when every byte read is still there.
    """
    if found is None:
        return ["the file is gone"]
    if found.get("type") != read.get("type"):
        return [f"{read_by} read a {read.get('type')}, it is now a {found.get('type')}"]
    if "files" not in read:  # one file; else a folder, or the files of a multi-file movie (describe_files)
        if found.get("sha256") == read.get("sha256"):
            return []
        return [f"{read_by} read sha256 {read.get('sha256')} ({_size(read.get('bytes'))}), "
                f"the file now has sha256 {found.get('sha256')} ({_size(found.get('bytes'))})"]
    return file_differences(
        read.get("files", []), {f["path"]: f for f in found.get("files", [])},
        gone="{path}: read by {read_by} (sha256 {recorded}), missing now",
        changed="{path}: {read_by} read sha256 {recorded}, the file now has sha256 {now}",
        read_by=read_by,
    )


def as_read_entry(
    role: str,
    path: str,
    read_by: str,
    read: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    found: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One entry of the record's ``as_read``: an input as the job that read it read it, against the input now.

    Parameters
    ----------
    role : str
        The input's role (one of :data:`INPUT_ROLES`).
    path : str
        The input's path as recorded.
    read_by : str
        The rule of the job that reads it (:data:`READ_BY`).
    read : mapping or sequence of mapping or None
        The checksum that job recorded of the bytes it read; a list when several jobs read it, as the
        parts of segment_frames do; None when its output holds none.
    found : mapping or None
        The record's entry of the input now (:func:`cellpipe.io.checksums.describe_path`); None when gone.

    Returns
    -------
    dict
        ``role``, ``path``, ``read_by``; ``type``, ``bytes``, ``sha256`` as read (of the first job when
        several); ``matches`` (True, False, or None when nothing was recorded); ``differences`` (one line
        each, empty when it matches).
    """
    reads: list[dict[str, Any]] = []
    for one in [read] if isinstance(read, Mapping) else list(read or []):
        if isinstance(one, Mapping) and dict(one) not in reads:
            reads.append(dict(one))
    if not reads:
        return {"role": role, "path": path, "read_by": read_by, "type": None, "bytes": None, "sha256": None,
                "matches": None, "differences": [f"not recorded: {read_by}'s output was written by a cellpipe that "
                                                 "took no checksum of what it read"]}
    differences = []
    if len(reads) > 1:  # e.g. the model replaced between two parts of segment_frames
        differences.append(f"the jobs of {read_by} read {len(reads)} different versions (sha256 "
                           + ", ".join(str(r.get("sha256")) for r in reads) + ")")
    for one in reads:
        differences += read_differences(one, found, read_by)
    return {"role": role, "path": path, "read_by": read_by, "type": reads[0].get("type"), "bytes": reads[0].get("bytes"),
            "sha256": reads[0].get("sha256"), "matches": not differences, "differences": differences}


def inputs_as_read(
    inputs: Sequence[Mapping[str, Any]], reads: Mapping[str, tuple[str, Any]]
) -> list[dict[str, Any]]:
    """The record's ``as_read``: :func:`as_read_entry` for every input that a job reads.

    Parameters
    ----------
    inputs : sequence of mapping
        Entries of :func:`cellpipe.io.checksums.describe_path`, each with ``role`` and ``path``.
    reads : mapping of str to (str, Any)
        Role -> (the rule of the job that read it, the checksum that job recorded or None); inputs of
        other roles are left out.

    Returns
    -------
    list of dict
        One entry per input read, in the order of ``inputs``.
    """
    return [as_read_entry(e["role"], e["path"], reads[e["role"]][0], reads[e["role"]][1], e)
            for e in inputs if e["role"] in reads]


def recorded_as_read(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``as_read`` entries of a record, whatever its schema version.

    Parameters
    ----------
    record : mapping
        A provenance record; a version 2 record's ``movie_at_ingest`` becomes the movie's entry.

    Returns
    -------
    list of dict
        Entries as :func:`as_read_entry` makes them.
    """
    entries = [dict(e) for e in record.get("as_read") or [] if isinstance(e, Mapping)]
    legacy = record.get("movie_at_ingest")
    if isinstance(legacy, Mapping):
        movie = next((e.get("path") for e in record.get("inputs", []) if e.get("role") == "movie"), "?")
        entries.append({"role": "movie", "path": movie, "read_by": "ingest_movie", "type": legacy.get("type"),
                        "bytes": legacy.get("bytes"), "sha256": legacy.get("sha256"),
                        "matches": legacy.get("matches_movie"), "differences": list(legacy.get("differences") or [])})
    return entries


def job_settings_record(
    given: Mapping[str, Any] | None, recorded: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The record's ``job_settings``: the settings of every job of the sample, by rule.

    Parameters
    ----------
    given : mapping or None
        Rule -> the settings its job got, as rule record_provenance's params received them (the same
        :class:`cellpipe.config.jobs.JobSettings` values as the rules' own params); None where not given.
    recorded : mapping, optional
        Rule -> the settings its job wrote in its run info (:data:`JOB_SETTINGS`), None where that run
        info holds none.  These win: they are what made the outputs, even when the settings changed
        since and snakemake was told not to rerun for that (``--rerun-triggers`` without ``params``).

    Returns
    -------
    dict
        Rule -> settings (None where neither gives any).
    list of str
        One line per rule whose run info and ``given`` differ, by rule name.
    """
    given, recorded = dict(given or {}), dict(recorded or {})
    merged: dict[str, Any] = {}
    differences = []
    for rule in sorted(given.keys() | recorded.keys()):
        ran_with = recorded.get(rule)
        if ran_with is not None and rule in given and given[rule] != ran_with:
            differences.append(f"{rule} ran with other settings than the workflow gives it now: recorded the ones it ran with")
        merged[rule] = ran_with if ran_with is not None else given.get(rule)
    return merged, differences


def model_record(segmentation_info: Mapping[str, Any], model_path: str | None) -> dict[str, Any]:
    """The segmentation model as ``segment_cells`` used it.

    Parameters
    ----------
    segmentation_info : mapping
        The contents of the sample's ``segmentation.json``.
    model_path : str or None
        The model file's path, None for a built-in model or the classical method.

    Returns
    -------
    dict
        ``method``, ``network``, ``path``, ``builtin_model``, ``sha256``, ``cellpose_version``,
        ``torch_version``.
    """
    return {
        "method": segmentation_info.get("method"),
        "network": segmentation_info.get("network"),
        "path": model_path,
        "builtin_model": segmentation_info.get("builtin_model"),
        "sha256": segmentation_info.get("model_sha256"),
        "cellpose_version": segmentation_info.get("cellpose_version"),
        "torch_version": segmentation_info.get("torch_version"),
    }


def build_record(
    *,
    sample: str,
    workdir: str,
    inputs: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    versions: Mapping[str, str | None],
    segmentation_info: Mapping[str, Any],
    model_path: str | None,
    timings: Mapping[str, Mapping[str, Any]],
    command: Mapping[str, Any] | None,
    outputs: Sequence[Mapping[str, Any]],
    created_utc: str | None = None,
    as_read: Sequence[Mapping[str, Any]] = (),
    job_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of one sample (see the module docstring and README.md for each key).

    Parameters
    ----------
    sample : str
        The sample's name.
    workdir : str
        The working folder relative paths are read from.
    inputs : sequence of mapping
        Entries of :func:`cellpipe.io.checksums.describe_path`; sorted in :data:`INPUT_ROLES` order,
        then by path.
    config : mapping
        The resolved configuration.
    versions : mapping of str to str or None
        :func:`package_versions`.
    segmentation_info : mapping
        The contents of the sample's ``segmentation.json`` (model, device).
    model_path : str or None
        The Cellpose model file, None for a built-in model or the classical method.
    timings : mapping of str to mapping
        :func:`benchmark_timings` (s, MB).
    command : mapping or None
        :func:`invocation_record`, None when it was not recorded.
    outputs : sequence of mapping
        ``{"path" (relative to results/<sample>/), "bytes", "sha256"}``; sorted by path.
    created_utc : str, optional
        ISO 8601 UTC time of the record (default: now).
    as_read : sequence of mapping
        The inputs as the jobs that read them read them (:func:`inputs_as_read`).
    job_settings : mapping, optional
        The settings each job used, by rule (:func:`job_settings_record`); None where none were recorded.

    Returns
    -------
    dict
        The record, ``schema_version`` :data:`SCHEMA_VERSION`.
    """
    order = {role: i for i, role in enumerate(INPUT_ROLES)}
    return {
        "schema_version": SCHEMA_VERSION,
        "sample": sample,
        "created_utc": created_utc or utc_now(),
        "workdir": workdir,
        "inputs": sorted((dict(e) for e in inputs), key=lambda e: (order.get(e["role"], len(order)), e["path"])),
        "as_read": [dict(e) for e in as_read],
        "config": dict(config),
        "job_settings": dict(job_settings) if job_settings is not None else None,
        "versions": dict(versions),
        "model": model_record(segmentation_info, model_path),
        "device": segmentation_info.get("device") or ("none (classical)" if segmentation_info.get("method") == "classical" else None),
        "command": dict(command) if command else None,
        "timings": {rule: dict(values) for rule, values in timings.items()},
        "outputs": sorted((dict(o) for o in outputs), key=lambda o: o["path"]),
    }


def deterministic_part(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record without :data:`VOLATILE_KEYS`: equal for two runs of the same analysis in one folder.

    Parameters
    ----------
    record : mapping
        A provenance record.

    Returns
    -------
    dict
        A shallow copy without those keys.
    """
    return {key: value for key, value in record.items() if key not in VOLATILE_KEYS}


# --------------------------------------------------------------------------- replay checks


@dataclass
class Check:
    """Outcome of comparing a record with what is on disk and installed now."""

    problems: list[str] = field(default_factory=list)
    """One line per difference that stops a replay (naming the sample, the file or package, recorded vs found)."""
    notes: list[str] = field(default_factory=list)
    """Differences that do not stop it (a config file edited since: the replay uses the recorded configuration)."""

    @property
    def ok(self) -> bool:
        """True when nothing stops a replay (no :attr:`problems`)."""
        return not self.problems


def _size(n: Any) -> str:
    """A byte count for a message: ``"<n> bytes"``, or ``"size unknown"`` for None."""
    return f"{n} bytes" if n is not None else "size unknown"


def input_differences(sample: str, recorded: Mapping[str, Any], found: Mapping[str, Any] | None) -> list[str]:
    """Lines naming each way an input differs from its record.

    A folder is compared file by file (missing, changed, new files), then by its own sha256.

    Parameters
    ----------
    sample : str
        The sample's name, for the lines.
    recorded : mapping
        The record's entry of the input (``role``, ``path``, ``type``, ``sha256``, ``bytes``, ``files``).
    found : mapping or None
        The same input described now (:func:`cellpipe.io.checksums.describe_path`), or None when it does
        not exist.

    Returns
    -------
    list of str
        One line per difference; empty when identical.
    """
    what = f"sample {sample!r}: {recorded['role']} {recorded['path']}"
    if found is None:
        return [f"{what}: missing (recorded sha256 {recorded['sha256']}, {_size(recorded.get('bytes'))})"]
    if found.get("type") != recorded.get("type"):
        return [f"{what}: recorded a {recorded.get('type')}, found a {found.get('type')}"]
    if "files" not in recorded:  # one file; else a folder, or the files of a multi-file movie (describe_files)
        if found["sha256"] == recorded["sha256"]:
            return []
        return [
            f"{what}: recorded sha256 {recorded['sha256']} ({_size(recorded.get('bytes'))}), "
            f"found sha256 {found['sha256']} ({_size(found.get('bytes'))})"
        ]
    before = {f["path"]: f for f in recorded.get("files", [])}
    now = {f["path"]: f for f in found.get("files", [])}
    lines = []
    for rel in sorted(before.keys() | now.keys()):
        old, new = before.get(rel), now.get(rel)
        if new is None:
            lines.append(f"{what}/{rel}: missing (recorded sha256 {old['sha256']})")  # type: ignore[index]
        elif old is None:
            lines.append(f"{what}/{rel}: not in the record (found sha256 {new['sha256']})")
        elif old["sha256"] != new["sha256"]:
            lines.append(f"{what}/{rel}: recorded sha256 {old['sha256']}, found sha256 {new['sha256']}")
    if not lines and found.get("sha256") != recorded.get("sha256"):
        lines.append(f"{what}: recorded folder sha256 {recorded.get('sha256')}, found {found.get('sha256')}")
    return lines


def version_differences(sample: str, recorded: Mapping[str, str | None], installed: Mapping[str, str | None]) -> list[str]:
    """One line per recorded package (or Python) whose installed version differs.

    Parameters
    ----------
    sample : str
        The sample's name, for the lines.
    recorded : mapping of str to str or None
        The record's ``versions``.
    installed : mapping of str to str or None
        :func:`package_versions` now.

    Returns
    -------
    list of str
        Sorted by package name; empty when all match.
    """

    def shown(value: str | None) -> str:
        """A version for a message, ``"not installed"`` for None."""
        return value if value is not None else "not installed"

    return [
        f"sample {sample!r}: package {name}: recorded {shown(version)}, found {shown(installed.get(name))}"
        for name, version in sorted(recorded.items())
        if installed.get(name) != version
    ]


def check_record(
    record: Mapping[str, Any],
    found_inputs: Sequence[Mapping[str, Any] | None],
    installed: Mapping[str, str | None],
) -> Check:
    """Compare a provenance record with the inputs as they are now and the installed versions.

    Changed config files are notes (see :data:`ADVISORY_ROLES`); every other difference is a problem,
    and so is every input the record's ``as_read`` (:func:`recorded_as_read`) says a job read other bytes
    of than the file the record lists. A record of a newer schema than :data:`SCHEMA_VERSION` gives one
    problem and nothing else is compared.

    Parameters
    ----------
    record : mapping
        A provenance record.
    found_inputs : sequence of mapping or None
        One entry per ``record["inputs"]`` entry, in the same order, described now
        (:func:`cellpipe.io.checksums.describe_path`); None where the path does not exist.
    installed : mapping of str to str or None
        :func:`package_versions` now.

    Returns
    -------
    Check
        The problems and notes.

    Raises
    ------
    ValueError
        When ``found_inputs`` and the record's inputs differ in number.
    """
    sample = str(record.get("sample", "?"))
    check = Check()
    schema = record.get("schema_version")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        check.problems.append(
            f"sample {sample!r}: provenance schema_version {schema!r} is not one this cellpipe reads (<= {SCHEMA_VERSION})"
        )
        return check
    recorded_inputs = list(record.get("inputs", []))
    if len(recorded_inputs) != len(found_inputs):
        raise ValueError(f"{len(found_inputs)} inputs described for {len(recorded_inputs)} recorded")
    for entry in recorded_as_read(record):
        if entry.get("matches") is False:
            check.problems.append(
                f"sample {sample!r}: {entry.get('role')} {entry.get('path')}: the results were computed from other bytes "
                f"than the {str(entry.get('role')).replace('_', ' ')} file the record lists ({entry.get('read_by')} read "
                f"sha256 {entry.get('sha256')}): " + "; ".join(entry.get("differences") or [])
            )
    for recorded, found in zip(recorded_inputs, found_inputs, strict=True):
        lines = input_differences(sample, recorded, found)
        if recorded["role"] in ADVISORY_ROLES:
            check.notes.extend(f"{line} (not used: the replay runs with the recorded configuration)" for line in lines)
        else:
            check.problems.extend(lines)
    check.problems.extend(version_differences(sample, record.get("versions", {}), installed))
    return check
