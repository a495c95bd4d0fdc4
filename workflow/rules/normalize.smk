rule normalize_movie:
    """Percentile normalization (movie-wide by default); the percentile values are recorded."""
    input:
        image=IMAGE,
    output:
        normalized=NORMALIZED,
        percentiles=NORMALIZATION,
    params:
        settings=settings("normalize"),
    log:
        log_of("normalize_movie"),
    benchmark:
        benchmark_of("normalize_movie")
    threads: 1
    resources:
        mem_mb=movie_mem_mb("normalize", 4000),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/normalize_movie.py"
