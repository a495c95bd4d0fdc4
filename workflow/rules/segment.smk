# Segmentation of every frame, in one shape whatever segment.scatter (config, N >= 1) is:
#   rule segment_frames segments part {part} (0..N-1, a contiguous range of frames, from the movie's frame
#   count at run time: cellpipe.steps.segment.part_frames); it is the GPU job, the one that runs the network;
#   rule segment_cells gathers the N parts into the label image and segmentation.json (no GPU). With N = 1
#   (the default) the one part is written as the finished label image and segment_cells renames it into
#   place: no frame is copied (bench/scatter_one_part.py).
# Labels of each frame do not depend on the other frames, so the gathered image equals an unscattered run's.

SEGMENT_PARTS = list(range(CFG.segment.scatter))
SEGMENT_PART = results_path(layout.SEGMENT_PART)

# One part is gathered by a rename: on a cluster it runs where snakemake runs instead of waiting in a queue.
if len(SEGMENT_PARTS) == 1:

    localrules:
        segment_cells,


rule segment_frames:
    """Instance segmentation of one part of the frames (Cellpose or threshold + watershed), device recorded."""
    input:
        normalized=NORMALIZED,
        image=IMAGE,
        model=segmentation_model,
        segmentable=segmentable_movie,
    output:
        # removed once segment_cells has gathered them: segmentation.json keeps each part's run info
        labels=temp(directory(f"{SEGMENT_PART}.zarr")),
        info=temp(f"{SEGMENT_PART}.json"),
    params:
        settings=segment_settings,
        part=lambda wildcards: int(wildcards.part),
        n_parts=CFG.segment.scatter,
    wildcard_constraints:
        part=r"\d+",
    log:
        log_of("segment_frames", "{sample}.part{part}"),
    benchmark:
        benchmark_of("segment_frames", "{sample}.part{part}")
    threads: 2
    resources:
        gpu=1,
        mem_mb=movie_mem_mb("segment", 8000),
        runtime=per_attempt(120),
        batch_divisor=halved_per_attempt,
    conda:
        f"{ENVS}/{SEGMENT_ENV}"
    script:
        "../scripts/segment_frames.py"


rule segment_cells:
    """The parts of segment_frames gathered into the label image and segmentation.json of an unscattered
    run: frame by frame, no GPU, little memory; a single part is renamed into place."""
    input:
        normalized=NORMALIZED,
        image=IMAGE,
        # in frame order: part 0 first
        parts=expand(f"{SEGMENT_PART}.zarr", part=SEGMENT_PARTS, allow_missing=True),
        part_infos=expand(f"{SEGMENT_PART}.json", part=SEGMENT_PARTS, allow_missing=True),
    output:
        labels=CELL_LABELS,
        info=SEGMENTATION_INFO,
    log:
        log_of("segment_cells"),
    benchmark:
        benchmark_of("segment_cells")
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    conda:
        f"{ENVS}/cellpipe.yaml"
    script:
        "../scripts/segment_cells.py"
