"""Rule simulate_movie: see cellpipe.steps.simulate.simulate_movie_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.simulate import simulate_movie_step

with log_to_file(snakemake.log[0]):
    simulate_movie_step(
        settings=snakemake.params["settings"],
        movie=snakemake.output["movie"],
        truth=snakemake.output["truth"],
    )
