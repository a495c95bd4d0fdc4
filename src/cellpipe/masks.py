"""Cellpose mask reconstruction from the network's flows, vectorised.

The same steps as Cellpose 3.1's ``dynamics.resize_and_compute_masks`` for 2-D frames at the
frame size, rewritten so that no step loops over pixels or masks in Python:

1. **following flows**: every pixel whose cell probability exceeds the threshold moves ``niter``
   Euler steps along the flows (bilinear interpolation, positions clamped to the frame), with
   the arithmetic of Cellpose's CPU path.  On a CPU one compiled loop runs all steps of a pixel
   before the next pixel (the flows stay in cache, several threads); on a GPU the pixels of a
   whole batch of frames step together as torch tensors.
2. **seeds and masks**: the histogram of end points, its 5x5 local maxima with more than 10
   pixels as seeds, each seed grown 5 times by 3x3 dilation inside its 11x11 px window where
   the histogram exceeds 2; the pixels take the
   label of the seed region their end point falls in (later, more populated seeds win ties,
   as in Cellpose).  Masks larger than ``max_size_fraction`` of the frame are dropped.  On a
   CPU one compiled function per frame does all of it, visiting only the histogram bins that
   hold end points (a seed must hold more than 10) instead of pooling the whole padded frame;
   on a GPU all seeds of all frames of a batch grow at once as torch tensors.
3. **flow-error check**: the flows of every mask are recomputed by Cellpose's diffusion from
   the mask's centre, all masks of a frame at once as a stack of crops (a 3x3 mean inside a
   mask is a 3x3 box mean once the other masks are zero in the crop), in float64 and for the
   same ``2 * (largest mask height + width + 2)`` steps Cellpose uses; masks whose mean squared
   difference to the network's flows exceeds ``flow_threshold`` are dropped.
4. **holes and small masks**: the steps of Cellpose's ``utils.fill_holes_and_remove_small_masks``
   (``fill_voids`` on each mask's bounding box), the passes over the whole frame compiled.

Lengths are in pixels of the frame the flows are given at.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "follow_flows", "masks_from_end_points", "flow_errors", "fill_holes_and_remove_small_masks", "reconstruct_masks",
    "reconstruct_batch",
]

RPAD_PX = 20  # histogram padding around the frame (px), as in Cellpose


def _njit_steps() -> Any:
    from numba import njit, prange

    @njit(nogil=True, parallel=True, cache=True)
    def steps(dp: np.ndarray, ys: np.ndarray, xs: np.ndarray, niter: int) -> None:  # pragma: no cover - compiled
        ly, lx = dp.shape[1], dp.shape[2]
        ymax = np.float32(ly - 1)
        xmax = np.float32(lx - 1)
        zero = np.float32(0.0)
        for i in prange(ys.shape[0]):
            y = ys[i]
            x = xs[i]
            for _ in range(niter):
                yi = np.int32(y)
                xi = np.int32(x)
                # the interpolation in float64, rounded to float32, as Cellpose's map_coordinates
                fy = np.float64(y) - yi
                fx = np.float64(x) - xi
                yf = min(ly - 1, max(0, yi))
                xf = min(lx - 1, max(0, xi))
                yf1 = min(ly - 1, yf + 1)
                xf1 = min(lx - 1, xf + 1)
                dy = np.float32(
                    np.float64(dp[0, yf, xf]) * (1 - fy) * (1 - fx) + np.float64(dp[0, yf, xf1]) * (1 - fy) * fx
                    + np.float64(dp[0, yf1, xf]) * fy * (1 - fx) + np.float64(dp[0, yf1, xf1]) * fy * fx
                )
                dx = np.float32(
                    np.float64(dp[1, yf, xf]) * (1 - fy) * (1 - fx) + np.float64(dp[1, yf, xf1]) * (1 - fy) * fx
                    + np.float64(dp[1, yf1, xf]) * fy * (1 - fx) + np.float64(dp[1, yf1, xf1]) * fy * fx
                )
                ny = min(ymax, max(zero, y + dy))
                nx = min(xmax, max(zero, x + dx))
                if ny == y and nx == x:
                    break  # a fixed point: every further step gives the same position
                y = ny
                x = nx
            ys[i] = y
            xs[i] = x

    return steps


_STEPS: Any = None


def _steps_cpu(dp: np.ndarray, ys: np.ndarray, xs: np.ndarray, niter: int) -> None:
    global _STEPS
    if _STEPS is None:
        _STEPS = _njit_steps()
    _STEPS(dp, ys, xs, niter)


def _steps_torch(dp: Any, frame: Any, ys: Any, xs: Any, niter: int) -> tuple[Any, Any]:
    """Euler steps of points of several frames at once; ``dp`` (B, 2, Y, X), ``frame`` the frame of each point."""
    _, _, ly, lx = dp.shape
    flat = dp.permute(1, 0, 2, 3).reshape(2, -1).double()
    base = frame.long() * (ly * lx)
    for _ in range(niter):
        yi = ys.long()
        xi = xs.long()
        # the interpolation in float64, rounded to float32, as Cellpose's map_coordinates
        fy = ys.double() - yi
        fx = xs.double() - xi
        yf = yi.clamp(0, ly - 1)
        xf = xi.clamp(0, lx - 1)
        yf1 = (yf + 1).clamp(max=ly - 1)
        xf1 = (xf + 1).clamp(max=lx - 1)
        i00 = base + yf * lx + xf
        i01 = base + yf * lx + xf1
        i10 = base + yf1 * lx + xf
        i11 = base + yf1 * lx + xf1
        d = (
            flat[:, i00] * (1 - fy) * (1 - fx) + flat[:, i01] * (1 - fy) * fx
            + flat[:, i10] * fy * (1 - fx) + flat[:, i11] * fy * fx
        ).float()
        ys = (ys + d[0]).clamp(0, ly - 1)
        xs = (xs + d[1]).clamp(0, lx - 1)
    return ys, xs


def follow_flows(
    dp: Any, inside: Any, niter: int, device: Any = "cpu", force_torch: bool = False
) -> tuple[Any, Any, Any]:
    """End points (px, float32) after ``niter`` Euler steps of the pixels where ``inside``.

    A CPU device runs the compiled loop, any other device (or ``force_torch``) torch operations.

    Parameters
    ----------
    dp : array-like
        Flows (B, 2, Y, X) float32, already scaled as Cellpose steps them: the network's flows times
        ``inside`` / 5 (px per step).
    inside : array-like
        (B, Y, X) bool: the pixels to follow.
    niter : int
        Number of Euler steps.
    device : str or torch.device
        Where to step the pixels (``'cpu'``, ``'cuda'``, ...).
    force_torch : bool
        Use torch operations on a CPU device too (the GPU path, tested on a CPU).

    Returns
    -------
    tuple of torch.Tensor
        The frame index, y and x (px, float32) of every end point, in the row-major order of the
        pixels, on ``device``.
    """
    import torch

    device = torch.device(device)
    if device.type == "cpu" and not force_torch:
        dp_np = np.ascontiguousarray(np.asarray(dp, dtype=np.float32))
        frame, y, x = np.nonzero(np.asarray(inside))
        ys = y.astype(np.float32)
        xs = x.astype(np.float32)
        for b in np.unique(frame):
            sel = frame == b
            yb, xb = ys[sel], xs[sel]
            _steps_cpu(dp_np[b], yb, xb, int(niter))
            ys[sel], xs[sel] = yb, xb
        return torch.from_numpy(frame), torch.from_numpy(ys), torch.from_numpy(xs)
    dp_t = torch.as_tensor(dp, dtype=torch.float32, device=device)
    inside_t = torch.as_tensor(inside, device=device)
    frame, y, x = torch.nonzero(inside_t, as_tuple=True)
    ys, xs = _steps_torch(dp_t, frame, y.float(), x.float(), int(niter))
    return frame, ys, xs


def _njit_seed_labels() -> Any:
    from numba import njit

    @njit(nogil=True, cache=True)
    def seed_labels(ys, xs, ly, lx, rpad, max_size):  # pragma: no cover - compiled
        hy, hx = ly + 2 * rpad, lx + 2 * rpad
        n = ys.shape[0]
        cell = np.empty(n, np.int64)
        hist = np.zeros(hy * hx, np.int32)
        for i in range(n):
            # truncated to integers, then padded and clamped, as Cellpose bins the end points
            py = min(max(np.int64(np.int32(ys[i])) + rpad, 0), ly + rpad - 1)
            px = min(max(np.int64(np.int32(xs[i])) + rpad, 0), lx + rpad - 1)
            cell[i] = py * hx + px
            hist[cell[i]] += 1
        # seeds: bins with more than 10 end points that no bin of their 5x5 window exceeds; only
        # bins that hold end points can qualify, so the search runs over the end points, not the frame
        keys = np.empty(n, np.int64)
        n_keys = 0
        for i in range(n):
            c = cell[i]
            h = hist[c]
            if h <= 10:
                continue
            y, x = c // hx, c % hx
            peak = True
            for wy in range(max(y - 2, 0), min(y + 3, hy)):
                for wx in range(max(x - 2, 0), min(x + 3, hx)):
                    if hist[wy * hx + wx] > h:
                        peak = False
            if peak:
                # seeds in increasing count, ties in row-major order: one sortable key per bin
                keys[n_keys] = np.int64(h) * (hy * hx) + c
                n_keys += 1
        seeds = np.unique(keys[:n_keys]) % (hy * hx)
        # each seed grows 5 times by 3x3 dilation inside its 11x11 window where a bin holds more
        # than 2 end points; a later (more populated) seed overwrites an earlier one
        region = np.zeros(hy * hx, np.int32)
        window = np.zeros((11, 11), np.bool_)
        grown = np.zeros((11, 11), np.bool_)
        nxt = np.zeros((11, 11), np.bool_)
        for k in range(seeds.shape[0]):
            y0, x0 = seeds[k] // hx - 5, seeds[k] % hx - 5
            for a in range(11):
                for b in range(11):
                    window[a, b] = hist[(y0 + a) * hx + x0 + b] > 2
                    grown[a, b] = False
            grown[5, 5] = window[5, 5]
            for _ in range(5):
                for a in range(11):
                    for b in range(11):
                        hit = False
                        if window[a, b]:
                            for c in range(max(a - 1, 0), min(a + 2, 11)):
                                for d in range(max(b - 1, 0), min(b + 2, 11)):
                                    hit = hit or grown[c, d]
                        nxt[a, b] = hit
                grown[:, :] = nxt
            for a in range(11):
                for b in range(11):
                    if grown[a, b]:
                        region[(y0 + a) * hx + x0 + b] = k + 1
        labels = np.empty(n, np.int32)
        sizes = np.zeros(seeds.shape[0] + 1, np.int64)
        for i in range(n):
            labels[i] = region[cell[i]]
            sizes[labels[i]] += 1
        # masks above max_size px are dropped, the rest numbered 1..n in the order they first
        # appear (the end points are in row-major order of their pixels, as fastremap.renumber scans)
        new = np.zeros(seeds.shape[0] + 1, np.int32)
        for k in range(1, seeds.shape[0] + 1):
            if sizes[k] > max_size:
                new[k] = -1
        count = 0
        for i in range(n):
            old = labels[i]
            if old > 0 and new[old] == 0:
                count += 1
                new[old] = count
            labels[i] = max(new[old], 0)
        return labels

    return seed_labels


_SEED_LABELS: Any = None


def _masks_cpu(inside: np.ndarray, frame: np.ndarray, ys: np.ndarray, xs: np.ndarray, max_size_fraction: float) -> np.ndarray:
    """:func:`masks_from_end_points` frame by frame in one compiled function each."""
    global _SEED_LABELS
    if _SEED_LABELS is None:
        _SEED_LABELS = _njit_seed_labels()
    n_frames, ly, lx = inside.shape
    out = np.zeros(inside.shape, np.int32)
    # the end points are grouped by frame (row-major order over the batch)
    bounds = np.searchsorted(frame, np.arange(n_frames + 1))
    for b in range(n_frames):
        a, z = bounds[b], bounds[b + 1]
        if a < z:
            out[b][inside[b]] = _SEED_LABELS(ys[a:z], xs[a:z], ly, lx, RPAD_PX, ly * lx * max_size_fraction)
    return out


def masks_from_end_points(
    inside: np.ndarray,
    frame: Any,
    ys: Any,
    xs: Any,
    max_size_fraction: float = 0.4,
    force_torch: bool = False,
) -> np.ndarray:
    """Labels (B, Y, X) int32, numbered 1..n per frame, from the end points of the followed pixels.

    End points on the CPU go through one compiled function per frame (unless ``force_torch``), on
    other devices through torch operations on the batch.

    Parameters
    ----------
    inside : numpy.ndarray
        (B, Y, X) bool: the pixels that were followed.
    frame, ys, xs : torch.Tensor
        :func:`follow_flows`'s output: each end point's frame index, y and x (px).
    max_size_fraction : float
        Masks larger than this fraction of the frame's area (px²) are dropped.
    force_torch : bool
        Use torch operations for end points on the CPU too.

    Returns
    -------
    numpy.ndarray
        (B, Y, X) int32 labels, 0 for background, numbered 1..n per frame.
    """
    import torch
    import torch.nn.functional as F

    if ys.device.type == "cpu" and not force_torch:
        return _masks_cpu(np.asarray(inside), frame.numpy(), ys.numpy(), xs.numpy(), max_size_fraction)
    shape = inside.shape
    n_frames, ly, lx = shape
    device = ys.device
    hy, hx = ly + 2 * RPAD_PX, lx + 2 * RPAD_PX
    # Cellpose truncates the end points to integers before padding
    py = (ys.int() + RPAD_PX).clamp(0, ly + RPAD_PX - 1).long()
    px = (xs.int() + RPAD_PX).clamp(0, lx + RPAD_PX - 1).long()
    frame = frame.long()
    cell = (frame * hy + py) * hx + px
    hist = torch.bincount(cell, minlength=n_frames * hy * hx).view(n_frames, hy, hx).float()
    pooled = F.max_pool2d(hist.unsqueeze(1), kernel_size=5, stride=1, padding=2).squeeze(1)
    seeds = torch.nonzero((hist - pooled > -1e-6) & (hist > 10))
    if len(seeds) == 0:
        return np.zeros(shape, np.int32)
    counts = hist[seeds[:, 0], seeds[:, 1], seeds[:, 2]]
    # per frame, seeds in increasing pixel count (stable, as Cellpose's argsort of a frame's seeds)
    order = torch.argsort(counts, stable=True)
    order = order[torch.argsort(seeds[order, 0], stable=True)]
    seeds = seeds[order]
    offsets = torch.arange(-5, 6, device=device)
    wy = (seeds[:, 1, None] + offsets)[:, :, None].expand(-1, 11, 11)
    wx = (seeds[:, 2, None] + offsets)[:, None, :].expand(-1, 11, 11)
    wf = seeds[:, 0, None, None].expand(-1, 11, 11)
    window = hist[wf, wy, wx] > 2
    grown = torch.zeros(window.shape, dtype=torch.float32, device=device)
    grown[:, 5, 5] = 1
    for _ in range(5):
        grown = F.max_pool2d(grown.unsqueeze(1), kernel_size=3, stride=1, padding=1).squeeze(1) * window
    k, gy, gx = torch.nonzero(grown, as_tuple=True)
    # the seed's rank within its frame + 1 is its label; the last seed written wins, i.e. the largest rank
    first_of_frame = torch.searchsorted(seeds[:, 0].contiguous(), seeds[:, 0].contiguous(), right=False)
    rank = torch.arange(len(seeds), device=device) - first_of_frame + 1
    where = (seeds[k, 0] * hy + wy[k, gy, gx]) * hx + wx[k, gy, gx]
    region = torch.zeros(n_frames * hy * hx, dtype=torch.int64, device=device)
    region.scatter_reduce_(0, where, rank[k], reduce="amax")
    labels = region[cell].to(torch.int32)
    out = np.zeros(shape, np.int32)
    out[np.asarray(inside)] = labels.cpu().numpy()  # end points are in the row-major order of the pixels
    return _drop_big(out, max_size_fraction)


def _drop_big(labels: np.ndarray, max_size_fraction: float) -> np.ndarray:
    """Zero masks larger than ``max_size_fraction`` of the frame's area; renumber 1..n per frame.

    The new numbers follow the pixels' row-major order (``fastremap.renumber``, as Cellpose):
    filling holes later treats masks in this order, which decides which of two nested masks stays.
    """
    import fastremap

    area = labels.shape[1] * labels.shape[2]
    for b in range(labels.shape[0]):
        uniq, counts = fastremap.unique(labels[b], return_counts=True)
        big = uniq[(counts > area * max_size_fraction) & (uniq > 0)]
        frame = fastremap.mask(labels[b], big) if big.size else labels[b]
        labels[b] = fastremap.renumber(frame, in_place=True)[0]
    return labels


def _njit_diffuse() -> Any:
    from numba import njit, prange

    @njit(nogil=True, parallel=True, cache=True)
    def diffuse(cy, cx, starts, lys, lxs, sy, sx, niters, dy, dx):  # pragma: no cover - compiled
        for k in prange(starts.shape[0] - 1):
            a, b, ly, lx = starts[k], starts[k + 1], lys[k], lxs[k]
            # the whole crop row by row (contiguous, vectorisable) rather than the mask's pixels
            # one by one: a pixel outside the mask is multiplied by 0 and stays 0, one inside by 1,
            # which leaves Cellpose's float64 sum of nine neighbours bit for bit as it is
            inside = np.zeros((ly, lx))
            for j in range(a, b):
                inside[cy[j], cx[j]] = 1.0
            field = np.zeros((ly, lx))
            nxt = np.zeros((ly, lx))
            for _ in range(niters[k]):
                field[sy[k], sx[k]] += 1
                for y in range(1, ly - 1):
                    up, row, down, keep, out = field[y - 1], field[y], field[y + 1], inside[y], nxt[y]
                    for x in range(1, lx - 1):
                        out[x] = keep[x] * (1 / 9.0 * (
                            row[x] + up[x] + down[x] + row[x - 1] + row[x + 1]
                            + up[x - 1] + up[x + 1] + down[x - 1] + down[x + 1]
                        ))
                field, nxt = nxt, field
            for j in range(a, b):
                y, x = cy[j], cx[j]
                dy[j] = field[y + 1, x] - field[y - 1, x]
                dx[j] = field[y, x + 1] - field[y, x - 1]

    return diffuse


_DIFFUSE: Any = None


def _njit_group() -> Any:
    from numba import njit

    @njit(nogil=True, cache=True)
    def group(labels, n):  # pragma: no cover - compiled
        ly, lx = labels.shape
        count = np.zeros(n, np.int64)
        y0 = np.full(n, ly, np.int64)
        x0 = np.full(n, lx, np.int64)
        y1 = np.zeros(n, np.int64)
        x1 = np.zeros(n, np.int64)
        for y in range(ly):
            for x in range(lx):
                k = labels[y, x] - 1
                if k >= 0:
                    count[k] += 1
                    y0[k] = min(y0[k], y)
                    x0[k] = min(x0[k], x)
                    y1[k] = max(y1[k], y)
                    x1[k] = max(x1[k], x)
        starts = np.zeros(n + 1, np.int64)
        for k in range(n):
            starts[k + 1] = starts[k] + count[k]
        total = starts[n]
        ys = np.empty(total, np.int64)
        xs = np.empty(total, np.int64)
        lab = np.empty(total, np.int64)
        fill = starts[:-1].copy()
        for y in range(ly):  # row-major within each mask
            for x in range(lx):
                k = labels[y, x] - 1
                if k >= 0:
                    ys[fill[k]] = y
                    xs[fill[k]] = x
                    lab[fill[k]] = k
                    fill[k] += 1
        # the centre: the pixel nearest the mean position, the first in row-major order on ties
        centre = np.empty(n, np.int64)
        for k in range(n):
            ymean = (ys[starts[k]:starts[k + 1]] - y0[k] + 1).sum() / count[k]
            xmean = (xs[starts[k]:starts[k + 1]] - x0[k] + 1).sum() / count[k]
            best = np.inf
            for j in range(starts[k], starts[k + 1]):
                d = (xs[j] - x0[k] + 1 - xmean) ** 2 + (ys[j] - y0[k] + 1 - ymean) ** 2
                if d < best:
                    best = d
                    centre[k] = j
        return ys, xs, lab, starts, y0, x0, y1, x1, centre

    return group


_GROUP: Any = None


def _mask_pixels(labels: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """The pixels of masks 1..n grouped by mask (row-major within a mask), in crop coordinates.

    Each mask's crop is its bounding box with a 1 px empty border (px). Also its centre, the
    mask pixel nearest to its mean position (the first in row-major order on ties), and
    Cellpose's number of diffusion steps for it, twice the crop's height + width. Every mask
    1..n must have pixels.
    """
    global _GROUP
    if _GROUP is None:
        _GROUP = _njit_group()
    ys, xs, lab, starts, y0, x0, y1, x1, centre = _GROUP(np.ascontiguousarray(labels), n)
    lys = y1 - y0 + 3
    lxs = x1 - x0 + 3
    cy = ys - y0[lab] + 1
    cx = xs - x0[lab] + 1
    return {
        "ys": ys, "xs": xs, "lab": lab, "cy": cy, "cx": cx, "starts": starts, "lys": lys, "lxs": lxs,
        "sy": cy[centre], "sx": cx[centre], "niters": 2 * (lys + lxs),
    }


def _diffuse_torch(p: dict[str, np.ndarray], device: Any) -> tuple[np.ndarray, np.ndarray]:
    """The diffusion of all masks at once as a stack of crops, each stopping after its own steps."""
    import torch
    import torch.nn.functional as F

    n = len(p["lys"])
    hc, wc = int(p["lys"].max()), int(p["lxs"].max())
    dtype = torch.float32 if device.type == "mps" else torch.float64
    lab, cy, cx = (torch.from_numpy(p[k]).to(device) for k in ("lab", "cy", "cx"))
    inside = torch.zeros((n, hc, wc), dtype=dtype, device=device)
    inside[lab, cy, cx] = 1
    field = torch.zeros_like(inside)
    k = torch.arange(n, device=device)
    sy, sx = torch.from_numpy(p["sy"]).to(device), torch.from_numpy(p["sx"]).to(device)
    niters = torch.from_numpy(p["niters"]).to(device)
    for t in range(int(p["niters"].max())):
        running = (niters > t).to(dtype)[:, None, None]
        field[k, sy, sx] += running[:, 0, 0]
        # the mean of the 9 neighbours, pixels outside the mask counting as 0, summed in the order
        # of Cellpose's CPU loop: on a symmetry axis of a mask the gradient must come out exactly 0
        # (another order leaves a rounding residue there that normalizing turns into a unit vector)
        pad = F.pad(field, (1, 1, 1, 1))
        total = pad[:, 1:-1, 1:-1].clone()
        for oy, ox in ((0, 1), (2, 1), (1, 0), (1, 2), (0, 0), (0, 2), (2, 0), (2, 2)):
            total += pad[:, oy : oy + hc, ox : ox + wc]
        field = running * (1 / 9.0 * total) * inside + (1 - running) * field
    dy = field[lab, cy + 1, cx] - field[lab, cy - 1, cx]
    dx = field[lab, cy, cx + 1] - field[lab, cy, cx - 1]
    return dy.cpu().numpy().astype(np.float64), dx.cpu().numpy().astype(np.float64)


def flow_errors(labels: np.ndarray, dp_net: np.ndarray, device: Any = "cpu", force_torch: bool = False) -> np.ndarray:
    """Cellpose's flow error of each mask 1..n of ``labels`` (Y, X) (no unit).

    The error of a mask is the mean over its pixels of the squared difference between the mask's own diffusion
    flows (unit vectors) and the network's flows ``dp_net`` (2, Y, X), divided by 5.

    The masks' flows are those of Cellpose 3.1's CPU path (``dynamics.masks_to_flows_cpu``):
    each mask diffuses alone in its crop for twice the crop's height + width (px) steps. On a
    CPU all masks run in parallel in one compiled loop, each over the rows of its crop, on other devices (or
    with ``force_torch``) as a stack of crops in torch.

    Parameters
    ----------
    labels : numpy.ndarray
        (Y, X) label image, masks numbered 1..n without gaps, 0 for background.
    dp_net : numpy.ndarray
        The network's flows (2, Y, X) at the frame size, unscaled.
    device : str or torch.device
        Where the masks' flows are computed when torch computes them.
    force_torch : bool
        Use the torch crops on a CPU device too.

    Returns
    -------
    numpy.ndarray
        float64, length n: the flow error of mask ``i + 1`` at index ``i`` (no unit); empty when
        ``labels`` holds no mask.
    """
    import torch

    global _DIFFUSE
    device = torch.device(device)
    n = int(labels.max())
    if n == 0:
        return np.zeros(0)
    p = _mask_pixels(labels, n)
    if device.type == "cpu" and not force_torch:
        if _DIFFUSE is None:
            _DIFFUSE = _njit_diffuse()
        dy = np.zeros(len(p["ys"]))
        dx = np.zeros(len(p["ys"]))
        _DIFFUSE(p["cy"], p["cx"], p["starts"], p["lys"], p["lxs"], p["sy"], p["sx"], p["niters"], dy, dx)
    else:
        dy, dx = _diffuse_torch(p, device)
    norm = 1e-60 + np.sqrt(dy**2 + dx**2)
    net = np.asarray(dp_net)[:, p["ys"], p["xs"]] / np.float32(5.0)
    squared = (dy / norm - net[0]) ** 2 + (dx / norm - net[1]) ** 2
    return np.bincount(p["lab"], squared, minlength=n) / np.bincount(p["lab"], minlength=n)


def _njit_holes() -> Any:
    from numba import njit

    @njit(nogil=True, cache=True)
    def remove_small(flat, min_size):  # pragma: no cover - compiled
        top = np.int64(flat.max()) if flat.shape[0] else 0
        counts = np.zeros(top + 1, np.int64)
        for i in range(flat.shape[0]):
            counts[flat[i]] += 1
        # Cellpose drops the first of the sorted values present (0, unless every pixel is in a
        # mask) and then reads the k-th remaining count as that of label k + 1, whether or not
        # the labels have gaps; the same labels go here, so the masks stay Cellpose's
        drop = np.zeros(top + 1, np.bool_)
        k = -1
        for v in range(top + 1):
            if counts[v] > 0:
                if k >= 0 and counts[v] < min_size and k + 1 <= top:
                    drop[k + 1] = True
                k += 1
        # masked labels become 0, the others 1..n in the order they first appear (fastremap.renumber)
        new = np.zeros(top + 1, flat.dtype)
        n = 0
        for i in range(flat.shape[0]):
            v = flat[i]
            if v != 0:
                if drop[v]:
                    flat[i] = 0
                    continue
                if new[v] == 0:
                    n += 1
                    new[v] = n
                flat[i] = new[v]

    @njit(nogil=True, cache=True)
    def boxes(masks):  # pragma: no cover - compiled
        ly, lx = masks.shape
        top = 0
        for y in range(ly):
            for x in range(lx):
                top = max(top, np.int64(masks[y, x]))
        box = np.empty((top, 4), np.int64)
        box[:, 0] = ly
        box[:, 1] = lx
        box[:, 2] = -1
        box[:, 3] = -1
        for y in range(ly):
            for x in range(lx):
                k = np.int64(masks[y, x]) - 1
                if k >= 0:
                    box[k, 0] = min(box[k, 0], y)
                    box[k, 1] = min(box[k, 1], x)
                    box[k, 2] = max(box[k, 2], y)
                    box[k, 3] = max(box[k, 3], x)
        return box

    return remove_small, boxes


_HOLES: Any = None


def fill_holes_and_remove_small_masks(masks: np.ndarray, min_size: int = 15) -> np.ndarray:
    """Cellpose 3.1's ``utils.fill_holes_and_remove_small_masks`` for one 2-D label image, in place.

    The same steps and the same result: masks under ``min_size`` px (area) dropped and the rest
    renumbered, each mask's holes filled (``fill_voids`` on its bounding box, masks in label
    order, so a mask inside another's hole is overwritten), then the small ones dropped again.
    The counting, masking, renumbering and bounding boxes are compiled passes over the frame
    instead of ``fastremap`` and ``find_objects`` calls, several times faster on a large frame.

    Parameters
    ----------
    masks : numpy.ndarray
        (Y, X) integer label image, 0 for background; changed in place.
    min_size : int
        Smallest mask kept (px, area); 0 or less keeps every mask.

    Returns
    -------
    numpy.ndarray
        ``masks`` itself, holes filled, small masks removed, numbered 1..n.
    """
    import fill_voids

    global _HOLES
    if _HOLES is None:
        _HOLES = _njit_holes()
    remove_small, boxes = _HOLES
    flat = masks.reshape(-1)  # a view: the passes write into ``masks``
    if min_size > 0:
        remove_small(flat, min_size)
    j = 0
    for i, (y0, x0, y1, x1) in enumerate(boxes(masks)):
        if y1 < 0:
            continue  # no pixel of label i + 1 (find_objects' None)
        crop = masks[y0 : y1 + 1, x0 : x1 + 1]
        crop[fill_voids.fill(crop == i + 1)] = j + 1
        j += 1
    if min_size > 0:
        remove_small(flat, min_size)
    return masks


def reconstruct_batch(
    dp: np.ndarray,
    cellprob: np.ndarray,
    niter: int,
    cellprob_threshold: float = 0.0,
    flow_threshold: float = 0.4,
    min_size: int = 15,
    max_size_fraction: float = 0.4,
    device: Any = "cpu",
) -> list[np.ndarray]:
    """Masks of a batch of frames from the network's flows, as Cellpose 3.1 computes them frame by frame.

    The same masks as Cellpose 3.1's ``dynamics.resize_and_compute_masks`` (interpolated dynamics).
    The flows are followed on ``device`` (torch); the rest runs there too where it is torch code.

    Parameters
    ----------
    dp : numpy.ndarray
        The network's flows (B, 2, Y, X) at the frame size.
    cellprob : numpy.ndarray
        Cell probability logits (B, Y, X) at the frame size (no unit).
    niter : int
        Number of Euler steps each pixel follows the flows.
    cellprob_threshold : float
        Pixels whose logit exceeds it are followed (logit, no unit).
    flow_threshold : float
        Masks whose flow error (:func:`flow_errors`, no unit) exceeds it are dropped; None or 0 keeps
        every mask.
    min_size : int
        Smallest mask kept (px, area).
    max_size_fraction : float
        Masks larger than this fraction of the frame's area are dropped.
    device : str or torch.device
        Where the flows are followed.

    Returns
    -------
    list of numpy.ndarray
        B uint32 label images (Y, X), masks numbered 1..n, 0 for background.
    """
    dp = np.asarray(dp, dtype=np.float32)
    cellprob = np.asarray(cellprob, dtype=np.float32)
    inside = cellprob > cellprob_threshold
    scaled = dp * inside[:, np.newaxis] / np.float32(5.0)
    labels = np.zeros(inside.shape, np.int32)
    if inside.any():
        frame, ys, xs = follow_flows(scaled, inside, niter, device)
        labels = masks_from_end_points(inside, frame, ys, xs, max_size_fraction)
    out = []
    for b in range(labels.shape[0]):
        mask = labels[b]
        if mask.max() > 0 and flow_threshold is not None and flow_threshold > 0:
            errors = flow_errors(mask, dp[b], device)
            bad = np.nonzero(errors > flow_threshold)[0] + 1
            if bad.size:
                mask = np.where(np.isin(mask, bad), 0, mask)
        mask = mask.astype(np.uint16 if mask.max() < 2**16 else np.uint32)
        mask = fill_holes_and_remove_small_masks(mask, min_size=min_size)
        out.append(mask.astype(np.uint32))
    return out


def reconstruct_masks(dp: np.ndarray, cellprob: np.ndarray, niter: int, **options: Any) -> np.ndarray:
    """One frame's masks: :func:`reconstruct_batch` on ``dp`` (2, Y, X) and ``cellprob`` (Y, X).

    Parameters
    ----------
    dp : numpy.ndarray
        The network's flows (2, Y, X) at the frame size.
    cellprob : numpy.ndarray
        Cell probability logits (Y, X) (no unit).
    niter : int
        Number of Euler steps.
    **options
        The thresholds and device of :func:`reconstruct_batch` (``cellprob_threshold``,
        ``flow_threshold``, ``min_size`` in px, ``max_size_fraction``, ``device``).

    Returns
    -------
    numpy.ndarray
        (Y, X) uint32 labels numbered 1..n, 0 for background.
    """
    return reconstruct_batch(dp[np.newaxis], cellprob[np.newaxis], niter, **options)[0]
