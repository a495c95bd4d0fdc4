"""Rule evaluate_sample: see cellpipe.steps.evaluate.evaluate_sample_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.runtime.numba_cache import install_numba_cache
from cellpipe.steps.evaluate import evaluate_sample_step

install_numba_cache()  # traccuracy and Cellpose (imported in the step) load their numba code from numba's cache

with log_to_file(snakemake.log[0]):
    evaluate_sample_step(
        sample=snakemake.wildcards["sample"],
        ground_truth=snakemake.input["ground_truth"],
        segmentation=snakemake.input["segmentation"],
        image=snakemake.input["image"],
        # export.ctc: false gives no ctc/; the step then makes one from the tracked masks and tracks
        ctc_dir=snakemake.input.get("ctc_dir"),
        tracked=snakemake.input.get("tracked"),
        tracks=snakemake.input.get("tracks"),
        settings=snakemake.params["settings"],
        evaluation=snakemake.output["evaluation"],
    )
