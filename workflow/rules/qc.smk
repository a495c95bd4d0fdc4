# Quality control of each sample: results/<sample>/qc.json (cellpipe.qc), shown in its report and the summary.


rule assess_quality:
    """qc.json: objects removed by the filters, short tracks, rejected divisions, count jumps, border tracks, confidence."""
    input:
        image=IMAGE,
        segmentation_info=f"{RESULTS}/{{sample}}/segmentation.json",
        tracking_info=f"{RESULTS}/{{sample}}/tracking.json",
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        track_metrics=f"{RESULTS}/{{sample}}/track_metrics.parquet",
        counts=f"{RESULTS}/{{sample}}/counts.tsv",
    output:
        qc=f"{RESULTS}/{{sample}}/qc.json",
    params:
        settings=settings("qc"),
    log:
        f"{RESULTS}/logs/assess_quality/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/assess_quality/{{sample}}.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(5),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/assess_quality.py"
