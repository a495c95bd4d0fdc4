rule ingest_movie:
    """Raw movie (TIFF, OME-TIFF, CTC folder) -> OME-Zarr (t, c, y, x), or (t, c, z, y, x) with z_projection keep, in µm and minutes."""
    input:
        movie=lambda wildcards: sample_row(wildcards).movie,
        movie_files=movie_other_files,
    output:
        image=IMAGE,
    params:
        row=lambda wildcards: sample_row(wildcards).model_dump(mode="json"),
        settings=settings("ingest"),
    log:
        log_of("ingest_movie"),
    benchmark:
        benchmark_of("ingest_movie")
    threads: 1
    resources:
        mem_mb=movie_mem_mb("ingest", 4000),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/ingest_movie.py"
