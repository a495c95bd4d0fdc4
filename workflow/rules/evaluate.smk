# Evaluation against ground truth: only samples whose sample-sheet row names a ground_truth.

GROUND_TRUTH = {name: row.ground_truth for name, row in SAMPLES.items() if row.ground_truth}


# Scored from the CTC export; with export.ctc: false the step makes it from the tracked masks and tracks.
rule evaluate_sample:
    """CTC SEG/DET/TRA, instance AP at IoU 0.5-0.95, P/R/F1, Jaccard/Dice, count error, divisions."""
    input:
        **({"ctc_dir": CTC_DIR} if CTC_EXPORT else {"tracked": TRACK_LABELS, "tracks": TRACKS}),
        ground_truth=lambda wc: GROUND_TRUTH[wc.sample],
        segmentation=CELL_LABELS,
        image=IMAGE,
    output:
        evaluation=EVALUATION,
    params:
        settings=settings("evaluate"),
    log:
        log_of("evaluate_sample"),
    benchmark:
        benchmark_of("evaluate_sample")
    # one frame at a time in one process (cellpipe.evaluate.streamed_ctc_scores): no use for a second core
    threads: 1
    # Measured max_rss (bench.workflow_memory --ground-truth, bench/RESULTS.md #29): 609 MB at 100 and
    # 681 MB at 500 frames of 1024² (60 cells), 595 MB at 256²; about 580 MB of it is the imports.
    # Pixels are held a frame at a time; what grows is about 3 kB per cell per frame (match lists,
    # traccuracy's graphs), so 1.5 GB leaves room for some 250,000 more cell-frames than measured,
    # and a job killed for memory is retried with 3 GB, then 4.5 GB.
    resources:
        mem_mb=per_attempt(1500),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/evaluate_sample.py"


rule summarize_evaluation:
    """One row per evaluated sample: results/evaluation.tsv."""
    input:
        evaluations=expand(EVALUATION, sample=sorted(GROUND_TRUTH)),
    output:
        table=report(
            EVALUATION_TABLE,
            caption="../report/evaluation.rst",
            category="Evaluation",
        ),
    log:
        log_of("summarize_evaluation", "evaluation"),
    benchmark:
        benchmark_of("summarize_evaluation", "evaluation")
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(5),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/summarize_evaluation.py"
