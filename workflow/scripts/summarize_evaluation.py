"""Rule summarize_evaluation: see cellpipe.steps.evaluate.summarize_evaluation_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.evaluate import summarize_evaluation_step

with log_to_file(snakemake.log[0]):
    summarize_evaluation_step(evaluations=list(snakemake.input["evaluations"]), table=snakemake.output["table"])
