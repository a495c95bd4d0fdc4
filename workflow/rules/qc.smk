# Quality control of each sample: results/<sample>/qc.json (cellpipe.qc), shown in its report and the summary.


rule assess_quality:
    """qc.json: objects removed by the filters, short tracks, rejected divisions, count jumps, border tracks, confidence."""
    input:
        image=IMAGE,
        segmentation_info=SEGMENTATION_INFO,
        tracking_info=TRACKING_INFO,
        tracks=TRACKS,
        track_metrics=TRACK_METRICS,
        counts=COUNTS,
    output:
        qc=QC,
    params:
        settings=settings("qc"),
    log:
        log_of("assess_quality"),
    benchmark:
        benchmark_of("assess_quality")
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(5),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/assess_quality.py"
