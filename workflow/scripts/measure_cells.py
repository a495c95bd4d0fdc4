"""Rule measure_cells: see cellpipe.steps.measure.measure_cells_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.measure import measure_cells_step

with log_to_file(snakemake.log[0]):
    measure_cells_step(
        labels=snakemake.input["labels"],
        image=snakemake.input["image"],
        tracks=snakemake.input["tracks"],
        settings=snakemake.params["settings"],
        cells=snakemake.output["cells"],
        track_metrics=snakemake.output["track_metrics"],
        counts=snakemake.output["counts"],
        msd=snakemake.output["msd"],
    )
