rule report_sample:
    """Self-contained HTML report of one sample (opens from disk, no network)."""
    input:
        image=IMAGE,
        normalized=f"{RESULTS}/{{sample}}/normalized.zarr",
        percentiles=f"{RESULTS}/{{sample}}/normalization.tsv",
        labels=CELL_LABELS,
        segmentation_info=f"{RESULTS}/{{sample}}/segmentation.json",
        cells=f"{RESULTS}/{{sample}}/cells.parquet",
        track_metrics=f"{RESULTS}/{{sample}}/track_metrics.parquet",
        counts=f"{RESULTS}/{{sample}}/counts.tsv",
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        lineage=f"{RESULTS}/{{sample}}/lineage.parquet",
        tracking_info=f"{RESULTS}/{{sample}}/tracking.json",
        # quality checks (rule assess_quality): the report's "Quality control" section
        qc=f"{RESULTS}/{{sample}}/qc.json",
        evaluation=lambda wc: [f"{RESULTS}/{wc.sample}/evaluation.json"] if wc.sample in GROUND_TRUTH else [],
        # input checksums, versions, model, device, command line and timings (rule record_provenance)
        provenance=f"{RESULTS}/{{sample}}/provenance.json",
        # CTC label -> track mapping (rule export_tracks): the report says how many segments and which mask dtype
        ctc_segments=[f"{RESULTS}/{{sample}}/ctc_segments.tsv"] if CTC_EXPORT else [],
    output:
        report=report(
            f"{RESULTS}/{{sample}}/report.html",
            caption="../report/sample_report.rst",
            category="Samples",
            labels={"sample": "{sample}"},
        ),
    params:
        settings=settings("report"),
        config=CFG.model_dump(mode="json"),
    log:
        f"{RESULTS}/logs/report_sample/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_sample/{{sample}}.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(15),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/report_sample.py"


rule summarize_samples:
    """Summary page across samples, linking each sample's report."""
    input:
        counts=expand(f"{RESULTS}/{{sample}}/counts.tsv", sample=SAMPLES),
        cells=expand(f"{RESULTS}/{{sample}}/cells.parquet", sample=SAMPLES),
        track_metrics=expand(f"{RESULTS}/{{sample}}/track_metrics.parquet", sample=SAMPLES),
        reports=expand(f"{RESULTS}/{{sample}}/report.html", sample=SAMPLES),
        qc=expand(f"{RESULTS}/{{sample}}/qc.json", sample=SAMPLES),
        evaluations=expand(f"{RESULTS}/{{sample}}/evaluation.json", sample=sorted(GROUND_TRUTH)),
    output:
        summary=report(f"{RESULTS}/summary.html", caption="../report/summary.rst", category="Summary"),
    params:
        samples=list(SAMPLES),
    log:
        f"{RESULTS}/logs/summarize_samples/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize_samples/summary.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(5),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/summarize_samples.py"
