rule track_cells:
    """btrack with divisions: tracks, lineage, masks relabelled with track ids, and the run's record."""
    input:
        labels=CELL_LABELS,
        image=IMAGE,
        tracker_config=TRACKER_CONFIG,
    output:
        tracks=TRACKS,
        lineage=LINEAGE,
        tracked=TRACK_LABELS,
        info=TRACKING_INFO,
        # written last, once cells and tracks are there (no job of its own: one fewer job per sample)
        labels_group=LABELS_GROUP,
    params:
        settings=settings("track"),
    log:
        log_of("track_cells"),
    benchmark:
        benchmark_of("track_cells")
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/track_cells.py"
