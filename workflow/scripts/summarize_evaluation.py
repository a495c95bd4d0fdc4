"""Rule summarize_evaluation: see cellpipe.steps_evaluate.summarize_evaluation_step."""

from cellpipe.logs import log_to_file
from cellpipe.steps_evaluate import summarize_evaluation_step

with log_to_file(snakemake.log[0]):
    summarize_evaluation_step(evaluations=list(snakemake.input["evaluations"]), table=snakemake.output["table"])
