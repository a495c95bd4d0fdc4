"""Rule evaluate_sample: see cellpipe.steps_evaluate.evaluate_sample_step."""

from cellpipe.logs import log_to_file
from cellpipe.steps_evaluate import evaluate_sample_step

with log_to_file(snakemake.log[0]):
    evaluate_sample_step(
        sample=snakemake.wildcards["sample"],
        ground_truth=snakemake.input["ground_truth"],
        segmentation=snakemake.input["segmentation"],
        image=snakemake.input["image"],
        ctc_dir=snakemake.input["ctc_dir"],
        settings=snakemake.params["settings"],
        evaluation=snakemake.output["evaluation"],
        threads=snakemake.threads,
    )
