rule simulate_movie:
    """Simulated fluorescent-nuclei movie (OME-TIFF) with CTC ground truth, from config simulate.<name>."""
    output:
        movie=f"{RESULTS}/simulated/{{name}}/movie.ome.tif",
        truth=directory(f"{RESULTS}/simulated/{{name}}/01_GT"),
    params:
        settings=lambda wildcards: CFG.simulate[wildcards.name].model_dump(mode="json"),
    log:
        f"{RESULTS}/logs/simulate_movie/{{name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate_movie/{{name}}.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(15),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/simulate_movie.py"
