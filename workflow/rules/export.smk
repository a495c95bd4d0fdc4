# Exports of each sample's tracks for other tools: napari tables (pixels and frames, µm and minutes), the tracks
# as a geff graph and as a TrackMate XML file, both with the per-cell measurements (so it waits for
# measure_cells), and the CTC result folder
# (masks calibrated in µm). The CTC result folder and its segment mapping are
# outputs only with config export.ctc (default true): a rule's outputs are fixed when the workflow is
# parsed, so they come from the config here, the same for every sample. Without them, evaluate_sample makes
# the CTC result it scores from the tracked masks itself (evaluate.smk).

CTC_EXPORT = CFG.export.ctc
CTC_OUTPUTS = [CTC_DIR, CTC_SEGMENTS] if CTC_EXPORT else []
# The same two as export_tracks' named outputs (the script reads them with .get: absent without export.ctc).
CTC_EXPORT_OUTPUTS = {"ctc_dir": directory(CTC_DIR), "segments": CTC_SEGMENTS} if CTC_EXPORT else {}


rule export_tracks:
    """Tracks for other tools: napari tables, a geff graph, a TrackMate XML file and, with export.ctc, a CTC result folder (tracks split at frame gaps)."""
    input:
        tracked=TRACK_LABELS,
        tracks=TRACKS,
        cells=CELLS,
    output:
        **CTC_EXPORT_OUTPUTS,
        napari_csv=NAPARI_CSV,
        napari_graph=NAPARI_GRAPH,
        geff=directory(GEFF),
        trackmate=TRACKMATE_XML,
    params:
        settings=settings("export"),
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
