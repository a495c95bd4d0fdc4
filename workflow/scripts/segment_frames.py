"""Rule segment_frames: see cellpipe.steps.segment.segment_frames_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.runtime.numba_cache import install_numba_cache
from cellpipe.steps.segment import segment_frames_step

install_numba_cache()  # Cellpose (imported in the step) loads its numba code from numba's cache

with log_to_file(snakemake.log[0]):
    segment_frames_step(
        normalized=snakemake.input["normalized"],
        image=snakemake.input["image"],
        settings=snakemake.params["settings"],
        part=snakemake.params["part"],
        n_parts=snakemake.params["n_parts"],
        labels_part=snakemake.output["labels"],
        info_part=snakemake.output["info"],
        threads=snakemake.threads,
        batch_divisor=snakemake.resources.batch_divisor,
    )
