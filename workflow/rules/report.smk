rule report_sample:
    """Self-contained HTML report of one sample (opens from disk, no network)."""
    input:
        image=IMAGE,
        normalized=NORMALIZED,
        percentiles=NORMALIZATION,
        labels=CELL_LABELS,
        segmentation_info=SEGMENTATION_INFO,
        cells=CELLS,
        track_metrics=TRACK_METRICS,
        counts=COUNTS,
        msd=MSD,
        tracks=TRACKS,
        lineage=LINEAGE,
        tracking_info=TRACKING_INFO,
        # quality checks (rule assess_quality): the report's "Quality control" section
        qc=QC,
        evaluation=lambda wc: [results_path(layout.EVALUATION, sample=wc.sample)] if wc.sample in GROUND_TRUTH else [],
        # input checksums, versions, model, device, command line and timings (rule record_provenance)
        provenance=PROVENANCE,
        # CTC label -> track mapping (rule export_tracks): the report says how many segments and which mask dtype
        ctc_segments=[CTC_SEGMENTS] if CTC_EXPORT else [],
    output:
        report=report(
            REPORT,
            caption="../report/sample_report.rst",
            category="Samples",
            labels={"sample": "{sample}"},
        ),
    params:
        settings=settings("report"),
        config=CFG.model_dump(mode="json"),
    log:
        log_of("report_sample"),
    benchmark:
        benchmark_of("report_sample")
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
        counts=expand(COUNTS, sample=SAMPLES),
        cells=expand(CELLS, sample=SAMPLES),
        track_metrics=expand(TRACK_METRICS, sample=SAMPLES),
        reports=expand(REPORT, sample=SAMPLES),
        qc=expand(QC, sample=SAMPLES),
        evaluations=expand(EVALUATION, sample=sorted(GROUND_TRUTH)),
    output:
        summary=report(SUMMARY, caption="../report/summary.rst", category="Summary"),
    params:
        samples=list(SAMPLES),
    log:
        log_of("summarize_samples", "summary"),
    benchmark:
        benchmark_of("summarize_samples", "summary")
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(5),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/summarize_samples.py"
