"""Simulated widefield time-lapse of fluorescent nuclei with exact ground truth.

The simulator makes demo data and test fixtures that look like real
2D + time nuclear-marker movies (H2B-GFP, Hoechst) and come with Cell Tracking
Challenge (CTC) ground truth: one instance label image per frame whose values
are track ids, and a ``man_track`` table (label, first frame, last frame,
parent).

Model, in the order it is computed:

* **Cells** are agents with a position (px), a velocity (px/frame), an
  elliptical nucleus (semi-axes in px, orientation in rad) with a slightly
  irregular outline, a brightness and an age (frames).  Motion is a persistent
  random walk (an Ornstein-Uhlenbeck velocity with RMS speed
  ``speed_px_per_frame``); a soft pairwise repulsion keeps nuclei apart.
* **Division**: after ``min_division_age_frames`` a cell enters mitosis with
  ``division_probability`` per frame (only when it is well inside the field,
  so that both daughters are visible).  For ``mitosis_frames`` frames it is
  drawn as a compact, bright metaphase plate; in the next frame it is replaced
  by two small, bright daughters on either side of the plate that then grow
  to full size over ``maturation_frames`` and fade to normal brightness.
* **Entry and exit**: new cells enter through a random border
  (``entry_rate`` per frame, Poisson); cells whose centre moves well outside
  the field are removed.
* **Image formation**: each nucleus is drawn only inside its bounding box:
  a dome-shaped profile times a smooth chromatin texture (two spatial scales,
  slowly changing over time), darker nucleoli and small bright chromocentres.
  Signal is photobleached (``photobleaching_per_frame``), gets out-of-focus
  haze and Gaussian optical blur, is multiplied by an uneven illumination
  (vignetting) and added to a background with a linear gradient; Poisson shot
  noise (``gain`` photons per grey level), Gaussian read noise and a camera
  offset give the uint16 image.
* **Ground truth**: every pixel inside a nucleus outline is labelled; where
  two nuclei overlap the one whose centre is nearer (in its own normalised
  coordinates) wins.  Per frame, each nucleus keeps its largest connected
  piece, and pieces smaller than ``min_visible_area_px`` (cells entering or
  leaving through a border, or hidden under a neighbour) are not labelled.

Track ids follow CTC rules and are derived from the final masks, so the table
always agrees with them: a label is present in every frame from its first to
its last frame.  A cell that becomes invisible and reappears later (it left
and came back, or was hidden) gets a **new** track id with parent 0 for its
reappearance.  A division is recorded (both daughters' ``parent`` = the
mother's label, daughters' first frame = mother's last frame + 1) only when
the mother is visible in its last frame and both daughters are visible in
their first; otherwise the visible pieces are ordinary tracks with parent 0.

Randomness comes only from ``np.random.default_rng(seed)`` (independent child
streams for the dynamics, the appearance and the noise), so the same settings
give byte-identical arrays, and changing e.g. the noise settings does not
change where the cells go.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from cellpipe.config import SimulationSettings

logger = logging.getLogger(__name__)

__all__ = ["SimulatedMovie", "simulate_movie", "make_nuclei_movie", "TRACK_COLUMNS"]

TRACK_COLUMNS: tuple[str, ...] = ("label", "first_frame", "last_frame", "parent")
"""Columns of :attr:`SimulatedMovie.tracks` (CTC ``man_track.txt`` order)."""

_MAX_LABEL = int(np.iinfo(np.uint16).max)
_N_HARMONICS = (2, 3, 4)  # outline irregularity: cos(k * phi) terms
_TEXTURE_EXTENT = 1.25  # texture rasters cover normalised coordinates [-1.25, 1.25]
_DAUGHTER_SCALE = 0.7  # daughters are born with 0.7x the mother's semi-axes (about half her area)
_MIN_BIRTH_SCALE = 0.45  # ... but not smaller than this fraction of full size (rapid re-divisions)
_DAUGHTER_BOOST = 0.5  # extra brightness of newborn (compact) daughters, fading over ~3 frames
_MITOTIC_BOOST = 1.0  # extra brightness of a metaphase plate


@dataclass
class SimulatedMovie:
    """A simulated movie and its CTC ground truth.

    Attributes
    ----------
    image : numpy.ndarray
        (T, Y, X) uint16 raw intensities (grey levels).
    labels : numpy.ndarray
        (T, Y, X) uint16 instance masks; each value is a track id (0 = background).
    tracks : pandas.DataFrame
        One row per track with columns ``label, first_frame, last_frame, parent`` (frames 0-based,
        parent 0 = none), CTC ``man_track`` semantics.
    pixel_size_um : float
        Pixel size (µm/px).
    frame_interval_min : float
        Time between frames (minutes).
    """

    image: np.ndarray
    labels: np.ndarray
    tracks: pd.DataFrame
    pixel_size_um: float
    frame_interval_min: float

    @property
    def n_divisions(self) -> int:
        """Number of recorded divisions (mothers with two daughters in ``tracks``)."""
        return int(self.tracks.loc[self.tracks["parent"] > 0, "parent"].nunique())


# ------------------------------------------------------------------------------------------
# dynamics
# ------------------------------------------------------------------------------------------


@dataclass
class _Look:
    """Appearance of one nucleus that does not change with time (normalised coordinates)."""

    fine: tuple[np.ndarray, np.ndarray]  # two fine texture rasters, cross-faded over time
    coarse: tuple[np.ndarray, np.ndarray]  # two coarse texture rasters
    texture_rate: float  # rad/frame of the cross-fade
    texture_phase: float
    harmonics: np.ndarray  # (len(_N_HARMONICS), 2): amplitude, phase of the outline wobble
    nucleoli: np.ndarray  # (n, 4): u, v, sigma, depth
    spots: np.ndarray  # (n, 4): u, v, sigma, height


@dataclass
class _Cell:
    """One simulated cell's state: position (px), velocity (px/frame), nucleus shape and brightness, age, mitosis."""

    agent: int
    y: float
    x: float
    vy: float
    vx: float
    major: float  # full-grown semi-major axis (px)
    ratio: float  # minor / major
    theta: float  # orientation of the major axis (rad, from +x towards +y)
    brightness: float  # grey levels
    birth_frame: int
    birth_scale: float
    look: _Look
    mitosis_left: int = -1  # -1: interphase; k >= 0: k more mitotic frames to show
    boost: float = 0.0  # extra relative brightness that fades with age

    def age(self, t: int) -> int:
        """Age (frames) at frame ``t``."""
        return t - self.birth_frame


@dataclass
class _Snapshot:
    """What is drawn for one cell in one frame."""

    agent: int
    y: float
    x: float
    a: float  # semi-major axis (px)
    b: float  # semi-minor axis (px)
    theta: float
    brightness: float
    mitotic: bool
    look: _Look


@dataclass
class _Division:
    """A division: the mother agent, her last frame (0-based) and her two daughter agents."""

    mother: int
    last_frame: int
    daughters: tuple[int, int]


@dataclass
class _History:
    """The simulation's record: per frame the cells drawn, the divisions, and the number of agents made."""

    frames: list[list[_Snapshot]] = field(default_factory=list)
    divisions: list[_Division] = field(default_factory=list)
    n_agents: int = 0


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """A (size, size) Gaussian-smoothed noise raster with zero mean and unit SD."""
    raster = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    sd = float(raster.std())
    return ((raster - raster.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)


def _new_look(rng: np.random.Generator, s: SimulationSettings, major: float) -> _Look:
    # Raster resolution about 1 texel per px at full size, so the fine texture is pixel-scale speckle.
    """A nucleus's fixed appearance: texture rasters sized to its semi-major axis ``major`` (px), outline wobble, nucleoli, spots."""
    size = max(8, int(math.ceil(2 * _TEXTURE_EXTENT * major)) + 2)
    fine = (_smooth_noise(rng, size, 0.8), _smooth_noise(rng, size, 0.8))
    coarse = (_smooth_noise(rng, size, size / 8), _smooth_noise(rng, size, size / 8))
    harmonics = np.column_stack([
        rng.uniform(0.3, 1.0, len(_N_HARMONICS)) * s.shape_irregularity,
        rng.uniform(0, 2 * np.pi, len(_N_HARMONICS)),
    ])
    n_nuc = int(rng.integers(0, s.nucleoli_max + 1)) if s.nucleoli_max else 0
    nuc_r = np.sqrt(rng.uniform(0, 0.45, n_nuc))
    nuc_a = rng.uniform(0, 2 * np.pi, n_nuc)
    nucleoli = np.column_stack([
        nuc_r * np.cos(nuc_a), nuc_r * np.sin(nuc_a),
        rng.uniform(0.13, 0.24, n_nuc), s.nucleolus_contrast * rng.uniform(0.6, 1.0, n_nuc),
    ])
    n_spots = int(rng.integers(0, s.spots_max + 1)) if s.spots_max else 0
    spot_r = np.sqrt(rng.uniform(0, 0.6, n_spots))
    spot_a = rng.uniform(0, 2 * np.pi, n_spots)
    spots = np.column_stack([
        spot_r * np.cos(spot_a), spot_r * np.sin(spot_a),
        rng.uniform(0.05, 0.09, n_spots), s.spot_contrast * rng.uniform(0.5, 1.0, n_spots),
    ])
    return _Look(fine, coarse, float(rng.uniform(0.02, 0.06)), float(rng.uniform(0, 2 * np.pi)),
                 harmonics, nucleoli, spots)


def _draw_major(rng: np.random.Generator, s: SimulationSettings) -> float:
    """A full-grown semi-major axis (px): normal around ``nucleus_radius_px``, clipped to 0.5-1.6x of it (at least 2 px)."""
    low = max(2.0, 0.5 * s.nucleus_radius_px)
    return float(np.clip(rng.normal(s.nucleus_radius_px, s.radius_sd_px), low, 1.6 * s.nucleus_radius_px))


def _draw_brightness(rng: np.random.Generator, s: SimulationSettings) -> float:
    """A nucleus brightness (grey levels): log-normal with mean ``nucleus_intensity`` and coefficient of variation ``intensity_cv``."""
    sigma = math.sqrt(math.log1p(s.intensity_cv**2))
    return float(s.nucleus_intensity * rng.lognormal(-0.5 * sigma**2, sigma))


class _Population:
    """The cells alive at the current frame and the rules that move, divide, add and remove them."""

    def __init__(self, s: SimulationSettings, rng: np.random.Generator, look_rng: np.random.Generator) -> None:
        """No cells yet; ``rng`` drives motion, sizes and decisions, ``look_rng`` appearance only."""
        self.s = s
        self.rng = rng  # motion, sizes, division and entry decisions
        self.look_rng = look_rng  # textures and outlines, so that the motion does not depend on them
        self.t = 0
        self.cells: list[_Cell] = []
        self.history = _History()
        self.height, self.width = s.shape
        # RMS speed v means E|v|^2 = v^2, i.e. sigma^2 = v^2 / 2 per axis.
        self.velocity_sd = s.speed_px_per_frame / math.sqrt(2.0)

    # -- creation ----------------------------------------------------------------------------

    def _next_agent(self) -> int:
        """A new agent id (0-based, never reused)."""
        agent = self.history.n_agents
        self.history.n_agents += 1
        return agent

    def _new_cell(self, y: float, x: float, t: int, age: int, birth_scale: float) -> _Cell:
        """A cell at (``y``, ``x``) px, ``age`` frames old at frame ``t``, born at ``birth_scale`` of its full size."""
        rng, s = self.rng, self.s
        major = _draw_major(rng, s)
        lo, hi = s.aspect_ratio_range
        return _Cell(
            agent=self._next_agent(), y=y, x=x,
            vy=float(rng.normal(0, self.velocity_sd)), vx=float(rng.normal(0, self.velocity_sd)),
            major=major, ratio=float(rng.uniform(lo, hi)), theta=float(rng.uniform(0, np.pi)),
            brightness=_draw_brightness(rng, s), birth_frame=t - age, birth_scale=birth_scale,
            look=_new_look(self.look_rng, s, major),
        )

    def seed_initial(self) -> None:
        """Place ``n_cells`` cells inside the field, avoiding overlaps where possible."""
        s, rng = self.s, self.rng
        for _ in range(s.n_cells):
            y = x = 0.0
            for _attempt in range(200):
                y = float(rng.uniform(0, self.height))
                x = float(rng.uniform(0, self.width))
                if all(math.hypot(y - c.y, x - c.x) > 2.2 * s.nucleus_radius_px for c in self.cells):
                    break
            age = int(rng.integers(0, s.min_division_age_frames + s.maturation_frames + 1))
            self.cells.append(self._new_cell(y, x, 0, age, _DAUGHTER_SCALE))
        self.relax()

    def enter(self, t: int) -> None:
        """Add the cells entering at frame ``t`` (Poisson, ``entry_rate`` per frame) through a random border, moving inwards."""
        s, rng = self.s, self.rng
        n_new = int(rng.poisson(s.entry_rate)) if s.entry_rate > 0 else 0
        h, w = self.height, self.width
        for _ in range(n_new):
            side = int(rng.choice(4, p=np.array([w, w, h, h], dtype=float) / (2 * (w + h))))
            along = float(rng.uniform(0, 1))
            age = int(rng.integers(0, s.min_division_age_frames + 1))
            cell = self._new_cell(0.0, 0.0, t, age, _DAUGHTER_SCALE)
            depth = 0.4 * cell.major  # centre just outside the border: a sliver shows, more next frame
            inward = max(s.speed_px_per_frame, 1.0)
            if side == 0:  # top
                cell.y, cell.x, cell.vy, cell.vx = -depth, along * w, inward, cell.vx
            elif side == 1:  # bottom
                cell.y, cell.x, cell.vy, cell.vx = h + depth, along * w, -inward, cell.vx
            elif side == 2:  # left
                cell.y, cell.x, cell.vy, cell.vx = along * h, -depth, cell.vy, inward
            else:  # right
                cell.y, cell.x, cell.vy, cell.vx = along * h, w + depth, cell.vy, -inward
            self.cells.append(cell)

    # -- per-frame rules ---------------------------------------------------------------------

    def size(self, cell: _Cell, t: int) -> tuple[float, float]:
        """Current semi-axes (px) of an interphase nucleus at frame ``t``: from its birth scale to full size over ``maturation_frames``."""
        grown = min(1.0, cell.age(t) / self.s.maturation_frames)
        scale = cell.birth_scale + (1.0 - cell.birth_scale) * grown
        return cell.major * scale, cell.major * cell.ratio * scale

    def divide(self, t: int) -> None:
        """At frame ``t``, replace every cell whose mitosis is over by two daughters beside its metaphase plate."""
        s, rng = self.s, self.rng
        survivors: list[_Cell] = []
        for cell in self.cells:
            if cell.mitosis_left != 0:
                survivors.append(cell)
                continue
            # The plate's long axis is along theta; daughters separate perpendicular to it.
            nx, ny = -math.sin(cell.theta), math.cos(cell.theta)
            # Daughters inherit the mother's size (with a little variation) and are born with
            # about half her current area.
            mother_scale = self.size(cell, t - 1)[0] / cell.major
            daughters = []
            for sign in (1.0, -1.0):
                d = self._new_cell(cell.y, cell.x, t, 0, max(_DAUGHTER_SCALE * mother_scale, _MIN_BIRTH_SCALE))
                d.major = float(cell.major * rng.lognormal(0.0, 0.05))
                d.ratio = float(np.clip(cell.ratio * rng.lognormal(0.0, 0.05), *s.aspect_ratio_range))
                d.brightness = float(cell.brightness * rng.lognormal(0.0, 0.1))
                d.theta = float(cell.theta + rng.normal(0, 0.2))
                d.boost = _DAUGHTER_BOOST
                offset = 1.15 * d.major * d.ratio * d.birth_scale
                d.y, d.x = cell.y + sign * offset * ny, cell.x + sign * offset * nx
                sep = 0.5 * max(s.speed_px_per_frame, 0.5)
                d.vy, d.vx = cell.vy + sign * sep * ny, cell.vx + sign * sep * nx
                daughters.append(d)
            survivors.extend(daughters)
            self.history.divisions.append(_Division(cell.agent, t - 1, (daughters[0].agent, daughters[1].agent)))
        self.cells = survivors

    def move(self) -> None:
        """Persistent random walk; mitotic cells barely move."""
        s, rng = self.s, self.rng
        p = s.persistence
        kick = math.sqrt(1 - p * p) * self.velocity_sd
        for cell in self.cells:
            noise = rng.normal(0.0, 1.0, 3)
            cell.vy = p * cell.vy + kick * noise[0]
            cell.vx = p * cell.vx + kick * noise[1]
            damp = 0.2 if cell.mitosis_left > 0 else 1.0
            cell.y += damp * cell.vy
            cell.x += damp * cell.vx
            if cell.mitosis_left < 0:
                cell.theta += s.rotation_sd_rad * noise[2]

    def relax(self, steps: int = 4) -> None:
        """Soft repulsion: push apart nuclei closer than the sum of their mean radii (px), in ``steps`` iterations."""
        s = self.s
        n = len(self.cells)
        if n < 2 or s.repulsion <= 0:
            return
        pos = np.array([[c.y, c.x] for c in self.cells], dtype=float)
        radius = np.array([math.sqrt(a * b) for a, b in (self._axes_now(c) for c in self.cells)])
        reach = radius[:, None] + radius[None, :]
        idx = np.arange(n, dtype=float)
        # Tiny deterministic tie-breaker so coincident centres get a direction.
        tie = 1e-6 * np.column_stack([np.cos(idx), np.sin(idx)])
        for _ in range(steps):
            diff = (pos + tie)[:, None, :] - (pos + tie)[None, :, :]
            dist = np.sqrt((diff**2).sum(-1))
            np.fill_diagonal(dist, np.inf)
            overlap = np.clip(reach - dist, 0, None)
            if not overlap.any():
                break
            push = (0.5 * s.repulsion * overlap / dist)[:, :, None] * diff
            pos += push.sum(axis=1)
        for cell, (y, x) in zip(self.cells, pos, strict=True):
            cell.y, cell.x = float(y), float(x)

    def _axes_now(self, cell: _Cell) -> tuple[float, float]:
        """Semi-axes (px) used for the repulsion at the current frame."""
        if cell.mitosis_left >= 0:
            a, _ = self.size(cell, self.t)
            return 0.85 * a, 0.4 * a
        return self.size(cell, self.t)

    def leave(self) -> None:
        """Remove cells whose centre is well outside the field."""
        kept = []
        for cell in self.cells:
            m = 1.6 * cell.major + 2
            if -m <= cell.y <= self.height + m and -m <= cell.x <= self.width + m:
                kept.append(cell)
        self.cells = kept

    def start_mitoses(self, t: int) -> None:
        """At frame ``t``, cells old enough and well inside the field start mitosis with ``division_probability``."""
        s, rng = self.s, self.rng
        if s.division_probability <= 0:
            return
        for cell in self.cells:
            if cell.mitosis_left >= 0 or cell.age(t) < s.min_division_age_frames:
                continue
            margin = 2.0 * cell.major + 2
            inside = margin <= cell.y <= self.height - margin and margin <= cell.x <= self.width - margin
            if inside and rng.uniform() < s.division_probability:
                cell.mitosis_left = s.mitosis_frames

    def snapshot(self, t: int) -> list[_Snapshot]:
        """Record what to draw for frame ``t`` and count down running mitoses."""
        shots = []
        for cell in self.cells:
            fade = cell.boost * math.exp(-cell.age(t) / 3.0)
            if cell.mitosis_left > 0:
                a, _ = self.size(cell, t)
                shots.append(_Snapshot(cell.agent, cell.y, cell.x, 0.85 * a, 0.4 * a, cell.theta,
                                       cell.brightness * (1.0 + _MITOTIC_BOOST), True, cell.look))
                cell.mitosis_left -= 1
            else:
                a, b = self.size(cell, t)
                shots.append(_Snapshot(cell.agent, cell.y, cell.x, a, b, cell.theta,
                                       cell.brightness * (1.0 + fade), False, cell.look))
        return shots

    def run(self) -> _History:
        """Simulate all frames; returns the per-frame snapshots and the divisions."""
        self.seed_initial()
        for t in range(self.s.n_frames):
            self.t = t
            if t > 0:
                self.divide(t)
                self.move()
                self.enter(t)
                self.relax()
                self.leave()
            self.start_mitoses(t)
            self.history.frames.append(self.snapshot(t))
        return self.history


# ------------------------------------------------------------------------------------------
# rendering
# ------------------------------------------------------------------------------------------


def _sample(raster: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a texture raster at normalised coordinates (u, v) in [-extent, extent]."""
    n = raster.shape[0]
    scale = (n - 1) / (2 * _TEXTURE_EXTENT)
    fu = np.clip((u + _TEXTURE_EXTENT) * scale, 0, n - 1.001)
    fv = np.clip((v + _TEXTURE_EXTENT) * scale, 0, n - 1.001)
    iu = fu.astype(np.intp)
    iv = fv.astype(np.intp)
    wu = (fu - iu).astype(np.float32)
    wv = (fv - iv).astype(np.float32)
    top = raster[iv, iu] * (1 - wu) + raster[iv, iu + 1] * wu
    bottom = raster[iv + 1, iu] * (1 - wu) + raster[iv + 1, iu + 1] * wu
    return top * (1 - wv) + bottom * wv


def _draw_nucleus(
    shot: _Snapshot, t: int, s: SimulationSettings, signal: np.ndarray, owner: np.ndarray, nearest: np.ndarray
) -> bool:
    """Add one nucleus to ``signal`` and claim its pixels in ``owner``; True if it overlapped another."""
    height, width = signal.shape
    look = shot.look
    wobble = float(look.harmonics[:, 0].sum())
    reach = shot.a * (1 + wobble) + 2
    y0, y1 = max(0, int(math.floor(shot.y - reach))), min(height, int(math.ceil(shot.y + reach)) + 1)
    x0, x1 = max(0, int(math.floor(shot.x - reach))), min(width, int(math.ceil(shot.x + reach)) + 1)
    if y0 >= y1 or x0 >= x1:
        return False
    dy = (np.arange(y0, y1, dtype=np.float32) - np.float32(shot.y))[:, None]
    dx = (np.arange(x0, x1, dtype=np.float32) - np.float32(shot.x))[None, :]
    c, sn = np.float32(math.cos(shot.theta)), np.float32(math.sin(shot.theta))
    u = (dx * c + dy * sn) / np.float32(shot.a)
    v = (dy * c - dx * sn) / np.float32(shot.b)
    r = np.sqrt(u * u + v * v)
    phi = np.arctan2(v, u)
    outline = np.ones_like(r)
    for k, (amp, phase) in zip(_N_HARMONICS, look.harmonics, strict=True):
        outline += np.float32(amp) * np.cos(k * phi + np.float32(phase))
    rho = r / outline  # < 1 inside the nucleus

    # Intensity: dome profile x texture, anti-aliased edge about 1 px wide.
    mean_r = math.sqrt(shot.a * shot.b)
    edge = np.clip((1 - rho) * np.float32(mean_r) + 0.5, 0, 1)
    if not edge.any():
        return False
    dome = 0.7 + 0.3 * np.sqrt(np.clip(1 - rho * rho, 0, 1))
    phase = look.texture_phase + look.texture_rate * t
    cw, sw = np.float32(math.cos(phase)), np.float32(math.sin(phase))
    fine = cw * _sample(look.fine[0], u, v) + sw * _sample(look.fine[1], u, v)
    coarse = cw * _sample(look.coarse[0], u, v) + sw * _sample(look.coarse[1], u, v)
    strength = s.texture_strength * (0.5 if shot.mitotic else 1.0)
    texture = 1 + np.float32(strength) * (0.6 * fine + 0.8 * coarse)
    if not shot.mitotic:
        for nu, nv, sigma, depth in look.nucleoli:
            texture *= 1 - np.float32(depth) * np.exp(-((u - nu) ** 2 + (v - nv) ** 2) / np.float32(2 * sigma * sigma))
    for su, sv, sigma, height_ in look.spots:
        texture += np.float32(height_) * np.exp(-((u - su) ** 2 + (v - sv) ** 2) / np.float32(2 * sigma * sigma))
    intensity = np.float32(shot.brightness) * dome * np.clip(texture, 0.05, None) * edge
    signal[y0:y1, x0:x1] += intensity

    # Labels: inside pixels; where nuclei overlap the one with the smaller normalised radius wins.
    inside = rho < 1
    near = nearest[y0:y1, x0:x1]
    contested = bool((inside & np.isfinite(near)).any())
    win = inside & (rho < near)
    near[win] = rho[win]
    owner[y0:y1, x0:x1][win] = shot.agent + 1
    return contested


def _keep_largest_pieces(owner: np.ndarray) -> None:
    """Zero all but the largest 4-connected piece of every owner id (in place)."""
    comps = _label_by_value(owner)
    n = int(comps.max())
    if n == 0:
        return
    comp_owner = np.zeros(n + 1, dtype=np.int64)
    comp_owner[comps.ravel()] = owner.ravel()
    comp_size = np.bincount(comps.ravel(), minlength=n + 1)
    ids = np.arange(1, n + 1)
    order = np.lexsort((-comp_size[1:], comp_owner[1:]))  # by owner, largest piece first
    ids = ids[order]
    owners_sorted = comp_owner[ids]
    extra = np.zeros(len(ids), dtype=bool)
    extra[1:] = owners_sorted[1:] == owners_sorted[:-1]
    if extra.any():
        drop = np.zeros(n + 1, dtype=bool)
        drop[ids[extra]] = True
        owner[drop[comps]] = 0


def _label_by_value(owner: np.ndarray) -> np.ndarray:
    """4-connected components of equal non-zero values (different values are different components)."""
    comps = np.zeros(owner.shape, dtype=np.int32)
    next_id = 0
    for value, sl in enumerate(ndimage.find_objects(owner), start=1):
        if sl is None:
            continue
        mask = owner[sl] == value
        lab, n = ndimage.label(mask)
        if n:
            region = comps[sl]
            region[mask] = lab[mask] + next_id
            next_id += n
    return comps


def _illumination(s: SimulationSettings, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Illumination (relative, vignetted) and background (grey levels, with a linear gradient) fields."""
    h, w = s.shape
    cy = h / 2 + rng.uniform(-0.1, 0.1) * h
    cx = w / 2 + rng.uniform(-0.1, 0.1) * w
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    corner2 = max((py - cy) ** 2 + (px - cx) ** 2 for py in (0, h) for px in (0, w))
    illum = 1 - np.float32(s.vignetting) * ((yy - cy) ** 2 + (xx - cx) ** 2) / np.float32(corner2)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (yy - h / 2) * np.float32(math.sin(angle)) + (xx - w / 2) * np.float32(math.cos(angle))
    span = float(np.ptp(ramp)) or 1.0
    background = np.float32(s.background) * illum * (1 + np.float32(s.background_gradient) * ramp / np.float32(span))
    return illum.astype(np.float32), background.astype(np.float32)


def _haze(signal: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur of ``signal`` computed on a block-averaged copy (fast for large sigma)."""
    h, w = signal.shape
    f = max(1, int(sigma // 3))
    ph, pw = -(-h // f) * f, -(-w // f) * f
    padded = np.pad(signal, ((0, ph - h), (0, pw - w)), mode="edge")
    small = padded.reshape(ph // f, f, pw // f, f).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma / f, mode="nearest")
    if f == 1:
        return small[:h, :w]
    big = ndimage.zoom(small, f, order=1, mode="nearest", grid_mode=True)
    return big[:h, :w]


def _tracks_from_visibility(
    visible: list[np.ndarray], divisions: list[_Division]
) -> tuple[pd.DataFrame, list[list[tuple[int, int]]]]:
    """CTC tracks from the agents visible in each frame, and the (agent, label) pairs of each frame."""
    frames_of: dict[int, list[int]] = {}
    for t, agents in enumerate(visible):
        for agent in agents.tolist():
            frames_of.setdefault(agent, []).append(t)
    runs: list[tuple[int, int, int]] = []  # (first, agent, last)
    for agent, frames in frames_of.items():
        start = prev = frames[0]
        for t in frames[1:]:
            if t != prev + 1:
                runs.append((start, agent, prev))
                start = t
            prev = t
        runs.append((start, agent, prev))
    runs.sort()
    if len(runs) > _MAX_LABEL:
        raise ValueError(f"the simulation produced {len(runs)} tracks; uint16 labels allow at most {_MAX_LABEL}")
    first_run: dict[int, tuple[int, int]] = {}  # agent -> (label, first frame) of its first run
    last_run: dict[int, tuple[int, int]] = {}  # agent -> (label, last frame) of its last run
    per_frame: list[list[tuple[int, int]]] = [[] for _ in visible]  # (agent, label) in each frame
    rows = []
    for label, (first, agent, last) in enumerate(runs, start=1):
        if agent not in first_run:
            first_run[agent] = (label, first)
        last_run[agent] = (label, last)
        for t in range(first, last + 1):
            per_frame[t].append((agent, label))
        rows.append([label, first, last, 0])
    tracks = pd.DataFrame(rows, columns=list(TRACK_COLUMNS), dtype=np.int64)
    if tracks.empty:
        tracks = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in TRACK_COLUMNS})
    parent = tracks["parent"].to_numpy().copy()
    for div in divisions:
        mother = last_run.get(div.mother)
        kids = [first_run.get(d) for d in div.daughters]
        if mother is None or mother[1] != div.last_frame:
            continue
        if any(k is None or k[1] != div.last_frame + 1 for k in kids):
            continue
        for k in kids:
            assert k is not None
            parent[k[0] - 1] = mother[0]
    tracks["parent"] = parent
    return tracks, per_frame


def simulate_movie(settings: SimulationSettings) -> SimulatedMovie:
    """Simulate a fluorescent-nuclei movie and its CTC ground truth (see the module docstring).

    Parameters
    ----------
    settings : cellpipe.config.SimulationSettings
        Shape (frames, px), pixel size (µm), frame interval (minutes), cells, motion (px/frame),
        divisions, image formation and ``seed``; the same settings give byte-identical arrays.

    Returns
    -------
    SimulatedMovie
        (T, Y, X) uint16 ``image`` and ``labels`` (values are track ids) and the ``tracks`` table
        derived from the labels.

    Raises
    ------
    ValueError
        When the simulation makes more cells than uint16 labels can hold (65,534).
    """
    s = settings
    dyn_rng, look_rng, noise_rng = np.random.default_rng(s.seed).spawn(3)
    history = _Population(s, dyn_rng, look_rng).run()
    if history.n_agents >= _MAX_LABEL:
        raise ValueError(f"the simulation created {history.n_agents} cells; at most {_MAX_LABEL - 1} are supported")

    h, w = s.shape
    image = np.empty((s.n_frames, h, w), dtype=np.uint16)
    labels = np.empty((s.n_frames, h, w), dtype=np.uint16)
    illum, background = _illumination(s, noise_rng)
    haze_sigma = 3.0 * s.nucleus_radius_px
    visible: list[np.ndarray] = []
    for t, shots in enumerate(history.frames):
        signal = np.zeros((h, w), dtype=np.float32)
        owner = labels[t]
        owner[...] = 0
        nearest = np.full((h, w), np.inf, dtype=np.float32)
        contested = False
        for shot in shots:
            contested |= _draw_nucleus(shot, t, s, signal, owner, nearest)
        if contested:
            _keep_largest_pieces(owner)
        area = np.bincount(owner.ravel(), minlength=history.n_agents + 1)
        area[0] = 0
        visible.append(np.flatnonzero(area >= s.min_visible_area_px) - 1)

        signal *= np.float32((1 - s.photobleaching_per_frame) ** t)
        if s.haze_fraction > 0:
            signal += np.float32(s.haze_fraction) * _haze(signal, haze_sigma)
        if s.blur_sigma_px > 0:
            signal = ndimage.gaussian_filter(signal, s.blur_sigma_px, mode="nearest")
        expected = np.clip(illum * signal + background, 0, None)
        grey = noise_rng.poisson(expected.astype(np.float64) * s.gain) / s.gain
        grey += s.camera_offset
        if s.read_noise_sd > 0:
            grey += noise_rng.normal(0.0, s.read_noise_sd, size=grey.shape)
        image[t] = np.clip(np.rint(grey), 0, _MAX_LABEL).astype(np.uint16)

    tracks, pairs = _tracks_from_visibility(visible, history.divisions)
    lut = np.zeros(history.n_agents + 1, dtype=np.uint16)  # owner (agent + 1) -> label; 0 = not labelled
    for t in range(s.n_frames):
        lut[:] = 0
        for agent, label in pairs[t]:
            lut[agent + 1] = label
        labels[t] = lut[labels[t]]
    logger.info(
        "simulated %d frames of %dx%d px: %d tracks, %d divisions (seed %d)",
        s.n_frames, h, w, len(tracks), int(tracks.loc[tracks["parent"] > 0, "parent"].nunique()), s.seed,
    )
    return SimulatedMovie(image, labels, tracks, s.pixel_size_um, s.frame_interval_min)


def make_nuclei_movie(
    n_frames: int = 5, shape: tuple[int, int] = (64, 64), seed: int = 0, **overrides: object
) -> SimulatedMovie:
    """A small simulated movie for tests and examples.

    For frames smaller than 256 px the nucleus size and the number of cells scale with the frame
    (semi-major axis ``min(shape) / 12`` clipped to 6..9 px, nuclei covering about 10 % of the field:
    4 cells at 64x64 px); from 256 px on the :class:`SimulationSettings` defaults apply.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : tuple of int
        Frame size (Y, X) in px.
    seed : int
        Seed of every random choice.
    **overrides
        Any :class:`SimulationSettings` field; wins over the choices above.

    Returns
    -------
    SimulatedMovie
    """
    side = min(shape)
    radius = float(np.clip(side / 12.0, 6.0, 9.0))
    n_cells = max(2, round(0.1 * shape[0] * shape[1] / (math.pi * radius * radius * 0.8)))
    params: dict[str, object] = {"n_frames": n_frames, "shape": tuple(shape), "seed": seed}
    if side < 256:
        params.update(nucleus_radius_px=radius, radius_sd_px=0.1 * radius, n_cells=n_cells)
    params.update(overrides)
    return simulate_movie(SimulationSettings.model_validate(params))
