"""Snakemake plumbing that is no file format.

The job's log file, the run's lock and registry, and the record of checked sample-sheet rows.

:mod:`cellpipe.runtime.logs` sends a job's logging to its log file; :mod:`cellpipe.runtime.snakemake_lock`
and :mod:`cellpipe.runtime.run_registry` let interrupted and concurrent runs of one results folder
find each other (``workflow/rules/interruptions.smk``); :mod:`cellpipe.runtime.checked_files` keeps the
rows whose files passed :mod:`cellpipe.preflight`, so unchanged files are not read again.
"""
