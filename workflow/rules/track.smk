rule track_cells:
    """btrack with divisions: tracks, lineage, masks relabelled with track ids, and the run's record."""
    input:
        labels=CELL_LABELS,
        image=IMAGE,
        tracker_config=TRACKER_CONFIG,
    output:
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        lineage=f"{RESULTS}/{{sample}}/lineage.parquet",
        tracked=TRACK_LABELS,
        info=f"{RESULTS}/{{sample}}/tracking.json",
    params:
        settings=settings("track"),
    log:
        f"{RESULTS}/logs/track_cells/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/track_cells/{{sample}}.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/track_cells.py"


rule list_labels:
    """The image's NGFF labels group lists its label images (cells, tracks) for OME-Zarr readers."""
    input:
        cells=CELL_LABELS,
        tracks=TRACK_LABELS,
    output:
        labels_group=LABELS_GROUP,
    params:
        names=["cells", "tracks"],
    log:
        f"{RESULTS}/logs/list_labels/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/list_labels/{{sample}}.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(500),
        runtime=per_attempt(5),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/list_labels.py"
