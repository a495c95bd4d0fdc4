rule segment_cells:
    """Instance segmentation of every frame (Cellpose or threshold + watershed); device recorded."""
    input:
        normalized=f"{RESULTS}/{{sample}}/normalized.zarr",
        image=IMAGE,
        model=segmentation_model,
    output:
        labels=CELL_LABELS,
        info=f"{RESULTS}/{{sample}}/segmentation.json",
    params:
        settings=lambda wildcards: {
            **settings("segment"),
            "cellpose": {**settings("segment")["cellpose"], "model": CELLPOSE_MODEL or ""},
        },
    log:
        f"{RESULTS}/logs/segment_cells/{{sample}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment_cells/{{sample}}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        batch_divisor=halved_per_attempt,
    conda:
        f"{ENVS}/{SEGMENT_ENV}"
    script:
        "../scripts/segment_cells.py"
