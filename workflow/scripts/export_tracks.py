"""Rule export_tracks: see cellpipe.steps.export.export_tracks_step."""

from cellpipe.runtime.logs import log_to_file
from cellpipe.steps.export import export_tracks_step

with log_to_file(snakemake.log[0]):
    export_tracks_step(
        tracked=snakemake.input["tracked"],
        tracks=snakemake.input["tracks"],
        # absent with export.ctc: false (workflow/rules/export.smk)
        ctc_dir=snakemake.output.get("ctc_dir"),
        napari_csv=snakemake.output["napari_csv"],
        napari_graph=snakemake.output["napari_graph"],
        segments=snakemake.output.get("segments"),
        cells=snakemake.input["cells"],
        geff_store=snakemake.output["geff"],
        trackmate_xml=snakemake.output["trackmate"],
        settings=snakemake.params["settings"],
    )
