"""Rule track_cells: see cellpipe.steps.track.track_cells_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.track import track_cells_step

with log_to_file(snakemake.log[0]):
    track_cells_step(
        labels=snakemake.input["labels"],
        image=snakemake.input["image"],
        tracker_config=snakemake.input["tracker_config"],
        settings=snakemake.params["settings"],
        tracks=snakemake.output["tracks"],
        lineage=snakemake.output["lineage"],
        tracked=snakemake.output["tracked"],
        labels_group=snakemake.output["labels_group"],
        info=snakemake.output["info"],
    )
