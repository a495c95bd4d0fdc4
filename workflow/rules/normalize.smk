rule normalize_movie:
    """Percentile normalization (movie-wide by default); the percentile values are recorded."""
    input:
        image=IMAGE,
    output:
        normalized=directory(f"{RESULTS}/{{sample}}/normalized.zarr"),
        percentiles=f"{RESULTS}/{{sample}}/normalization.tsv",
    params:
        settings=settings("normalize"),
    log:
        f"{RESULTS}/logs/normalize_movie/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/normalize_movie/{{sample}}.tsv"
    threads: 1
    resources:
        mem_mb=movie_mem_mb("normalize", 4000),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/normalize_movie.py"
