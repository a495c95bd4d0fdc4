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

The population's rules (division, entry, exit, repulsion, the frame order) and the derivation of the
ground truth are shared with the 3-D simulator (:mod:`cellpipe.simulate_world`); this module gives
the 2-D geometry, the drawing of a nucleus and the optics.

Randomness comes only from ``np.random.default_rng(seed)`` (independent child
streams for the dynamics, the appearance and the noise), so the same settings
give byte-identical arrays, and changing e.g. the noise settings does not
change where the cells go.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cellpipe.config import SimulationSettings
from cellpipe.simulate_world import (
    DAUGHTER_BOOST,
    TRACK_COLUMNS,
    Cell,
    Look,
    Population,
    SimulatedNuclei,
    claim_voxels,
    dome,
    draw_brightness,
    draw_major,
    film,
    smooth_noise,
)

logger = logging.getLogger(__name__)

__all__ = ["SimulatedMovie", "simulate_movie", "make_nuclei_movie", "TRACK_COLUMNS"]

_N_HARMONICS = (2, 3, 4)  # outline irregularity: cos(k * phi) terms
_TEXTURE_EXTENT = 1.25  # texture rasters cover normalised coordinates [-1.25, 1.25]


@dataclass
class SimulatedMovie(SimulatedNuclei):
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

    pixel_size_um: float
    frame_interval_min: float


# ------------------------------------------------------------------------------------------
# dynamics
# ------------------------------------------------------------------------------------------


@dataclass
class _Look(Look):
    """Appearance of one nucleus that does not change with time.

    In normalised coordinates: the chromatin texture, the outline's wobble, nucleoli and chromocentres.
    """

    harmonics: np.ndarray  # (len(_N_HARMONICS), 2): amplitude, phase of the outline wobble
    nucleoli: np.ndarray  # (n, 4): u, v, sigma, depth
    spots: np.ndarray  # (n, 4): u, v, sigma, height


@dataclass(kw_only=True)
class _Cell(Cell):
    """One simulated cell's state beyond :class:`~cellpipe.simulate_world.Cell`.

    Position (px), velocity (px/frame), nucleus shape (``major`` in px) and appearance.
    """

    y: float
    x: float
    vy: float
    vx: float
    ratio: float  # minor / major
    theta: float  # orientation of the major axis (rad, from +x towards +y)
    look: _Look


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


def _blobs(rng: np.random.Generator, n_max: int, area: float, sigma: tuple[float, float], contrast: float,
           low: float) -> np.ndarray:
    """(n, 4) u, v, sigma, amplitude of 0..``n_max`` round blobs (nucleoli, chromocentres) in normalised coordinates.

    Centres are uniform in the disk of radius sqrt(``area``), sigmas uniform in ``sigma``, amplitudes
    ``contrast`` times uniform in [``low``, 1).
    """
    n = int(rng.integers(0, n_max + 1)) if n_max else 0
    r = np.sqrt(rng.uniform(0, area, n))
    a = rng.uniform(0, 2 * np.pi, n)
    return np.column_stack([r * np.cos(a), r * np.sin(a), rng.uniform(*sigma, n), contrast * rng.uniform(low, 1.0, n)])


def _new_look(rng: np.random.Generator, s: SimulationSettings, major: float) -> _Look:
    # Raster resolution about 1 texel per px at full size, so the fine texture is pixel-scale speckle.
    """A nucleus's fixed appearance: texture rasters sized to its semi-major axis ``major`` (px), outline wobble, nucleoli, spots."""
    size = max(8, int(math.ceil(2 * _TEXTURE_EXTENT * major)) + 2)
    fine = (smooth_noise(rng, (size, size), 0.8), smooth_noise(rng, (size, size), 0.8))
    coarse = (smooth_noise(rng, (size, size), size / 8), smooth_noise(rng, (size, size), size / 8))
    harmonics = np.column_stack([
        rng.uniform(0.3, 1.0, len(_N_HARMONICS)) * s.shape_irregularity,
        rng.uniform(0, 2 * np.pi, len(_N_HARMONICS)),
    ])
    nucleoli = _blobs(rng, s.nucleoli_max, 0.45, (0.13, 0.24), s.nucleolus_contrast, 0.6)
    spots = _blobs(rng, s.spots_max, 0.6, (0.05, 0.09), s.spot_contrast, 0.5)
    return _Look(fine, coarse, float(rng.uniform(0.02, 0.06)), float(rng.uniform(0, 2 * np.pi)),
                 harmonics, nucleoli, spots)


class _Population(Population[_Cell, _Snapshot]):
    """The 2-D geometry of the shared population rules: centres and velocities in px, elliptical nuclei."""

    daughter_scale = 0.7  # daughters are born with 0.7x the mother's semi-axes (about half her area)
    min_birth_scale = 0.45  # ... but not smaller than this fraction of full size (rapid re-divisions)
    edge_pad = 2.0

    def __init__(self, s: SimulationSettings, rng: np.random.Generator, look_rng: np.random.Generator) -> None:
        """No cells yet; ``rng`` drives motion, sizes and decisions, ``look_rng`` appearance only."""
        super().__init__(s, rng, look_rng, *s.shape, spacing=2.2 * s.nucleus_radius_px)
        self.s: SimulationSettings = s
        # RMS speed v means E|v|^2 = v^2, i.e. sigma^2 = v^2 / 2 per axis.
        self.velocity_sd = s.speed_px_per_frame / math.sqrt(2.0)

    # -- creation ----------------------------------------------------------------------------

    def new_cell(self, pos: tuple[float, float], t: int, age: int, birth_scale: float) -> _Cell:
        """A cell at ``pos`` (y, x px), ``age`` frames old at frame ``t``, born at ``birth_scale`` of its full size."""
        rng, s = self.rng, self.s
        major = draw_major(rng, s.nucleus_radius_px, s.radius_sd_px, max(2.0, 0.5 * s.nucleus_radius_px))
        lo, hi = s.aspect_ratio_range
        return _Cell(
            agent=self.next_agent(), y=pos[0], x=pos[1],
            vy=float(rng.normal(0, self.velocity_sd)), vx=float(rng.normal(0, self.velocity_sd)),
            major=major, ratio=float(rng.uniform(lo, hi)), theta=float(rng.uniform(0, np.pi)),
            brightness=draw_brightness(rng, s.nucleus_intensity, s.intensity_cv), birth_frame=t - age,
            birth_scale=birth_scale, look=_new_look(self.look_rng, s, major),
        )

    def random_position(self) -> tuple[float, float]:
        """A centre (y, x px) drawn uniformly in the frame."""
        y = float(self.rng.uniform(0, self.height))
        return y, float(self.rng.uniform(0, self.width))

    def distance(self, pos: tuple[float, float], cell: _Cell) -> float:
        """Distance (px) from ``pos`` (y, x) to ``cell``'s centre."""
        return math.hypot(pos[0] - cell.y, pos[1] - cell.x)

    def entering_cell(self, t: int, side: int, along: float) -> _Cell:
        """A cell entering through ``side`` at fraction ``along`` of it, its centre just outside, moving inwards."""
        s, h, w = self.s, self.height, self.width
        age = int(self.rng.integers(0, s.min_division_age_frames + 1))
        cell = self.new_cell((0.0, 0.0), t, age, self.daughter_scale)
        depth = 0.4 * cell.major  # centre just outside the border: a sliver shows, more next frame
        inward = max(s.speed_px_per_frame, 1.0)
        if side == 0:  # top
            cell.y, cell.x, cell.vy = -depth, along * w, inward
        elif side == 1:  # bottom
            cell.y, cell.x, cell.vy = h + depth, along * w, -inward
        elif side == 2:  # left
            cell.y, cell.x, cell.vx = along * h, -depth, inward
        else:  # right
            cell.y, cell.x, cell.vx = along * h, w + depth, -inward
        return cell

    def daughters(self, cell: _Cell, t: int, birth_scale: float) -> tuple[_Cell, _Cell]:
        """Two daughters beside the metaphase plate, separating perpendicular to its long axis (``theta``)."""
        s, rng = self.s, self.rng
        nx, ny = -math.sin(cell.theta), math.cos(cell.theta)
        born = []
        for sign in (1.0, -1.0):
            # Daughters inherit the mother's size and shape, with a little variation.
            d = self.new_cell((cell.y, cell.x), t, 0, birth_scale)
            d.major = float(cell.major * rng.lognormal(0.0, 0.05))
            d.ratio = float(np.clip(cell.ratio * rng.lognormal(0.0, 0.05), *s.aspect_ratio_range))
            d.brightness = float(cell.brightness * rng.lognormal(0.0, 0.1))
            d.theta = float(cell.theta + rng.normal(0, 0.2))
            d.boost = DAUGHTER_BOOST
            offset = 1.15 * d.major * d.ratio * d.birth_scale
            d.y, d.x = cell.y + sign * offset * ny, cell.x + sign * offset * nx
            sep = 0.5 * max(s.speed_px_per_frame, 0.5)
            d.vy, d.vx = cell.vy + sign * sep * ny, cell.vx + sign * sep * nx
            born.append(d)
        return born[0], born[1]

    # -- per-frame rules ---------------------------------------------------------------------

    def size(self, cell: _Cell, t: int) -> tuple[float, float]:
        """Current semi-axes (px) of an interphase nucleus at frame ``t``."""
        scale = self.growth(cell, t)
        return cell.major * scale, cell.major * cell.ratio * scale

    def move(self) -> None:
        """Persistent random walk (px/frame) and a slow turn of interphase nuclei; mitotic cells barely move."""
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

    def centre_yx(self, cell: _Cell) -> tuple[float, float]:
        """``cell``'s centre (y, x px)."""
        return cell.y, cell.x

    def positions(self) -> np.ndarray:
        """(n, 2) centres (y, x px)."""
        return np.array([[c.y, c.x] for c in self.cells], dtype=float)

    def set_positions(self, pos: np.ndarray) -> None:
        """Move the cells to the (n, 2) centres ``pos`` (y, x px)."""
        for cell, (y, x) in zip(self.cells, pos, strict=True):
            cell.y, cell.x = float(y), float(x)

    def mean_radius_now(self, cell: _Cell) -> float:
        """Geometric mean of the semi-axes (px) drawn at the current frame (a metaphase plate in mitosis)."""
        a, b = self.size(cell, self.t)
        if cell.mitosis_left >= 0:
            a, b = 0.85 * a, 0.4 * a
        return math.sqrt(a * b)

    def tie_breaker(self, n: int) -> np.ndarray:
        """(n, 2) offsets of 1e-6 px in distinct directions."""
        idx = np.arange(n, dtype=float)
        return 1e-6 * np.column_stack([np.cos(idx), np.sin(idx)])

    def plate_shot(self, cell: _Cell, t: int, brightness: float) -> _Snapshot:
        """A compact metaphase plate (0.85 x 0.4 of the semi-major axis)."""
        a, _ = self.size(cell, t)
        return _Snapshot(cell.agent, cell.y, cell.x, 0.85 * a, 0.4 * a, cell.theta, brightness, True, cell.look)

    def interphase_shot(self, cell: _Cell, t: int, brightness: float) -> _Snapshot:
        """The nucleus at its current size."""
        a, b = self.size(cell, t)
        return _Snapshot(cell.agent, cell.y, cell.x, a, b, cell.theta, brightness, False, cell.look)


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
    texture = look.texture(t, s.texture_strength, shot.mitotic, lambda raster: _sample(raster, u, v))
    if not shot.mitotic:
        for nu, nv, sigma, depth in look.nucleoli:
            texture *= 1 - np.float32(depth) * np.exp(-((u - nu) ** 2 + (v - nv) ** 2) / np.float32(2 * sigma * sigma))
    for su, sv, sigma, height_ in look.spots:
        texture += np.float32(height_) * np.exp(-((u - su) ** 2 + (v - sv) ** 2) / np.float32(2 * sigma * sigma))
    intensity = np.float32(shot.brightness) * dome(rho) * np.clip(texture, 0.05, None) * edge
    signal[y0:y1, x0:x1] += intensity

    # Labels: inside pixels; where nuclei overlap the one with the smaller normalised radius wins.
    return claim_voxels(owner[y0:y1, x0:x1], nearest[y0:y1, x0:x1], rho, shot.agent)


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
    illum, background = _illumination(s, noise_rng)
    haze_sigma = 3.0 * s.nucleus_radius_px

    def optics(signal: np.ndarray) -> np.ndarray:
        """Out-of-focus haze, optical blur, uneven illumination and background: expected grey levels."""
        if s.haze_fraction > 0:
            signal += np.float32(s.haze_fraction) * _haze(signal, haze_sigma)
        if s.blur_sigma_px > 0:
            signal = ndimage.gaussian_filter(signal, s.blur_sigma_px, mode="nearest")
        return np.clip(illum * signal + background, 0, None)

    def draw(shot: _Snapshot, t: int, signal: np.ndarray, owner: np.ndarray, nearest: np.ndarray) -> bool:
        return _draw_nucleus(shot, t, s, signal, owner, nearest)

    image, labels, tracks = film(history, s.shape, draw, optics, s.min_visible_area_px, s, noise_rng)
    h, w = s.shape
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
