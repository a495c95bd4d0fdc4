# Exports of each sample's tracks for other tools: napari tables (pixels and frames, µm and minutes), the tracks
# as a geff graph and as a TrackMate XML file, both with the per-cell measurements (so it waits for
# measure_cells), and the CTC result folder
# (masks calibrated in µm). The CTC result folder and its segment mapping are
# outputs only with config export.ctc (default true): a rule's outputs are fixed, so the two variants
# below differ in them alone. Without it, evaluate_sample makes the CTC result it scores from the tracked
# masks itself (evaluate.smk).

CTC_EXPORT = CFG.export.ctc
CTC_OUTPUTS = [CTC_DIR, CTC_SEGMENTS] if CTC_EXPORT else []


if CTC_EXPORT:

    rule export_tracks:
        """Tracks for other tools: a CTC result folder (tracks split at frame gaps), napari tables, a geff graph and a TrackMate XML file."""
        input:
            tracked=TRACK_LABELS,
            tracks=TRACKS,
            cells=CELLS,
        output:
            ctc_dir=directory(CTC_DIR),
            napari_csv=NAPARI_CSV,
            napari_graph=NAPARI_GRAPH,
            geff=directory(GEFF),
            trackmate=TRACKMATE_XML,
            segments=CTC_SEGMENTS,
        log:
            log_of("export_tracks"),
        benchmark:
            benchmark_of("export_tracks")
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
        """Tracks for napari, as a geff graph and as TrackMate XML (export.ctc: false, so no CTC result folder)."""
        input:
            tracked=TRACK_LABELS,
            tracks=TRACKS,
            cells=CELLS,
        output:
            napari_csv=NAPARI_CSV,
            napari_graph=NAPARI_GRAPH,
            geff=directory(GEFF),
            trackmate=TRACKMATE_XML,
        log:
            log_of("export_tracks"),
        benchmark:
            benchmark_of("export_tracks")
        threads: 1
        resources:
            mem_mb=per_attempt(4000),
            runtime=per_attempt(15),
        conda:
            f"{ENVS}/cellpipe.yaml"
        script:
            "../scripts/export_tracks.py"
