"""Rule segment_cells (the parts of rule segment_frames gathered): see cellpipe.steps.segment.segment_cells_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.runtime.numba_cache import install_numba_cache
from cellpipe.steps.segment import segment_cells_step

install_numba_cache()  # Cellpose (imported in the step) loads its numba code from numba's cache

with log_to_file(snakemake.log[0]):
    segment_cells_step(
        normalized=snakemake.input["normalized"],
        image=snakemake.input["image"],
        parts=list(snakemake.input["parts"]),
        part_infos=list(snakemake.input["part_infos"]),
        labels=snakemake.output["labels"],
        info=snakemake.output["info"],
    )
