"""Rule assess_quality: see cellpipe.steps.qc.assess_quality_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.qc import assess_quality_step

with log_to_file(snakemake.log[0]):
    assess_quality_step(
        sample=snakemake.wildcards["sample"],
        image=snakemake.input["image"],
        segmentation_info=snakemake.input["segmentation_info"],
        tracking_info=snakemake.input["tracking_info"],
        tracks=snakemake.input["tracks"],
        track_metrics=snakemake.input["track_metrics"],
        counts=snakemake.input["counts"],
        settings=snakemake.params["settings"],
        qc=snakemake.output["qc"],
    )
