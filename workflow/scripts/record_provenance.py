"""Rule record_provenance: see cellpipe.steps.provenance.record_provenance_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.provenance import record_provenance_step

with log_to_file(snakemake.log[0]):
    record_provenance_step(
        sample=snakemake.wildcards["sample"],
        inputs=dict(snakemake.input.items()),
        config=snakemake.params["config"],
        job_settings=snakemake.params["job_settings"],
        provenance=snakemake.output["provenance"],
        invocation=snakemake.params["invocation"],
        model_path=snakemake.params["model_path"],
    )
