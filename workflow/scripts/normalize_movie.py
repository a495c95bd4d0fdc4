"""Rule normalize_movie: see cellpipe.steps.normalize.normalize_movie_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.normalize import normalize_movie_step

with log_to_file(snakemake.log[0]):
    normalize_movie_step(
        image=snakemake.input["image"],
        settings=snakemake.params["settings"],
        normalized=snakemake.output["normalized"],
        percentiles=snakemake.output["percentiles"],
    )
