"""Rule ingest_movie: see cellpipe.steps.ingest_movie_step."""

from cellpipe.config import SampleRow
from cellpipe.logs import log_to_file
from cellpipe.steps import ingest_movie_step

with log_to_file(snakemake.log[0]):
    row = SampleRow.model_validate(snakemake.params["row"])
    ingest_movie_step(
        sample=row.sample,
        movie=snakemake.input["movie"],
        fmt=row.format,
        axes=row.axes,
        pixel_size_um=row.pixel_size_um,
        frame_interval_min=row.frame_interval_min,
        channel_names=row.channels,
        settings=snakemake.params["settings"],
        image=snakemake.output["image"],
    )
