"""Rule summarize_samples: see cellpipe.steps.report.summarize_samples_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.report import summarize_samples_step

with log_to_file(snakemake.log[0]):
    summarize_samples_step(
        samples=snakemake.params["samples"],
        counts=list(snakemake.input["counts"]),
        cells=list(snakemake.input["cells"]),
        track_metrics=list(snakemake.input["track_metrics"]),
        summary=snakemake.output["summary"],
        evaluations=list(snakemake.input["evaluations"]),
        qc=list(snakemake.input["qc"]),
    )
