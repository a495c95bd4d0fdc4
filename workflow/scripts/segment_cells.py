"""Rule segment_cells (segment.scatter 1): see cellpipe.steps.segment.segment_cells_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.segment import segment_cells_step

with log_to_file(snakemake.log[0]):
    segment_cells_step(
        normalized=snakemake.input["normalized"],
        image=snakemake.input["image"],
        settings=snakemake.params["settings"],
        labels=snakemake.output["labels"],
        info=snakemake.output["info"],
        threads=snakemake.threads,
        batch_divisor=snakemake.resources.batch_divisor,
    )
