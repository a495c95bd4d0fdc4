rule track_cells:
    """btrack with divisions: tracks, lineage, masks relabelled with track ids, and the run's record."""
    input:
        labels=f"{RESULTS}/{{sample}}/segmentation.ome.zarr",
        image=f"{RESULTS}/{{sample}}/image.ome.zarr",
        tracker_config=TRACKER_CONFIG,
    output:
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        lineage=f"{RESULTS}/{{sample}}/lineage.parquet",
        tracked=directory(f"{RESULTS}/{{sample}}/tracks.ome.zarr"),
        info=f"{RESULTS}/{{sample}}/tracking.json",
    params:
        settings=settings("track"),
    log:
        f"{RESULTS}/logs/track_cells/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/track_cells/{{sample}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/track_cells.py"
