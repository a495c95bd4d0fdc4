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
        # written last, once cells and tracks are there (no job of its own: one fewer job per sample)
        labels_group=LABELS_GROUP,
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
