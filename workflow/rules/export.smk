# Exports of each sample's tracks for other tools. The CTC result folder and its segment mapping are
# outputs only with config export.ctc (default true): a rule's outputs are fixed, so the two variants
# below differ in them alone. Without it, evaluate_sample makes the CTC result it scores from the tracked
# masks itself (evaluate.smk).

CTC_EXPORT = CFG.export.ctc
CTC_OUTPUTS = [f"{RESULTS}/{{sample}}/ctc", f"{RESULTS}/{{sample}}/ctc_segments.tsv"] if CTC_EXPORT else []


if CTC_EXPORT:

    rule export_tracks:
        """Tracks for other tools: a CTC result folder (tracks split at frame gaps) and napari tables."""
        input:
            tracked=TRACK_LABELS,
            tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        output:
            ctc_dir=directory(f"{RESULTS}/{{sample}}/ctc"),
            napari_csv=f"{RESULTS}/{{sample}}/tracks_napari.csv",
            napari_graph=f"{RESULTS}/{{sample}}/tracks_napari_graph.json",
            segments=f"{RESULTS}/{{sample}}/ctc_segments.tsv",
        log:
            f"{RESULTS}/logs/export_tracks/{{sample}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/export_tracks/{{sample}}.tsv"
        threads: 1
        resources:
            mem_mb=per_attempt(4000),
            runtime=per_attempt(15),
        conda:
            f"{ENVS}/cellpipe.yaml"
        script:
            "../scripts/export_tracks.py"

else:

    rule export_tracks:
        """Tracks for napari (export.ctc: false, so no CTC result folder)."""
        input:
            tracked=TRACK_LABELS,
            tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        output:
            napari_csv=f"{RESULTS}/{{sample}}/tracks_napari.csv",
            napari_graph=f"{RESULTS}/{{sample}}/tracks_napari_graph.json",
        log:
            f"{RESULTS}/logs/export_tracks/{{sample}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/export_tracks/{{sample}}.tsv"
        threads: 1
        resources:
            mem_mb=per_attempt(4000),
            runtime=per_attempt(15),
        conda:
            f"{ENVS}/cellpipe.yaml"
        script:
            "../scripts/export_tracks.py"
