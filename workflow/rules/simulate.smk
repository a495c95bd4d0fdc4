rule simulate_movie:
    """Simulated fluorescent-nuclei movie (OME-TIFF) with CTC ground truth, from config simulate.<name> (2-D) or
    simulate3d.<name> (z-stacks, PhysicalSizeZ, CTC 3-D ground truth)."""
    output:
        movie=results_path(layout.SIMULATED_MOVIE),
        truth=directory(results_path(layout.SIMULATED_TRUTH)),
    params:
        settings=lambda wildcards: settings("simulate", name=wildcards.name),
    log:
        log_of("simulate_movie", "{name}"),
    benchmark:
        benchmark_of("simulate_movie", "{name}")
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(15),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/simulate_movie.py"
