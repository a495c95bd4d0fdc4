# Segmentation of every frame. segment.scatter (config) is the number of jobs per movie:
#   1: rule segment_cells segments the whole movie (one GPU job per sample);
#   N > 1: rule segment_frames segments part {part} (0..N-1, a contiguous range of frames, from the
#   movie's frame count at run time: cellpipe.steps.segment.part_frames) on a GPU, and segment_cells (defined
#   for this case below: other inputs, no GPU, script gather_segments.py) gathers the N parts into the
#   same label image and segmentation.json.
# Labels of each frame do not depend on the other frames, so the gathered image equals an unscattered run's.

SEGMENT_PARTS = list(range(CFG.segment.scatter)) if CFG.segment.scatter > 1 else []
SEGMENT_PART = results_path(layout.SEGMENT_PART)


rule segment_frames:
    """Instance segmentation of one part of the frames (segment.scatter > 1); device recorded."""
    input:
        normalized=NORMALIZED,
        image=IMAGE,
        model=segmentation_model,
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


if SEGMENT_PARTS:

    rule segment_cells:
        """The parts of segment_frames gathered into the label image and segmentation.json of an unscattered
        run (segment.scatter > 1): frame by frame, no GPU, little memory."""
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
            "../scripts/gather_segments.py"

else:

    rule segment_cells:
        """Instance segmentation of every frame (Cellpose or threshold + watershed), device recorded."""
        input:
            normalized=NORMALIZED,
            image=IMAGE,
            model=segmentation_model,
        output:
            labels=CELL_LABELS,
            info=SEGMENTATION_INFO,
        params:
            settings=segment_settings,
        log:
            log_of("segment_cells"),
        benchmark:
            benchmark_of("segment_cells")
        threads: 2
        resources:
            gpu=1,
            mem_mb=movie_mem_mb("segment", 8000),
            runtime=per_attempt(120),
            batch_divisor=halved_per_attempt,
        conda:
            f"{ENVS}/{SEGMENT_ENV}"
        script:
            "../scripts/segment_cells.py"
