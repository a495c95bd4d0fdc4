rule measure_cells:
    """Per cell per frame (area µm², centroid µm, shape, intensities), per track, per lag (MSD); counts per frame."""
    input:
        labels=CELL_LABELS,
        image=IMAGE,
        tracks=TRACKS,
    output:
        cells=CELLS,
        track_metrics=TRACK_METRICS,
        counts=report(
            COUNTS,
            caption="../report/counts.rst",
            category="Counts",
            labels={"sample": "{sample}"},
        ),
        # mean squared displacement per lag (pooled, per track) and its exponent: the report's MSD figure
        msd=MSD,
    params:
        # the measure section with track.min_track_frames (cellpipe.config.jobs.MeasureJob)
        settings=settings("measure"),
    log:
        log_of("measure_cells"),
    benchmark:
        benchmark_of("measure_cells")
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/measure_cells.py"
