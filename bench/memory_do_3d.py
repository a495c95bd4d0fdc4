"""Peak memory of Cellpose 'do_3d' in rule segment_frames, in one pass and block by block, against the request.

    PYTHONPATH=src .venv/bin/python -m bench.memory_do_3d [--cases 16x128x128,16x128x128@32] [--overlap-um 8]
        [--z-step-um 2]

Each case is one stack of ``Z x Y x X`` voxels of 2 x 0.5 x 0.5 µm (anisotropy 4; ``--z-step-um`` sets the 2) holding a grid of ellipsoidal
nuclei of 15 µm (30 px: the shipped model's diameter, so Cellpose resizes the planes only along z), written as
rule segment_frames gets it (an OME-Zarr image and its normalized movie) and segmented by the rule's step
function (:func:`cellpipe.steps.segment.segment_frames_step`, the shipped 2-D model, ``mode_3d: do_3d``) in a
fresh Python process.  ``@C`` runs it block by block with cores of ``C`` µm (``block_size_um``) and
``--overlap-um`` µm of overlap.  The table gives the process's peak resident set size (``ru_maxrss``, MiB), the
RSS before the step (imports, the stack on disk), the step's seconds, the objects found and what
:func:`cellpipe.resources.segment_stack_mem_mb` requests for that stack (MB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, machine, print_table

VOXEL_UM = (2.0, 0.5, 0.5)
DIAMETER_UM = 15.0
MODEL = REPO / "resources" / "models" / "cellpipe_nuclei" / "weights.pth"


def _stack(shape: tuple[int, int, int], voxel_um: tuple[float, float, float] = VOXEL_UM):
    """A (z, y, x) uint16 stack of ellipsoids (semi-axes 6.5 x 7.5 x 7.5 µm) on a grid 20 µm apart, with noise;
    ``voxel_um`` the voxel size (µm, z, y, x)."""
    import numpy as np
    from scipy import ndimage as ndi

    z, y, x = (
        (np.arange(n) + 0.5).reshape([-1 if i == axis else 1 for i in range(3)]) * d
        for axis, (n, d) in enumerate(zip(shape, voxel_um))
    )
    inside = np.zeros(shape, dtype=bool)
    cz = shape[0] * voxel_um[0] / 2
    for cy in np.arange(10.0, shape[1] * voxel_um[1] - 7.0, 20.0):
        for cx in np.arange(10.0, shape[2] * voxel_um[2] - 7.0, 20.0):
            inside |= ((z - cz) / 6.5) ** 2 + ((y - cy) / 7.5) ** 2 + ((x - cx) / 7.5) ** 2 <= 1.0
    image = ndi.gaussian_filter(inside.astype(np.float32), [0.5 / d for d in voxel_um])
    image += np.random.default_rng(0).normal(0.0, 0.02, shape).astype(np.float32)
    return np.clip(100 + 1000 * image, 0, None).astype(np.uint16)


def one_case(shape: tuple[int, int, int], core_um: float | None, overlap_um: float, work: str,
             z_step_um: float = VOXEL_UM[0]) -> dict:
    """Run in the measured process: write the stack (``z_step_um`` µm between planes), run the step, return its
    figures."""
    import resource
    import time

    import numpy as np

    from cellpipe.config import NormalizeSettings
    from cellpipe.io import omezarr
    from cellpipe.layout import DEFAULT_OME_ZARR_VERSION, OME_ZARR_METADATA
    from cellpipe.normalize import normalize_movie
    from cellpipe.steps.segment import segment_frames_step

    root = Path(work)
    voxel_um = (z_step_um, VOXEL_UM[1], VOXEL_UM[2])
    raw = _stack(shape, voxel_um)[np.newaxis, np.newaxis]
    image = root / "image.ome.zarr" / OME_ZARR_METADATA[DEFAULT_OME_ZARR_VERSION]  # as the rules name it
    omezarr.write_ome_image(image, raw, "tczyx", VOXEL_UM[1], 5.0, pixel_size_z_um=z_step_um)
    values, _ = normalize_movie(raw, NormalizeSettings())
    normalized = root / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, raw.shape, "float32", {}) as out:
        out[:] = np.asarray(values, dtype=np.float32)
    del raw, values
    cellpose = {"model": str(MODEL), "mode_3d": "do_3d"}
    if core_um is not None:
        cellpose.update(block_size_um=core_um, block_overlap_um=overlap_um)
    settings = {"method": "cellpose", "diameter_um": DIAMETER_UM, "cellpose": cellpose}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    segment_frames_step(normalized, image, settings, 0, 1, root / "labels.zarr", root / "info.json")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info = json.loads((root / "info.json").read_text())
    objects = [row["objects"] for row in info["object_filters"]["per_frame"]]
    return {"peak_mb": peak, "before_mb": before, "seconds": seconds, "objects": objects[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="8x96x96,16x128x128,16x128x128@32")
    parser.add_argument("--overlap-um", type=float, default=8.0)
    parser.add_argument("--z-step-um", type=float, default=VOXEL_UM[0], help="µm between planes (default 2)")
    args = parser.parse_args()
    from cellpipe.preflight import MovieSize
    from cellpipe.resources import segment_stack_mem_mb

    print(machine())
    rows = []
    for case in args.cases.split(","):
        dims, _, core = case.partition("@")
        shape = tuple(int(n) for n in dims.split("x"))
        core_um = float(core) if core else None
        with tempfile.TemporaryDirectory() as work:
            code = (f"import json; from bench.memory_do_3d import one_case; "
                    f"print(json.dumps(one_case({shape!r}, {core_um!r}, {args.overlap_um!r}, {work!r}, "
                    f"{args.z_step_um!r})))")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        size = MovieSize((1, 1, shape[1], shape[2]), "uint16", VOXEL_UM[1], z_planes=shape[0])
        request = segment_stack_mem_mb(size, "cellpose", DIAMETER_UM / VOXEL_UM[1], mode_3d="do_3d",
                                       z_step_um=args.z_step_um, block_size_um=core_um,
                                       block_overlap_um=args.overlap_um if core_um else None)
        rows.append([dims, f"{core_um:g} µm" if core_um else "one pass", round(got["peak_mb"], 1),
                     round(got["before_mb"], 1), round(got["seconds"], 1), got["objects"], request])
        print(rows[-1], flush=True)
    print_table("Cellpose do_3d, rule segment_frames' step, one stack",
                ["stack (z x y x)", "blocks", "peak RSS MiB", "RSS before MiB", "s", "objects", "request MB"], rows)


if __name__ == "__main__":
    main()
