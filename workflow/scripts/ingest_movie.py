"""Rule ingest_movie: see cellpipe.steps.ingest.ingest_movie_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.ingest import ingest_movie_step

with log_to_file(snakemake.log[0]):
    ingest_movie_step(
        row=snakemake.params["row"],
        movie=snakemake.input["movie"],
        settings=snakemake.params["settings"],
        image=snakemake.output["image"],
    )
