"""Rule list_labels: see cellpipe.io.omezarr.write_labels_group."""

from cellpipe.io.omezarr import store_path, write_labels_group
from cellpipe.logs import log_to_file

with log_to_file(snakemake.log[0]):
    write_labels_group(store_path(snakemake.output["labels_group"]).parent, snakemake.params["names"])
