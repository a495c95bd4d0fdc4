"""Rule report_sample: see cellpipe.steps.report.report_sample_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.report import report_sample_step

with log_to_file(snakemake.log[0]):
    report_sample_step(
        sample=snakemake.wildcards["sample"],
        inputs=dict(snakemake.input.items()),
        config=snakemake.params["config"],
        settings=snakemake.params["settings"],
        report=snakemake.output["report"],
    )
