"""Rerun one sample's analysis from its provenance record, after checking that nothing it used changed.

    python -m cellpipe.replay results/<sample>/provenance.json [--results DIR] [--cores N] [--dry-run]

Before anything runs, every input file the record lists (movie, ground truth, sample sheet,
tracker configuration, Cellpose model) must have its recorded sha256, the record must say that the
jobs that read the movie, model, tracker configuration and ground truth read those very files
(``as_read``), and every recorded package (and Python) its recorded version; otherwise the replay refuses with one line per difference,
naming the sample, the file or package, and the recorded and found values (exit code 1).  Config
files that changed since are only reported: the replay runs with the resolved configuration stored
in the record, written to ``<results>/replay/<sample>/config.yaml`` and given to snakemake with
``--replace-workflow-config``.  Snakemake (the one installed beside this Python) then reruns every
job of the sample, in the recorded working directory, with outputs in ``--results`` (default: the
recorded results folder + ``-replay``) so the original results are untouched.  Finally the replayed
result tables are compared with the recorded sha256 (exit code 4 when any differs, 3 when snakemake
failed, 2 when the record cannot be read, 0 when the replay reproduced every table byte for byte).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cellpipe import layout
from cellpipe.io import tables
from cellpipe.io.checksums import describe_path, git_revision
from cellpipe.provenance import Check, check_record, file_differences, package_versions

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_SNAKEMAKE_FAILED = 3
EXIT_OUTPUTS_DIFFER = 4


class ReplayError(RuntimeError):
    """The replay cannot start (e.g. no Snakefile, or results would overwrite the original ones)."""


def describe_inputs(record: Mapping[str, Any], workdir: str | os.PathLike[str]) -> list[dict[str, Any] | None]:
    """Each recorded input described as it is now.

    Parameters
    ----------
    record : mapping
        A provenance record (its ``inputs``).
    workdir : str or os.PathLike
        The folder relative input paths are read from.

    Returns
    -------
    list of dict or None
        :func:`cellpipe.io.checksums.describe_path` per input, in the record's order; None where missing.
    """
    found: list[dict[str, Any] | None] = []
    for entry in record.get("inputs", []):
        try:
            # a movie described by the files it reads (one position of a folder, a multi-file OME-TIFF): those files
            read = [f["path"] for f in entry["files"]] if entry.get("subset") or entry.get("type") == "files" else None
            found.append(describe_path(entry["role"], entry["path"], workdir, files=read))
        except FileNotFoundError:
            found.append(None)
    return found


def check_against_disk(record: Mapping[str, Any], workdir: str | os.PathLike[str]) -> Check:
    """:func:`cellpipe.provenance.check_record` with the inputs and the package versions installed now.

    Parameters
    ----------
    record : mapping
        A provenance record.
    workdir : str or os.PathLike
        The folder relative input paths are read from.

    Returns
    -------
    cellpipe.provenance.Check
        The problems that stop the replay and the notes that do not.
    """
    return check_record(record, describe_inputs(record, workdir), package_versions())


def default_results(record: Mapping[str, Any]) -> str:
    """Where a replay writes when no ``--results`` is given.

    Parameters
    ----------
    record : mapping
        A provenance record (its ``config["results"]``, default ``results``).

    Returns
    -------
    str
        The recorded results folder + ``-replay`` (beside it, relative to the working directory).
    """
    return os.path.normpath(str(record.get("config", {}).get("results", "results"))) + "-replay"


def replay_config(record: Mapping[str, Any], results: str) -> dict[str, Any]:
    """The configuration a replay runs with.

    Parameters
    ----------
    record : mapping
        A provenance record (its resolved ``config``).
    results : str
        The replay's results folder.

    Returns
    -------
    dict
        A shallow copy of the recorded configuration with ``results`` replaced.
    """
    config = dict(record["config"])
    config["results"] = results
    return config


def same_folder(a: str | os.PathLike[str], b: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same folder (links resolved).

    Parameters
    ----------
    a, b : str or os.PathLike
        The paths; relative ones are read from ``workdir``.
    workdir : str or os.PathLike
        The working directory.

    Returns
    -------
    bool
    """
    return Path(workdir, a).resolve() == Path(workdir, b).resolve()


def replay_targets(results: str, sample: str) -> list[str]:
    """What the replay asks snakemake to build: the sample's provenance record and report.

    Everything the sample's tables need is built on the way to them.

    Parameters
    ----------
    results : str
        The replay's results folder.
    sample : str
        The sample's name.

    Returns
    -------
    list of str
        The two paths.
    """
    return [layout.path(layout.PROVENANCE, results, sample=sample), layout.path(layout.REPORT, results, sample=sample)]


def snakemake_command(
    snakemake: str,
    snakefile: str,
    workdir: str,
    configfile: str,
    targets: Sequence[str],
    cores: str = "all",
    dry_run: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """The snakemake command line of a replay.

    It runs the recorded Snakefile in the recorded working directory with only the recorded
    configuration (``--replace-workflow-config``) and reruns every job (``--forceall``); ``gpu=1``
    serialises GPU jobs as on a workstation.

    Parameters
    ----------
    snakemake : str
        The snakemake executable.
    snakefile : str
        The Snakefile to run.
    workdir : str
        Snakemake's ``--directory``.
    configfile : str
        The replay's config file (:func:`replay_config` written as YAML).
    targets : sequence of str
        Files to build (:func:`replay_targets`).
    cores : str
        ``--cores`` (a number of cores, or ``"all"``).
    dry_run : bool
        Add ``--dry-run``.
    extra : sequence of str
        More arguments, placed before the targets.

    Returns
    -------
    list of str
        The command's arguments.
    """
    return [
        snakemake,
        "--snakefile", snakefile,
        "--directory", workdir,
        "--configfile", configfile,
        "--replace-workflow-config",
        "--cores", str(cores),
        "--resources", "gpu=1",
        "--forceall",
        *(["--dry-run"] if dry_run else []),
        *extra,
        *targets,
    ]


def output_differences(
    sample: str, recorded: Sequence[Mapping[str, Any]], found: Mapping[str, Mapping[str, Any] | None]
) -> list[str]:
    """One line per recorded result file whose replayed copy is missing or has another sha256.

    Parameters
    ----------
    sample : str
        The sample's name, for the lines.
    recorded : sequence of mapping
        The record's ``outputs`` (``path`` relative to the sample's folder, ``sha256``).
    found : mapping of str to mapping or None
        File name -> its replayed description (``sha256``), or None when it was not written.

    Returns
    -------
    list of str
        Empty when every file is reproduced byte for byte.
    """
    return file_differences(
        recorded, found,
        gone="sample {sample!r}: result {path}: not written by the replay",
        changed="sample {sample!r}: result {path}: recorded sha256 {recorded}, replayed {now}",
        sample=sample,
    )


def describe_outputs(recorded: Sequence[Mapping[str, Any]], sample_dir: Path) -> dict[str, dict[str, Any] | None]:
    """Each recorded result file as the replay wrote it.

    Parameters
    ----------
    recorded : sequence of mapping
        The record's ``outputs`` (``path`` relative to the sample's folder).
    sample_dir : pathlib.Path
        The replay's folder of the sample.

    Returns
    -------
    dict of str to dict or None
        Path -> :func:`cellpipe.io.checksums.describe_path` of the replayed file (``sha256``, ``bytes``),
        None where the replay wrote none.
    """
    found: dict[str, dict[str, Any] | None] = {}
    for entry in recorded:
        try:
            found[entry["path"]] = describe_path("output", sample_dir / entry["path"])
        except FileNotFoundError:
            found[entry["path"]] = None
    return found


def run_snakemake(command: Sequence[str]) -> int:
    """Run the replay's snakemake command, its output going to this process's.

    Parameters
    ----------
    command : sequence of str
        :func:`snakemake_command`.

    Returns
    -------
    int
        Snakemake's exit code.
    """
    return subprocess.run(list(command), check=False).returncode


def _snakefile(record: Mapping[str, Any], given: str | None) -> str:
    """The Snakefile to run: ``given``, else the recorded one, else the one of an editable install; ReplayError if none."""
    if given:
        return given
    recorded = (record.get("command") or {}).get("snakefile")
    if recorded:
        return str(recorded)
    beside_package = Path(__file__).resolve().parents[2] / "Snakefile"  # an editable install (make setup)
    if beside_package.is_file():
        return str(beside_package)
    raise ReplayError("the record names no Snakefile (its command line was not recorded): give --snakefile")


def _snakemake_executable() -> str:
    """The snakemake installed beside this Python, so the replay runs the same environment; else the one on PATH."""
    beside = Path(sys.executable).parent / "snakemake"
    return str(beside) if beside.exists() else "snakemake"


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m cellpipe.replay``, without the arguments after ``--`` (snakemake's)."""
    parser = argparse.ArgumentParser(
        prog="python -m cellpipe.replay",
        description="Rerun a sample's analysis from its provenance.json; refuses when an input file's sha256 or an "
        "installed package version differs from the record. Arguments after -- go to snakemake.",
    )
    parser.add_argument("provenance", help="results/<sample>/provenance.json of the run to replay")
    parser.add_argument("--results", help="folder for the replay's outputs (default: the recorded results folder + '-replay')")
    parser.add_argument("--workdir", help="working directory to run in and to read relative inputs from (default: the recorded one)")
    parser.add_argument("--snakefile", help="Snakefile to run (default: the recorded one)")
    parser.add_argument("--cores", default="all", help="snakemake --cores (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="check, then show what snakemake would run, and stop")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Check a provenance record, rerun its sample and compare the replayed result tables (see the module docstring).

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default ``sys.argv[1:]``); those after ``--`` go to snakemake.

    Returns
    -------
    int
        :data:`EXIT_OK` (reproduced byte for byte, or a dry run that went through), :data:`EXIT_REFUSED`,
        :data:`EXIT_USAGE` (unreadable record), :data:`EXIT_SNAKEMAKE_FAILED` or
        :data:`EXIT_OUTPUTS_DIFFER`.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, extra = args_list[:cut], args_list[cut + 1 :]
    args = _parser().parse_args(args_list)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    try:
        record = tables.read_json(args.provenance)
        record["config"], record["inputs"]  # noqa: B018 - a provenance record has both
    except (OSError, ValueError, TypeError, KeyError) as err:
        logger.error("cellpipe replay: %s is not a readable provenance record (%s: %s)", args.provenance, type(err).__name__, err)
        return EXIT_USAGE
    sample = str(record.get("sample", "?"))
    workdir = str(Path(args.workdir or record.get("workdir") or ".").resolve())
    logger.info("replay of sample %r from %s (working directory %s)", sample, args.provenance, workdir)

    check = check_against_disk(record, workdir)
    for note in check.notes:
        logger.warning("note: %s", note)
    if not check.ok:
        logger.error(
            "cellpipe replay refused for sample %r: %d difference(s) from %s; nothing was run:\n%s",
            sample, len(check.problems), args.provenance, "\n".join(f"  {line}" for line in check.problems),
        )
        return EXIT_REFUSED
    logger.info("%d input(s) and %d package version(s) match the record", len(record.get("inputs", [])),
                len(record.get("versions", {})))

    try:
        snakefile = _snakefile(record, args.snakefile)
        if not Path(snakefile).is_file():
            raise ReplayError(f"Snakefile {snakefile} not found: give --snakefile")
        results = args.results or default_results(record)
        if args.results and not os.path.isabs(results):  # as typed, relative to where the command runs
            absolute = Path(results).resolve()
            results = os.path.relpath(absolute, workdir) if absolute.is_relative_to(workdir) else str(absolute)
        if same_folder(results, record["config"].get("results", "results"), workdir):
            raise ReplayError(f"--results {results} is the recorded results folder: choose another, the replay must not overwrite it")
    except ReplayError as err:
        logger.error("cellpipe replay refused for sample %r: %s", sample, err)
        return EXIT_REFUSED
    revision = (record.get("command") or {}).get("workflow_revision") or {}
    now = git_revision(Path(snakefile).parent) or {}
    if revision.get("commit") and now.get("commit") != revision.get("commit"):
        logger.warning("note: the workflow's git commit was %s, it is %s now", revision.get("commit"), now.get("commit"))

    replay_dir = Path(workdir, layout.path(layout.REPLAY_DIR, results, sample=sample))
    configfile = replay_dir / "config.yaml"
    tables.write_yaml(replay_config(record, results), configfile)
    command = snakemake_command(
        _snakemake_executable(), snakefile, workdir, str(configfile), replay_targets(results, sample),
        cores=args.cores, dry_run=args.dry_run, extra=extra,
    )
    logger.info("running: %s", " ".join(command))
    if run_snakemake(command) != 0:
        logger.error("cellpipe replay of sample %r: snakemake failed (see its messages above)", sample)
        return EXIT_SNAKEMAKE_FAILED
    if args.dry_run:
        return EXIT_OK

    recorded_outputs = record.get("outputs", [])
    sample_dir = Path(workdir, layout.path(layout.SAMPLE_DIR, results, sample=sample))
    differences = output_differences(sample, recorded_outputs, describe_outputs(recorded_outputs, sample_dir))
    replayed = tables.read_json(Path(workdir, layout.path(layout.PROVENANCE, results, sample=sample)))
    if replayed.get("device") != record.get("device"):
        logger.warning("note: segmentation ran on %s, the recorded run on %s", replayed.get("device"), record.get("device"))
    tables.write_json({"sample": sample, "recorded": args.provenance, "differences": differences,
                       "identical": not differences, "compared": [o["path"] for o in recorded_outputs]},
                      replay_dir / "comparison.json")
    if differences:
        logger.error("cellpipe replay of sample %r ran, but %d of %d result file(s) differ from the record:\n%s",
                     sample, len(differences), len(recorded_outputs), "\n".join(f"  {line}" for line in differences))
        return EXIT_OUTPUTS_DIFFER
    logger.info("replay of sample %r reproduced all %d recorded result file(s) byte for byte in %s",
                sample, len(recorded_outputs), sample_dir)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
