rule train_cellpose:
    """Train or fine-tune a Cellpose model (config train.<model>) on complete annotations; writes a model card."""
    input:
        unpack(training_inputs),
    output:
        weights=f"{RESULTS}/models/{{model}}/weights.pth",
        card=f"{RESULTS}/models/{{model}}/model_card.md",
        record=f"{RESULTS}/models/{{model}}/training.json",
        curve=f"{RESULTS}/models/{{model}}/training_curve.tsv",
    params:
        settings=lambda wildcards: training_settings(wildcards.model),
        normalize=settings("normalize"),
    log:
        f"{RESULTS}/logs/train_cellpose/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_cellpose/{{model}}.tsv"
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
        package=f"{RESULTS}/bioimageio/{{model}}.zip",
    params:
        origin=lambda wildcards: "trained" if wildcards.model in CFG.train else "shipped",
    log:
        f"{RESULTS}/logs/export_bioimageio/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/export_bioimageio/{{model}}.tsv"
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
