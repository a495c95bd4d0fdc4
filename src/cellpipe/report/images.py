"""Figures drawn over the movie: segmentation outlines, the montage of frames and track trajectories."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from cellpipe.report.figures import _FIG_DPI, _RC, _family_colours, _label_colours, _line, _numbers, _Plot, _png

#: Frames larger than this (px, either axis) get a second, zoomed-in overlay panel.
_DETAIL_ABOVE_PX = 768

#: Side of the zoomed-in panel (px).
_DETAIL_SIZE_PX = 384


def _outline_rgba(labels: np.ndarray, thickness: int) -> np.ndarray:
    """(Y, X, 4) RGBA layer, transparent except for coloured object outlines ``thickness`` px wide."""
    boundaries = find_boundaries(labels, mode="inner") & (labels > 0)
    if thickness > 1:
        boundaries = ndi.binary_dilation(boundaries, iterations=thickness - 1) & (labels > 0)
    rgba = np.zeros((*labels.shape, 4), dtype=float)
    if boundaries.any():
        rgba[boundaries, :3] = _label_colours(labels[boundaries])
        rgba[boundaries, 3] = 1.0
    return rgba


def _overlay_panel(
    ax: Any,
    image: np.ndarray,
    labels: np.ndarray,
    origin: tuple[int, int],
    scale: float,
    unit: str,
    limits: tuple[float, float],
    thickness: int,
) -> dict[str, Any]:
    """Grey ``image`` with outlines, placed at ``origin`` (y, x px) in ``unit`` (``scale`` units per px).

    Returns the panel's series: ``extent`` (left, right, bottom, top in ``unit``), the grey
    ``display_limits`` (image units) and the ``labels`` outlined (ids, sorted).
    """
    ny, nx = image.shape
    y0, x0 = origin
    extent = (x0 * scale, (x0 + nx) * scale, (y0 + ny) * scale, y0 * scale)
    ax.imshow(image, cmap="gray", vmin=limits[0], vmax=limits[1], extent=extent, interpolation="antialiased")
    ax.imshow(_outline_rgba(labels, thickness), extent=extent, interpolation="nearest")
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    drawn = np.unique(labels[labels > 0])
    return {"kind": "image", "extent": _numbers(extent), "extent_units": unit, "display_limits": _numbers(limits),
            "labels": [int(v) for v in drawn], "n_objects": int(drawn.size)}


def _stretch(image: np.ndarray) -> tuple[float, float]:
    """Display limits of ``image``: its 1 and 99.8 % percentiles of finite values (0, 1 when none)."""
    finite = image[np.isfinite(image)]
    if finite.size:
        vmin, vmax = (float(v) for v in np.percentile(finite, [1.0, 99.8]))
    else:
        vmin, vmax = 0.0, 1.0
    if not vmax > vmin:
        vmax = vmin + 1.0
    return vmin, vmax


def _nice_length(span: float) -> float:
    """A round length (1, 2 or 5 × 10^k) of about a fifth of ``span`` (same unit)."""
    target = span / 5.0
    if not (math.isfinite(target) and target > 0):
        return 1.0
    base = 10.0 ** math.floor(math.log10(target))
    return max(m * base for m in (1.0, 2.0, 5.0) if m * base <= target)


def _scale_bar(ax: Any, width_um: float) -> None:
    """A white scale bar (µm) in the lower right of ``ax``, whose data unit is µm; ``width_um``: image width."""
    length = _nice_length(width_um)
    bar = AnchoredSizeBar(
        ax.transData, length, f"{length:g} µm", loc="lower right", color="white", frameon=False,
        size_vertical=width_um / 150.0, pad=0.4, sep=3, fontproperties=FontProperties(size=8, weight="bold"),
    )
    ax.add_artist(bar)


def _overlay_figure(
    image: np.ndarray, labels: np.ndarray, frame: int, time_min: float | None, pixel_size_um: float | None
) -> _Plot:
    """One frame (grey) with object outlines; a second, zoomed panel for a frame larger than :data:`_DETAIL_ABOVE_PX`.

    ``time_min`` in minutes, ``pixel_size_um`` in µm per px (None: axes in px).
    """
    vmin, vmax = _stretch(image)
    ny, nx = image.shape
    scale, unit = (pixel_size_um, "µm") if pixel_size_um is not None else (1.0, "px")
    # Keep outlines visible when a large frame is shrunk to the figure width.
    thickness = max(1, round(max(ny, nx) / 450))
    detail = max(ny, nx) > _DETAIL_ABOVE_PX
    when = f", t = {time_min:.4g} min" if time_min is not None else ""
    n_objects = int(np.unique(labels[labels > 0]).size)
    title = f"Frame {frame}{when}: {n_objects} segmented object(s)"

    with matplotlib.rc_context({**_RC, "axes.grid": False}):
        if not detail:
            width = 6.4
            fig = Figure(figsize=(width, min(6.4, max(2.5, width * (ny / nx) * 0.92))))
            ax = fig.add_subplot()
            panels = [{"name": f"frame {frame}", "frame": int(frame),
                       **_overlay_panel(ax, image, labels, (0, 0), scale, unit, (vmin, vmax), thickness)}]
            ax.set_title(title)
        else:
            fig = Figure(figsize=(11.0, 5.6))
            full, zoom = fig.subplots(1, 2)
            panels = [{"name": f"frame {frame}", "frame": int(frame),
                       **_overlay_panel(full, image, labels, (0, 0), scale, unit, (vmin, vmax), thickness)}]
            full.set_title(title)
            side = _DETAIL_SIZE_PX
            y0, x0 = max(0, (ny - side) // 2), max(0, (nx - side) // 2)
            window = (slice(y0, y0 + side), slice(x0, x0 + side))
            panels.append({"name": f"frame {frame}, central detail", "frame": int(frame),
                           **_overlay_panel(zoom, image[window], labels[window], (y0, x0), scale, unit, (vmin, vmax), 1)})
            h, w = image[window].shape
            zoom.set_title(f"Detail: central {w} × {h} px")
            full.add_patch(
                matplotlib.patches.Rectangle(
                    (x0 * scale, y0 * scale), w * scale, h * scale, fill=False, edgecolor="#ffd500", linewidth=1.5
                )
            )
        fig.tight_layout()
        return _png(fig, "overlay", panels)


def _track_polylines(tracks: pd.DataFrame, scale: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Per track (sorted ids): (x, y) points in display units at pixel centres, and the track ids.

    ``tracks`` comes from :func:`valid_tracks` and has ``x_px, y_px``.
    Non-finite positions are dropped.
    """
    xy = np.column_stack(
        [(tracks["x_px"].to_numpy(float) + 0.5) * scale, (tracks["y_px"].to_numpy(float) + 0.5) * scale]
    )
    ids = tracks["track_id"].to_numpy(np.int64)
    finite = np.isfinite(xy).all(axis=1)
    xy, ids = xy[finite], ids[finite]
    if ids.size == 0:
        return [], np.zeros(0, dtype=np.int64)
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return np.split(xy, cuts), ids[np.r_[0, cuts]]


def _tracks_overlay_figure(
    image: np.ndarray | None, tracks: pd.DataFrame, info: pd.DataFrame, frame: int, pixel_size_um: float | None
) -> _Plot:
    """Trajectories over the overlay frame, one colour per family, a dot at each track's position in ``frame``.

    Positions are pixel centres, ``(x_px + 0.5, y_px + 0.5)``, in µm (× ``pixel_size_um``, µm per px) or,
    when the pixel size is unknown, in px.
    """
    scale, unit = (pixel_size_um, "µm") if pixel_size_um is not None else (1.0, "px")
    lines, line_ids = _track_polylines(tracks, scale)
    if image is not None:
        ny, nx = image.shape
    else:
        ys, xs = tracks["y_px"].to_numpy(float), tracks["x_px"].to_numpy(float)
        ny = max(1, int(np.max(ys[np.isfinite(ys)])) + 1) if np.isfinite(ys).any() else 1
        nx = max(1, int(np.max(xs[np.isfinite(xs)])) + 1) if np.isfinite(xs).any() else 1
    colour_of = dict(
        zip(
            info.index.to_numpy(),
            _family_colours(info["root"].to_numpy(), info["generation"].to_numpy()),
            strict=True,
        )
    )
    width = 7.6
    with matplotlib.rc_context({**_RC, "axes.grid": False}):
        fig = Figure(figsize=(width, min(7.6, max(3.0, width * (ny / max(nx, 1)) * 0.9))))
        ax = fig.add_subplot()
        extent = (0.0, nx * scale, ny * scale, 0.0)
        if image is not None:
            vmin, vmax = _stretch(image)
            ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, extent=extent, interpolation="antialiased")
        else:
            ax.set_facecolor("#1a202c")
        keep = [i for i, line in enumerate(lines) if len(line) >= 2]
        if keep:
            ax.add_collection(
                LineCollection(
                    [lines[i] for i in keep], colors=[colour_of[int(line_ids[i])] for i in keep],
                    linewidths=1.1, alpha=0.9, zorder=3,
                )
            )
        now = tracks[tracks["frame"] == frame]
        now = now[np.isfinite(now["x_px"].to_numpy(float)) & np.isfinite(now["y_px"].to_numpy(float))]
        dots_x = (now["x_px"].to_numpy(float) + 0.5) * scale
        dots_y = (now["y_px"].to_numpy(float) + 0.5) * scale
        # The dots first: a movie with very many tracks may have later trajectories left out of the numbers.
        series = [_line(f"tracks in frame {frame}", dots_x, dots_y, unit, unit, track_id=[int(t) for t in now["track_id"]])]
        series += [
            _line(f"track {int(line_ids[i])}", lines[i][:, 0], lines[i][:, 1], unit, unit, track_id=int(line_ids[i]))
            for i in keep
        ]
        if len(now):
            ax.scatter(
                dots_x, dots_y,
                s=16, c=[colour_of[int(t)] for t in now["track_id"]], edgecolors="white", linewidths=0.6, zorder=4,
            )
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel(f"x ({unit})")
        ax.set_ylabel(f"y ({unit})")
        if pixel_size_um is not None:
            _scale_bar(ax, nx * scale)
        ax.set_title(f"Tracks over frame {frame}: {len(keep)} trajectories, {len(now)} tracks in this frame")
        fig.tight_layout()
        return _png(fig, "trajectories", series)


def _downsample(image: np.ndarray, step: int) -> np.ndarray:
    """``image`` (Y, X) averaged over ``step`` × ``step`` blocks (edges that do not fill a block are cut).

    ``step`` must not exceed the image's smaller side.
    """
    if step <= 1:
        return image
    ny, nx = (image.shape[0] // step) * step, (image.shape[1] // step) * step
    blocks = image[:ny, :nx].reshape(ny // step, step, nx // step, step)
    return np.asarray(blocks.mean(axis=(1, 3)))


def _montage_figure(
    panels: Sequence[tuple[int, np.ndarray, np.ndarray]], frame_interval_min: float | None, pixel_size_um: float | None
) -> _Plot:
    """Grid of segmentation overlays (at most 4 per row), each titled with frame, time and object count."""
    n = len(panels)
    nrows = math.ceil(n / 4)
    ncols = math.ceil(n / nrows)
    ny, nx = panels[0][1].shape
    width = 10.0
    panel_in = width / ncols
    height = min(12.0, nrows * (panel_in * ny / nx + 0.35) + 0.2)
    pixel = pixel_size_um if pixel_size_um is not None else 1.0
    unit = "µm" if pixel_size_um is not None else "px"
    with matplotlib.rc_context({**_RC, "axes.grid": False, "axes.titlesize": 9}):
        fig = Figure(figsize=(width, height))
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        series: list[dict[str, Any]] = []
        for ax, (frame, image, labels) in zip(axes, panels, strict=False):
            n_objects = int(np.unique(labels[labels > 0]).size)
            # Shrink large frames to about the panel's size first: faster, and outlines stay 1 px wide.
            step = max(1, int(max(image.shape) // (panel_in * _FIG_DPI)))
            if min(image.shape) < step:
                step = 1
            small = _downsample(image, step)
            small_labels = labels[::step, ::step][: small.shape[0], : small.shape[1]]
            drawn = _overlay_panel(ax, small, small_labels, (0, 0), pixel * step, unit, _stretch(small), 1)
            when = f" ({frame * frame_interval_min:.4g} min)" if frame_interval_min is not None else ""
            # The title counts the objects of the full-resolution frame; the panel may show fewer after shrinking.
            series.append({"name": f"frame {frame}", "frame": int(frame), **drawn, "n_objects": n_objects})
            ax.set_title(f"frame {frame}{when}: {n_objects} object{'' if n_objects == 1 else 's'}")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
            if pixel_size_um is not None:
                _scale_bar(ax, small.shape[1] * pixel * step)
        for ax in axes[n:]:
            ax.set_axis_off()
        fig.tight_layout()
        return _png(fig, "montage", series)


def _orthogonal_figure(
    frame: int,
    image: np.ndarray,
    labels: np.ndarray,
    time_min: float | None,
    pixel_size_um: float | None,
    z_step_um: float | None,
) -> _Plot:
    """Orthogonal views of one (Z, Y, X) stack with object outlines, each voxel drawn in its true proportions.

    xy at the middle plane z = Z // 2, xz at y = Y // 2 (below it) and yz at x = X // 2 (beside it), all at the
    same scale (``pixel_size_um`` µm per px in y and x, ``z_step_um`` µm between planes; without a pixel size
    the axes are in px and a plane counts as one px; a missing z step counts as one pixel).
    Dashed lines mark where the other two views cut the stack.  ``time_min`` in minutes.
    """
    nz, ny, nx = image.shape
    zc, yc, xc = nz // 2, ny // 2, nx // 2
    scale, unit = (pixel_size_um, "µm") if pixel_size_um is not None else (1.0, "px")
    z_scale = z_step_um if (z_step_um is not None and pixel_size_um is not None) else scale
    limits = _stretch(image)
    views = {
        "xy": (image[zc], labels[zc]),
        "xz": (image[:, yc, :], labels[:, yc, :]),
        "yz": (image[:, :, xc].T, labels[:, :, xc].T),  # (Y, Z): z runs to the right, y down as in xy
    }
    width_x, height_y, depth_z = nx * scale, ny * scale, nz * z_scale
    when = f", t = {time_min:.4g} min" if time_min is not None else ""
    with matplotlib.rc_context({**_RC, "axes.grid": False, "axes.titlesize": 9}):
        fig_width = 7.6
        fig_height = min(9.0, max(3.0, fig_width * (height_y + depth_z) / (width_x + depth_z) + 0.6))
        fig = Figure(figsize=(fig_width, fig_height))
        grid = fig.add_gridspec(2, 2, width_ratios=[width_x, depth_z], height_ratios=[height_y, depth_z])
        ax_xy, ax_yz, ax_xz = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 0])
        fig.add_subplot(grid[1, 1]).set_axis_off()
        series: list[dict[str, Any]] = []
        for name, ax, extent, cut in (
            ("xy", ax_xy, (0.0, width_x, height_y, 0.0), f"z = {zc}"),
            ("xz", ax_xz, (0.0, width_x, depth_z, 0.0), f"y = {yc}"),
            ("yz", ax_yz, (0.0, depth_z, height_y, 0.0), f"x = {xc}"),
        ):
            plane, plane_labels = views[name]
            ax.imshow(plane, cmap="gray", vmin=limits[0], vmax=limits[1], extent=extent, interpolation="nearest",
                      aspect="auto")
            ax.imshow(_outline_rgba(plane_labels, 1), extent=extent, interpolation="nearest", aspect="auto")
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            drawn = np.unique(plane_labels[plane_labels > 0])
            series.append({
                "name": f"frame {frame} {name} at {cut}", "frame": int(frame), "kind": "image", "view": name,
                "plane_px": list(plane.shape), "extent": _numbers(extent), "extent_units": unit,
                "display_limits": _numbers(limits), "labels": [int(v) for v in drawn], "n_objects": int(drawn.size),
            })
            ax.set_title(f"{name} at {cut}: {drawn.size} object(s)")
        # where the other views cut: the middle row and column of xy, the middle plane in xz and yz
        line = {"color": "#ffd500", "linewidth": 0.8, "linestyle": "--"}
        ax_xy.axhline((yc + 0.5) * scale, **line)
        ax_xy.axvline((xc + 0.5) * scale, **line)
        ax_xz.axhline((zc + 0.5) * z_scale, **line)
        ax_yz.axvline((zc + 0.5) * z_scale, **line)
        ax_xy.set_ylabel(f"y ({unit})")
        ax_xz.set_xlabel(f"x ({unit})")
        ax_xz.set_ylabel(f"z ({unit})")
        ax_yz.set_xlabel(f"z ({unit})")
        ax_xy.tick_params(labelbottom=False)
        ax_yz.tick_params(labelleft=False)
        fig.suptitle(f"Frame {frame}{when}: orthogonal views through the middle of the stack", fontsize=10)
        fig.tight_layout()
        return _png(fig, "orthogonal views", series)
