"""Rule export_bioimageio: see cellpipe.steps.train.export_bioimageio_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.train import export_bioimageio_step

with log_to_file(snakemake.log[0]):
    export_bioimageio_step(
        weights=snakemake.input["weights"],
        card=snakemake.input["card"],
        record=snakemake.input["record"],
        output=snakemake.output["package"],
        origin=snakemake.params["origin"],
    )
