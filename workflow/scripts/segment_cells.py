"""Rule segment_cells: see cellpipe.steps.segment_cells_step, or with segment.scatter > 1 (the parts of
rule segment_frames as inputs) cellpipe.steps.gather_segments_step."""

from cellpipe.logs import log_to_file
from cellpipe.steps import gather_segments_step, segment_cells_step

with log_to_file(snakemake.log[0]):
    if snakemake.input["parts"]:
        gather_segments_step(
            normalized=snakemake.input["normalized"],
            image=snakemake.input["image"],
            parts=list(snakemake.input["parts"]),
            part_infos=list(snakemake.input["part_infos"]),
            labels=snakemake.output["labels"],
            info=snakemake.output["info"],
        )
    else:
        segment_cells_step(
            normalized=snakemake.input["normalized"],
            image=snakemake.input["image"],
            settings=snakemake.params["settings"],
            labels=snakemake.output["labels"],
            info=snakemake.output["info"],
            threads=snakemake.threads,
            batch_divisor=snakemake.resources.batch_divisor,
        )
