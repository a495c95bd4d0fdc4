# Exports of each sample's tracks for other tools: napari tables (pixels and frames, µm and minutes), the tracks
# as a geff graph with the per-cell measurements (so it waits for measure_cells), and the CTC result folder
# (masks calibrated in µm). The CTC result folder and its segment mapping are
# outputs only with config export.ctc (default true): a rule's outputs are fixed, so the two variants
# below differ in them alone. Without it, evaluate_sample makes the CTC result it scores from the tracked
# masks itself (evaluate.smk).

CTC_EXPORT = CFG.export.ctc
CTC_OUTPUTS = [f"{RESULTS}/{{sample}}/ctc", f"{RESULTS}/{{sample}}/ctc_segments.tsv"] if CTC_EXPORT else []


if CTC_EXPORT:

    rule export_tracks:
        """Tracks for other tools: a CTC result folder (tracks split at frame gaps), napari tables and a geff graph."""
        input:
            tracked=TRACK_LABELS,
            tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
            cells=f"{RESULTS}/{{sample}}/cells.parquet",
        output:
            ctc_dir=directory(f"{RESULTS}/{{sample}}/ctc"),
            napari_csv=f"{RESULTS}/{{sample}}/tracks_napari.csv",
            napari_graph=f"{RESULTS}/{{sample}}/tracks_napari_graph.json",
            geff=directory(f"{RESULTS}/{{sample}}/tracks.geff"),
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
        """Tracks for napari and as a geff graph (export.ctc: false, so no CTC result folder)."""
        input:
            tracked=TRACK_LABELS,
            tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
            cells=f"{RESULTS}/{{sample}}/cells.parquet",
        output:
            napari_csv=f"{RESULTS}/{{sample}}/tracks_napari.csv",
            napari_graph=f"{RESULTS}/{{sample}}/tracks_napari_graph.json",
            geff=directory(f"{RESULTS}/{{sample}}/tracks.geff"),
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
