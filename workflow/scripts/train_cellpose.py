"""Rule train_cellpose: see cellpipe.steps.train.train_cellpose_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.runtime.numba_cache import install_numba_cache
from cellpipe.steps.train import train_cellpose_step

install_numba_cache()  # Cellpose (imported in the step) loads its numba code from numba's cache

with log_to_file(snakemake.log[0]):
    train_cellpose_step(
        model_name=snakemake.wildcards["model"],
        settings=snakemake.params["settings"],
        weights=snakemake.output["weights"],
        card=snakemake.output["card"],
        record=snakemake.output["record"],
        curve=snakemake.output["curve"],
        threads=snakemake.threads,
    )
