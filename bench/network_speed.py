"""The shipped CPnet's forward pass on the CPU (issue #28): eager channels-last against torch.compile and others.

``python -m bench.network_speed [--batches 1,2] [--repeats 5] [--variants NAME,...] [--threads 2] [--masks 3]
[--masks-against true|onnxruntime]``

The input is what the rule's network pass gets for GOWT1 01 frames at the shipped model's 60 px
diameter: each frame normalized as the workflow does, rescaled by 30 / 60 to 512 x 512 px, and
an empty second channel (Cellpose 3's ``channels=[0, 0]``), frames t000, t001, ... stacked into a
batch of 1 or 2 (NCHW, contiguous, as ``cellpose.core`` hands it to the network). Without
../shared the frames come from ``cellpipe.simulate`` instead (said in the output).

Every variant gets its own copy of the network (``torch.no_grad``, the rule's setting). After
one untimed warm-up call per variant and batch (for a compiled variant this call compiles; its
seconds are reported apart as "compile s"), the variants run interleaved, one call each per
round (A B C A B C ...), so a change of the machine's load hits them all alike; ``--repeats``
rounds, the order rotated each round. The table gives the median seconds per pass, the ratio
of the baseline's median ("eager channels-last", measured in the same rounds) to the
variant's, and the largest absolute difference from the baseline's output in the flows
(channels 0-1), the cell probability (channel 2, logits) and the style vector. The load average
is printed before and after. ``--masks N`` then segments N GOWT1 01 frames (every ``92 // N``-th)
through :func:`cellpipe.segment.segment_cells` with ``segment.cellpose.compile`` false and true
(``--masks-against onnxruntime``: false and onnxruntime; 60 px, the shipped config's cell probability
threshold) and gives AP@0.5 of one against the other per frame (``cellpipe.metrics.instance_scores``). Nothing is written.

Variants:

* ``eager channels-last``: the network as :func:`cellpipe.segment.load_cellpose_model` returns it
  (the baseline);
* ``eager contiguous``: weights in the default (NCHW) layout;
* ``eager proj-BN folded``: every ``BatchNorm -> 1x1 conv`` pair of CPnet (the residual
  projections, no ReLU between) folded into one 1x1 conv; exact up to float rounding. The other
  BatchNorms sit before a ReLU and cannot be folded into a conv;
* ``eager oneDNN bf16 math``: ``torch.backends.mkldnn`` conv/matmul ``fp32_precision = 'bf16'``
  (oneDNN's reduced-precision math mode; used only where the CPU has bfloat16 units, so not in the
  default list: on the AVX2 EPYC of bench/RESULTS.md its output equals the baseline's bit for bit);
* ``compile``: ``torch.compile(net, dynamic=False)``, inductor's CPU backend, channels-last;
* ``compile freezing``: the same with ``torch._inductor.config.freezing`` (weights folded as
  constants, oneDNN convolutions with prepacked weights);
* ``compile freezing contiguous``: the same on NCHW weights;
* ``compile max-autotune freezing``: ``mode='max-autotune-no-cudagraphs'`` with freezing (not
  in the default list: it benchmarks kernel choices while compiling, which takes long on 2 cores);
* ``onnxruntime``: :class:`cellpipe.segment.OnnxNetwork`, the network exported to ONNX and run by ONNX
  Runtime's CPU build (``segment.cellpose.compile: onnxruntime``); its "compile s" is the export (first call
  minus the median pass): the bench gives it an empty cache folder of its own (``CELLPIPE_CACHE_DIR``), so the
  network is exported as in a first job on a machine, not read from the user's cache.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import GOWT1, SHIPPED_MODEL, machine, normalized_movie, print_table, read_ctc_movie

BASELINE = "eager channels-last"
DEFAULT_VARIANTS = (
    BASELINE,
    "eager contiguous",
    "eager proj-BN folded",
    "compile",
    "compile freezing",
    "compile freezing contiguous",
    "onnxruntime",
)
ALL_VARIANTS = (*DEFAULT_VARIANTS, "eager oneDNN bf16 math", "compile max-autotune freezing")
SIDE_PX = 512  # a 1024 px GOWT1 frame at 60 px cells, rescaled to the model's 30 px


def network_input(n_frames: int) -> tuple[np.ndarray, str]:
    """(n_frames, 2, 512, 512) float32 network input and a line saying where the frames came from."""
    from cellpose import transforms

    if (GOWT1 / "01").is_dir():
        movie = read_ctc_movie(GOWT1 / "01")[:n_frames]
        source = f"GOWT1 01 t000-t{n_frames - 1:03d}, normalized, rescaled 0.5 to {SIDE_PX} px"
    else:
        from cellpipe.simulate import make_nuclei_movie

        movie = make_nuclei_movie(n_frames=n_frames, shape=(2 * SIDE_PX, 2 * SIDE_PX), seed=0).image
        source = f"simulated nuclei (no ../shared), {n_frames} frame(s), rescaled 0.5 to {SIDE_PX} px"
    frames = normalized_movie(movie)
    x = np.zeros((n_frames, 2, SIDE_PX, SIDE_PX), np.float32)
    for i, frame in enumerate(frames):
        x[i, 0] = transforms.resize_image(np.nan_to_num(frame.astype(np.float32)), SIDE_PX, SIDE_PX)
    return x, source


def fold_projection_batchnorms(net: Any) -> Any:
    """``net`` with each ``Sequential(BatchNorm2d, Conv2d 1x1, no padding)`` replaced by one equivalent Conv2d.

    BatchNorm in eval mode is ``x * s + t`` per input channel; a 1x1 convolution without padding
    of that is ``(W * s) x + (W t + b)``, so the pair becomes one convolution with those weights.
    """
    import torch
    from torch import nn

    for name, child in list(net.named_children()):
        if (
            isinstance(child, nn.Sequential)
            and len(child) == 2
            and isinstance(child[0], nn.BatchNorm2d)
            and isinstance(child[1], nn.Conv2d)
            and child[1].kernel_size == (1, 1)
            and child[1].padding == (0, 0)
        ):
            bn, conv = child[0], child[1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, 1)
            with torch.no_grad():
                w = conv.weight.double()
                fused.weight.copy_((w * scale.double()[None, :, None, None]).float())
                bias = conv.bias.double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64)
                fused.bias.copy_((bias + (w[:, :, 0, 0] @ shift.double())).float())
            setattr(net, name, fused.to(memory_format=torch.channels_last).eval())
        else:
            fold_projection_batchnorms(child)
    return net


class _Bf16Math:
    """oneDNN's fp32 math mode 'bf16' for conv and matmul while the block runs; the previous modes after."""

    def __enter__(self) -> None:
        import torch

        self.saved = (torch.backends.mkldnn.conv.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision)
        torch.backends.mkldnn.conv.fp32_precision = "bf16"
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.backends.mkldnn.conv.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision = self.saved


def build(name: str, net: Any) -> Callable[[Any], Any]:
    """A callable running the variant ``name`` of a copy of ``net`` (lazily compiled for compile variants)."""
    import torch
    import torch._inductor.config as inductor_config

    own = copy.deepcopy(net).eval()
    if "contiguous" in name:
        own = own.to(memory_format=torch.contiguous_format)
    if name in (BASELINE, "eager contiguous"):
        return own
    if name == "eager proj-BN folded":
        return fold_projection_batchnorms(own)
    if name == "onnxruntime":
        from cellpipe.segment import OnnxNetwork

        per_batch: dict[int, Any] = {}

        def onnx(x: Any) -> Any:
            batch = int(x.shape[0])
            if batch not in per_batch:
                per_batch[batch] = OnnxNetwork(own, batch)
            return per_batch[batch](x)

        return onnx
    if name == "eager oneDNN bf16 math":

        def bf16_math(x: Any) -> Any:
            with _Bf16Math():
                return own(x)

        return bf16_math
    mode = "max-autotune-no-cudagraphs" if "max-autotune" in name else None
    compiled = torch.compile(own, dynamic=False, mode=mode)
    freezing = "freezing" in name

    def run(x: Any) -> Any:
        # freezing is read when the graph compiles, i.e. at the first call of each input shape
        with inductor_config.patch(freezing=freezing):
            return compiled(x)

    return run


def _differences(out: Any, ref: Any) -> tuple[float, float, float]:
    """Largest |out - ref| in the flows (channels 0-1), the cell probability (channel 2) and the style."""
    y, style = out[0].float(), out[1].float()
    y0, style0 = ref[0], ref[1]
    flows = float((y[:, :2] - y0[:, :2]).abs().max())
    cellprob = float((y[:, 2] - y0[:, 2]).abs().max())
    return flows, cellprob, float((style - style0).abs().max())


def masks_table(n_frames: int, against: str = "true") -> str:
    """AP@0.5 of the rule's masks with ``segment.cellpose.compile`` ``against`` (true or onnxruntime) against false,
    on GOWT1 01 frames."""
    from cellpipe.config import SegmentSettings
    from cellpipe.metrics import instance_scores
    from cellpipe.segment import load_cellpose_model, segment_cells

    if not (GOWT1 / "01").is_dir():
        return "masks: skipped, GOWT1 01 not found beside the checkout (../shared)"
    movie = read_ctc_movie(GOWT1 / "01")
    picked = list(range(0, len(movie), max(1, len(movie) // n_frames)))[:n_frames]
    frames = normalized_movie(movie[picked])
    model = load_cellpose_model(SHIPPED_MODEL, "cpu")
    other = True if against == "true" else against
    runtimes = {False: "torch", True: "inductor", "onnxruntime": "onnxruntime"}
    labels, seconds = {}, {}
    for compiled in (False, other):
        settings = SegmentSettings.model_validate({
            "method": "cellpose", "diameter_px": 60.0,
            "cellpose": {"model": str(SHIPPED_MODEL), "device": "cpu", "compile": compiled, "cellprob_threshold": -0.5},
        })
        start = time.perf_counter()
        labels[compiled], info = segment_cells(frames, settings, 0.24, model)
        seconds[compiled] = time.perf_counter() - start
        assert info["network_runtime"] == runtimes[compiled]
    rows = []
    for i, t in enumerate(picked):
        ap = instance_scores(labels[False][i], labels[other][i])["0.5"]["ap"]
        rows.append([f"GOWT1 01 t{t:03d}", int(labels[False][i].max()), int(labels[other][i].max()), f"{ap:.4f}",
                     "yes" if np.array_equal(labels[False][i], labels[other][i]) else "no"])
    title = (f"segment_cells, compile false against {against}, {len(picked)} frames at 60 px "
             f"(wall s: false {seconds[False]:.1f}, {against} {seconds[other]:.1f} with compiling or exporting)")
    return print_table(title, ["frame", "masks false", f"masks {against}", "AP@0.5", "same labels"], rows)


def main(argv: list[str] | None = None) -> str:
    """Time the variants; return the printed tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,2", help="frames per pass, comma-separated (default 1,2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds after the warm-up (default 5)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated; known: {'; '.join(ALL_VARIANTS)}")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--masks", type=int, default=0,
                        help="also segment this many GOWT1 01 frames with compile false and true (default 0)")
    parser.add_argument("--masks-against", choices=("true", "onnxruntime"), default="true",
                        help="the compile value whose masks --masks compares with false's")
    args = parser.parse_args(argv)
    names = [BASELINE] + [n.strip() for n in args.variants.split(",") if n.strip() and n.strip() != BASELINE]
    unknown = [n for n in names if n not in ALL_VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {ALL_VARIANTS}")
    batches = [int(b) for b in args.batches.split(",")]
    export_cache = tempfile.mkdtemp(prefix="cellpipe-bench-network-cache-")  # onnxruntime exports, never reads
    atexit.register(shutil.rmtree, export_cache, True)
    os.environ["CELLPIPE_CACHE_DIR"] = export_cache

    import torch

    from cellpipe.segment import load_cellpose_model

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    cache = cache_dir()
    warm = os.path.isdir(cache) and bool(os.listdir(cache))
    out = [
        machine(),
        f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        f"inductor cache {cache}: {'present, compile s may reuse kernels' if warm else 'empty (cold compile)'}",
    ]
    print("\n".join(out), flush=True)
    net = load_cellpose_model(SHIPPED_MODEL, "cpu").net
    x_all, source = network_input(max(batches))
    out.append(f"input: {source}")
    print(out[-1], flush=True)
    variants = {name: build(name, net) for name in names}
    rows = []
    for batch in batches:
        x = torch.from_numpy(x_all[:batch].copy())
        compile_s: dict[str, float] = {}
        diffs: dict[str, tuple[float, float, float]] = {}
        with torch.no_grad():
            ref = variants[BASELINE](x)
            ref = (ref[0].clone(), ref[1].clone())
            for name, run in variants.items():
                start = time.perf_counter()
                first = run(x)
                compile_s[name] = time.perf_counter() - start
                diffs[name] = _differences(first, ref)
                print(f"batch {batch}: {name}: first call {compile_s[name]:.1f} s", flush=True)
            times: dict[str, list[float]] = {name: [] for name in variants}
            order = list(variants)
            for r in range(args.repeats):
                for name in order[r % len(order):] + order[: r % len(order)]:
                    start = time.perf_counter()
                    variants[name](x)
                    times[name].append(time.perf_counter() - start)
                print(f"batch {batch}: round {r + 1}/{args.repeats}, load {os.getloadavg()[0]:.2f}", flush=True)
        base = statistics.median(times[BASELINE])
        for name in variants:
            median = statistics.median(times[name])
            first = compile_s[name] - median if name.startswith("compile") or name == "onnxruntime" else None
            rows.append([
                batch, name, f"{min(times[name]):.3f} / {median:.3f}", f"{base / median:.2f}x",
                "-" if first is None else f"{first:.1f}", *(f"{d:.1e}" for d in diffs[name]),
            ])
    out.append(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(out[-1], flush=True)
    out.append(print_table(
        f"CPnet forward pass, {SIDE_PX}x{SIDE_PX} px, s/pass min / median of {args.repeats} interleaved rounds",
        ["batch", "variant", "s/pass", f"{BASELINE} / this", "compile s", "max |d flows|", "max |d cellprob|",
         "max |d style|"],
        rows,
    ))
    if args.masks:
        out.append(masks_table(args.masks, args.masks_against))
    return "\n".join(out)


if __name__ == "__main__":
    main()
