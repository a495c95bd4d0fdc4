rule train_cellpose:
    """Train or fine-tune a Cellpose model (config train.<model>) on complete annotations; writes a model card."""
    input:
        unpack(training_inputs),
    output:
        weights=model_file("{model}", "weights"),
        card=model_file("{model}", "card"),
        record=model_file("{model}", "record"),
        curve=model_file("{model}", "curve"),
    params:
        # train.<model> with the normalize section (cellpipe.config.jobs.TrainJob)
        settings=lambda wildcards: training_settings(wildcards.model),
    log:
        log_of("train_cellpose", "{model}"),
    benchmark:
        benchmark_of("train_cellpose", "{model}")
    threads: 2
    resources:
        gpu=1,
        mem_mb=per_attempt(8000),
        runtime=per_attempt(600),
    conda:
        f"{ENVS}/cellpipe-gpu.yaml"
    script:
        "../scripts/train_cellpose.py"


rule export_bioimageio:
    """Package a trained or shipped model for the BioImage Model Zoo (bioimage.io), checked by bioimage.io's model test."""
    input:
        unpack(bioimageio_inputs),
    output:
        package=results_path(layout.BIOIMAGEIO_PACKAGE),
    params:
        origin=lambda wildcards: "trained" if wildcards.model in CFG.train else "shipped",
    log:
        log_of("export_bioimageio", "{model}"),
    benchmark:
        benchmark_of("export_bioimageio", "{model}")
    # {model}: the trained models' names (common.smk) and the shipped ones
    wildcard_constraints:
        model=_one_of([*CFG.train, *SHIPPED_MODELS]),
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/export_bioimageio.py"
