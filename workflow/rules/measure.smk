rule measure_cells:
    """Per cell per frame (area µm², centroid µm, shape, intensities) and per track; counts per frame."""
    input:
        labels=CELL_LABELS,
        image=IMAGE,
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
    output:
        cells=f"{RESULTS}/{{sample}}/cells.parquet",
        track_metrics=f"{RESULTS}/{{sample}}/track_metrics.parquet",
        counts=report(
            f"{RESULTS}/{{sample}}/counts.tsv",
            caption="../report/counts.rst",
            category="Counts",
            labels={"sample": "{sample}"},
        ),
    params:
        settings=settings("measure"),
        # tracks shorter than this are flagged in track_metrics (a tracking setting: tracking.json counts them)
        min_track_frames=CFG.track.min_track_frames,
    log:
        f"{RESULTS}/logs/measure_cells/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/measure_cells/{{sample}}.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/measure_cells.py"
