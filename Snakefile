# cellpipe: raw time-lapse movies -> OME-Zarr -> normalized -> segmented -> tracked -> measured -> reports.
# Run from this folder:  snakemake --profile profiles/workstation   (see README.md)


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/track.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/interruptions.smk"


# CTC_OUTPUTS: ctc/ and ctc_segments.tsv, unless export.ctc is false (workflow/rules/export.smk).
rule all:
    input:
        summary=SUMMARY,
        reports=expand(REPORT, sample=SAMPLES),
        provenance=expand(PROVENANCE, sample=SAMPLES),
        qc=expand(QC, sample=SAMPLES),
        exports=expand(
            [
                *CTC_OUTPUTS,
                NAPARI_CSV,
                NAPARI_GRAPH,
                GEFF,
                TRACKMATE_XML,
            ],
            sample=SAMPLES,
        ),
        evaluation=[EVALUATION_TABLE] if GROUND_TRUTH else [],
        evaluations=expand(EVALUATION, sample=sorted(GROUND_TRUTH)),
        # every other result a user sees, so that one deleted comes back (workflow/rules/common.smk)
        results=expand(SAMPLE_RESULTS, sample=SAMPLES),
        made_inputs=made_inputs(),
    default_target: True
