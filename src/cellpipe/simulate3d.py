"""Simulated 3-D time-lapse (t, z, y, x) of fluorescent nuclei with exact CTC ground truth.

The 3-D counterpart of :mod:`cellpipe.simulate`: stacks of textured ellipsoidal nuclei as a
confocal or light-sheet microscope records them, with Cell Tracking Challenge (CTC) 3-D ground
truth (one (Z, Y, X) instance label stack per time point whose values are track ids, and a
``man_track`` table: label, first frame, last frame, parent).

Geometry is physical: cells live in µm, and voxels are anisotropic (``voxel_size_um`` = (z, y, x),
by default 2 µm between planes and 0.5 µm pixels), so a round nucleus spans about 4x fewer planes
than pixels across.  Plane ``k`` is at depth ``k * z`` µm below the coverslip (plane 0).

Model, in the order it is computed:

* **Cells** have a centre (µm), a velocity (µm/frame; an Ornstein-Uhlenbeck persistent random walk
  with RMS speed ``speed_um_per_frame``), an ellipsoidal nucleus (three semi-axes in µm along the
  columns of a random rotation fixed per cell), a brightness and an age (frames).  A soft pairwise
  repulsion keeps nuclei apart.  Centres stay between the first and the last plane (they are
  reflected there); nuclei near the top or bottom are cut by the stack.
* **Division**: after ``min_division_age_frames`` a cell well inside the field in x and y enters
  mitosis with ``division_probability`` per frame; for ``mitosis_frames`` frames it is drawn as a
  bright flattened disk (metaphase plate), then replaced by two smaller, bright daughters on either
  side of the plate (along its normal) that grow to full size over ``maturation_frames``.
* **Entry and exit**: new cells enter through the four x/y sides (``entry_rate`` per frame,
  Poisson) at a random depth; cells whose centre moves well outside the field are removed.
* **Image formation**, per stack: each nucleus is drawn only inside its bounding box (vectorised
  over those voxels): a dome profile times a smooth 3-D chromatin texture (two scales, changing
  slowly over time) with darker nucleoli.  The signal is photobleached, attenuated with depth
  (``exp(-depth / attenuation_length_um)``), blurred along z (``axial_blur_sigma_um``) and then in
  each plane by a Gaussian whose sigma grows with depth (``blur_sigma_um +
  blur_growth_per_um * depth``), added to a flat background; Poisson shot noise (``gain`` photons
  per grey level), Gaussian read noise and a camera offset give the uint16 stack.
* **Ground truth**: every voxel inside a nucleus is labelled; where nuclei overlap the one whose
  centre is nearer in its own normalised coordinates wins; each nucleus keeps its largest
  6-connected piece, and pieces of fewer than ``min_visible_voxels`` voxels are not labelled.
  Track ids and parents follow the same CTC rules as the 2-D simulator (shared code): a cell that
  becomes invisible and reappears gets a new track id with parent 0, and a division is recorded
  only when the mother is visible in her last frame and both daughters in their first.

Randomness comes only from ``np.random.default_rng(seed)`` (child streams for the dynamics, the
appearance and the noise), so equal settings give byte-identical arrays and noise settings do not
move the cells.  A stack of one plane (``shape_zyx = (1, Y, X)``) is a valid 2-D + time movie
(no depth, so no attenuation or depth-dependent blur); :func:`cellpipe.simulate.simulate_movie`
is the 2-D simulator (config ``simulate.<name>``), and its output does not depend on this module.

The settings are a frozen dataclass, so the simulator needs no pydantic; the workflow's
``simulate3d.<name>`` config entries (:class:`cellpipe.config.Simulation3DConfig`: the same fields and
defaults, which a test checks) become one with ``to_settings()``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from cellpipe.simulate import TRACK_COLUMNS, _Division, _keep_largest_pieces, _tracks_from_visibility

logger = logging.getLogger(__name__)

__all__ = ["Simulation3DSettings", "SimulatedMovie3D", "simulate_movie_3d", "make_nuclei_movie_3d", "TRACK_COLUMNS"]

_MAX_LABEL = int(np.iinfo(np.uint16).max)
_TEXTURE_EXTENT = 1.25  # texture rasters cover normalised coordinates [-1.25, 1.25] on each axis
_TEXTURE_SIZE = 16  # texels per side of a cell's 3-D texture raster
_DAUGHTER_SCALE = 0.75  # daughters are born with 0.75x the mother's semi-axes (about 0.42x her volume)
_MIN_BIRTH_SCALE = 0.5
_DAUGHTER_BOOST = 0.5  # extra relative brightness of newborn daughters, fading over ~3 frames
_MITOTIC_BOOST = 1.0  # extra relative brightness of a metaphase plate
_PLATE_AXES = (0.85, 0.85, 0.4)  # semi-axes of the metaphase plate relative to the largest semi-axis


@dataclass(frozen=True)
class Simulation3DSettings:
    """Settings of the 3-D nuclei simulator; lengths in µm unless a name says px or voxels.

    Attributes
    ----------
    n_frames : int
        Number of time points T.
    shape_zyx : tuple
        Stack size (Z, Y, X) in voxels; Z >= 1, Y and X >= 16.
    voxel_size_um : tuple
        Voxel size (z step, y, x) in µm; the z step is usually several times the pixel.
    frame_interval_min : float
        Time between stacks (minutes), written with the movie.
    seed : int
        Seed of ``np.random.default_rng``; equal settings give identical movies.
    n_cells : int
        Cells placed in the first stack.
    entry_rate : float
        Expected cells entering through the x/y sides per frame (Poisson).
    division_probability : float
        Probability per frame that a cell old enough starts mitosis (1/frame).
    min_division_age_frames : int
        Frames after birth before a cell can start mitosis (frames).
    mitosis_frames : int
        Frames a dividing cell is shown as a metaphase plate (frames).
    maturation_frames : int
        Frames a daughter takes to grow to full size (frames).
    nucleus_radius_um : float
        Mean largest semi-axis of a full-grown nucleus (µm).
    radius_sd_um : float
        Standard deviation of the largest semi-axis between cells (µm).
    axis_ratio_range : tuple
        Range of the other two semi-axes relative to the largest (0 < low <= high <= 1).
    speed_um_per_frame : float
        RMS speed of the persistent random walk (µm/frame).
    persistence : float
        Correlation of the velocity from one frame to the next (0 = Brownian).
    repulsion : float
        Fraction of an overlap between two nuclei resolved per relaxation step.
    nucleus_intensity : float
        Mean brightness of a nucleus above the background, before blur (grey levels).
    intensity_cv : float
        Coefficient of variation of the brightness between cells (log-normal).
    texture_strength : float
        Standard deviation of the chromatin texture relative to the brightness.
    nucleoli_max : int
        Each nucleus has 0..nucleoli_max darker nucleoli.
    blur_sigma_um : float
        Lateral (y, x) sigma of the Gaussian point-spread function at depth 0 (µm).
    blur_growth_per_um : float
        Increase of the lateral sigma per µm of depth (µm/µm).
    axial_blur_sigma_um : float
        Sigma of the point-spread function along z (µm).
    attenuation_length_um : float
        Depth over which the signal falls to 1/e (µm); 0 = no attenuation.
    background : float
        Flat background light above the camera offset (grey levels; has shot noise).
    photobleaching_per_frame : float
        Fraction of the nuclear signal lost per frame.
    gain : float
        Photons per grey level; shot noise SD is sqrt(signal / gain) grey levels.
    read_noise_sd : float
        Standard deviation of the Gaussian read noise (grey levels).
    camera_offset : float
        Constant camera baseline (grey levels).
    min_visible_voxels : int
        Nuclei showing fewer voxels than this in a stack are not labelled there (voxels).
    """

    n_frames: int = 30
    shape_zyx: tuple[int, int, int] = (32, 256, 256)
    voxel_size_um: tuple[float, float, float] = (2.0, 0.5, 0.5)
    frame_interval_min: float = 5.0
    seed: int = 0
    n_cells: int = 32
    entry_rate: float = 0.2
    division_probability: float = 0.02
    min_division_age_frames: int = 10
    mitosis_frames: int = 1
    maturation_frames: int = 15
    nucleus_radius_um: float = 5.0
    radius_sd_um: float = 0.5
    axis_ratio_range: tuple[float, float] = (0.65, 0.95)
    speed_um_per_frame: float = 0.8
    persistence: float = 0.7
    repulsion: float = 0.5
    nucleus_intensity: float = 600.0
    intensity_cv: float = 0.3
    texture_strength: float = 0.25
    nucleoli_max: int = 3
    blur_sigma_um: float = 0.4
    blur_growth_per_um: float = 0.01
    axial_blur_sigma_um: float = 1.2
    attenuation_length_um: float = 120.0
    background: float = 100.0
    photobleaching_per_frame: float = 0.005
    gain: float = 1.0
    read_noise_sd: float = 4.0
    camera_offset: float = 100.0
    min_visible_voxels: int = 20

    def __post_init__(self) -> None:
        problems = []
        z, y, x = (int(v) for v in self.shape_zyx)
        if len(self.shape_zyx) != 3 or z < 1 or min(y, x) < 16:
            problems.append(f"shape_zyx {self.shape_zyx}: need (Z, Y, X) with Z >= 1 and Y, X >= 16")
        if len(self.voxel_size_um) != 3 or not all(math.isfinite(v) and v > 0 for v in self.voxel_size_um):
            problems.append(f"voxel_size_um {self.voxel_size_um}: need three positive sizes (z, y, x) in µm")
        low, high = self.axis_ratio_range
        if not 0 < low <= high <= 1:
            problems.append(f"axis_ratio_range {self.axis_ratio_range}: need 0 < low <= high <= 1")
        if self.n_frames < 1 or self.n_cells < 0 or self.mitosis_frames < 1 or self.maturation_frames < 1:
            problems.append("n_frames, mitosis_frames and maturation_frames must be >= 1 and n_cells >= 0")
        if self.min_division_age_frames < 1 or self.min_visible_voxels < 1:
            problems.append("min_division_age_frames and min_visible_voxels must be >= 1")
        if not 0 <= self.division_probability <= 1 or not 0 <= self.persistence < 1 or not 0 <= self.repulsion <= 1:
            problems.append("division_probability and repulsion must be in [0, 1], persistence in [0, 1)")
        if not 0 <= self.photobleaching_per_frame < 1:
            problems.append("photobleaching_per_frame must be in [0, 1)")
        if self.nucleus_radius_um <= 0 or self.nucleus_intensity <= 0 or self.gain <= 0:
            problems.append("nucleus_radius_um, nucleus_intensity and gain must be positive")
        non_negative = ("entry_rate", "radius_sd_um", "speed_um_per_frame", "intensity_cv", "texture_strength",
                        "nucleoli_max", "blur_sigma_um", "blur_growth_per_um", "axial_blur_sigma_um",
                        "attenuation_length_um", "background", "read_noise_sd", "camera_offset")
        negative = [name for name in non_negative if getattr(self, name) < 0]
        if negative:
            problems.append(f"must not be negative: {', '.join(negative)}")
        if self.nucleus_radius_um * 2 > min(y * self.voxel_size_um[1], x * self.voxel_size_um[2]):
            problems.append(f"nucleus_radius_um {self.nucleus_radius_um} is too large for a field of {y}x{x} px")
        if problems:
            raise ValueError("invalid Simulation3DSettings: " + "; ".join(problems))
        object.__setattr__(self, "shape_zyx", (z, y, x))
        object.__setattr__(self, "voxel_size_um", tuple(float(v) for v in self.voxel_size_um))
        object.__setattr__(self, "axis_ratio_range", (float(low), float(high)))

    @property
    def extent_um(self) -> tuple[float, float, float]:
        """Size of the imaged volume (z, y, x) in µm: number of voxels times the voxel size."""
        return tuple(n * d for n, d in zip(self.shape_zyx, self.voxel_size_um, strict=True))  # type: ignore[return-value]


@dataclass
class SimulatedMovie3D:
    """A simulated 3-D movie and its CTC ground truth.

    Attributes
    ----------
    image : numpy.ndarray
        (T, Z, Y, X) uint16 raw intensities (grey levels).
    labels : numpy.ndarray
        (T, Z, Y, X) uint16 instance masks; each value is a track id (0 = background).
    tracks : pandas.DataFrame
        One row per track, columns ``label, first_frame, last_frame, parent`` (frames
        0-based, parent 0 = none), CTC ``man_track`` semantics.
    voxel_size_um : tuple
        Voxel size (z, y, x) in µm.
    frame_interval_min : float
        Time between stacks (minutes).
    """

    image: np.ndarray
    labels: np.ndarray
    tracks: pd.DataFrame
    voxel_size_um: tuple[float, float, float]
    frame_interval_min: float

    @property
    def n_divisions(self) -> int:
        """Number of recorded divisions (mothers with two daughters in ``tracks``)."""
        return int(self.tracks.loc[self.tracks["parent"] > 0, "parent"].nunique())


# ------------------------------------------------------------------------------------------
# dynamics (all lengths in µm, order z, y, x)
# ------------------------------------------------------------------------------------------


@dataclass
class _Look:
    """Appearance of one nucleus that does not change with time (normalised coordinates)."""

    fine: tuple[np.ndarray, np.ndarray]  # two fine 3-D texture rasters, cross-faded over time
    coarse: tuple[np.ndarray, np.ndarray]
    texture_rate: float  # rad/frame of the cross-fade
    texture_phase: float
    nucleoli: np.ndarray  # (n, 5): u, v, w, sigma, depth


@dataclass
class _Cell:
    agent: int
    pos: np.ndarray  # (3,) centre (µm)
    vel: np.ndarray  # (3,) velocity (µm/frame)
    major: float  # full-grown largest semi-axis (µm)
    ratios: np.ndarray  # (3,) semi-axes relative to major; ratios[0] == 1
    rot: np.ndarray  # (3, 3) rotation; column i is the direction of semi-axis i in (z, y, x)
    brightness: float
    birth_frame: int
    birth_scale: float
    look: _Look
    mitosis_left: int = -1  # -1: interphase; k >= 0: k more mitotic frames to show
    boost: float = 0.0

    def age(self, t: int) -> int:
        return t - self.birth_frame


@dataclass
class _Snapshot:
    """What is drawn for one cell in one stack."""

    agent: int
    pos: np.ndarray
    axes: np.ndarray  # (3,) semi-axes (µm) along the columns of rot
    rot: np.ndarray
    brightness: float
    mitotic: bool
    look: _Look


@dataclass
class _History:
    frames: list[list[_Snapshot]] = field(default_factory=list)
    divisions: list[_Division] = field(default_factory=list)
    n_agents: int = 0


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (from a normalised Gaussian quaternion)."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _smooth_noise_3d(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """A (size, size, size) Gaussian-smoothed noise raster with zero mean and unit SD."""
    raster = ndimage.gaussian_filter(rng.standard_normal((size, size, size)), sigma, mode="wrap")
    sd = float(raster.std())
    return ((raster - raster.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)


def _new_look(rng: np.random.Generator, s: Simulation3DSettings) -> _Look:
    n = _TEXTURE_SIZE
    fine = (_smooth_noise_3d(rng, n, 0.8), _smooth_noise_3d(rng, n, 0.8))
    coarse = (_smooth_noise_3d(rng, n, n / 8), _smooth_noise_3d(rng, n, n / 8))
    n_nuc = int(rng.integers(0, s.nucleoli_max + 1)) if s.nucleoli_max else 0
    direction = rng.standard_normal((n_nuc, 3))
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    radius = np.cbrt(rng.uniform(0, 0.3, n_nuc))[:, None] * 0.8
    nucleoli = np.column_stack([direction * radius, rng.uniform(0.13, 0.24, n_nuc), 0.5 * rng.uniform(0.6, 1.0, n_nuc)])
    return _Look(fine, coarse, float(rng.uniform(0.02, 0.06)), float(rng.uniform(0, 2 * np.pi)), nucleoli)


class _Population:
    """The cells alive at the current frame and the rules that move, divide, add and remove them."""

    def __init__(self, s: Simulation3DSettings, rng: np.random.Generator, look_rng: np.random.Generator) -> None:
        self.s = s
        self.rng = rng
        self.look_rng = look_rng
        self.t = 0
        self.cells: list[_Cell] = []
        self.history = _History()
        dz, dy, dx = s.voxel_size_um
        z, y, x = s.shape_zyx
        self.z_max = (z - 1) * dz  # centres stay between the first and the last plane
        self.height, self.width = y * dy, x * dx
        # RMS speed v means E|v|^2 = v^2: sigma^2 = v^2 / 3 per axis in 3-D, v^2 / 2 when flat.
        self.velocity_sd = s.speed_um_per_frame / math.sqrt(3.0 if self.z_max > 0 else 2.0)

    def _next_agent(self) -> int:
        agent = self.history.n_agents
        self.history.n_agents += 1
        return agent

    def _velocity(self) -> np.ndarray:
        vel = self.rng.normal(0, self.velocity_sd, 3)
        if self.z_max <= 0:
            vel[0] = 0.0
        return vel

    def _new_cell(self, pos: np.ndarray, t: int, age: int, birth_scale: float) -> _Cell:
        rng, s = self.rng, self.s
        low = 0.5 * s.nucleus_radius_um
        major = float(np.clip(rng.normal(s.nucleus_radius_um, s.radius_sd_um), low, 1.6 * s.nucleus_radius_um))
        ratios = np.concatenate([[1.0], np.sort(rng.uniform(*s.axis_ratio_range, 2))[::-1]])
        sigma = math.sqrt(math.log1p(s.intensity_cv**2))
        brightness = float(s.nucleus_intensity * rng.lognormal(-0.5 * sigma**2, sigma))
        return _Cell(self._next_agent(), np.asarray(pos, dtype=float), self._velocity(), major, ratios,
                     _random_rotation(rng), brightness, t - age, birth_scale, _new_look(self.look_rng, s))

    def seed_initial(self) -> None:
        s, rng = self.s, self.rng
        for _ in range(s.n_cells):
            pos = np.zeros(3)
            for _attempt in range(200):
                pos = np.array([rng.uniform(0, self.z_max), rng.uniform(0, self.height), rng.uniform(0, self.width)])
                if all(np.linalg.norm(pos - c.pos) > 2.2 * s.nucleus_radius_um for c in self.cells):
                    break
            age = int(rng.integers(0, s.min_division_age_frames + s.maturation_frames + 1))
            self.cells.append(self._new_cell(pos, 0, age, _DAUGHTER_SCALE))
        self.relax()

    def enter(self, t: int) -> None:
        """Cells entering through a random x/y side, moving inwards, at a random depth."""
        s, rng = self.s, self.rng
        n_new = int(rng.poisson(s.entry_rate)) if s.entry_rate > 0 else 0
        h, w = self.height, self.width
        for _ in range(n_new):
            side = int(rng.choice(4, p=np.array([w, w, h, h]) / (2 * (w + h))))
            along = float(rng.uniform(0, 1))
            z = float(rng.uniform(0, self.z_max))
            age = int(rng.integers(0, s.min_division_age_frames + 1))
            cell = self._new_cell(np.zeros(3), t, age, _DAUGHTER_SCALE)
            depth = 0.4 * cell.major  # centre just outside the side: a sliver shows, more next frame
            inward = max(s.speed_um_per_frame, 0.5)
            if side == 0:
                cell.pos[:] = (z, -depth, along * w)
                cell.vel[1] = inward
            elif side == 1:
                cell.pos[:] = (z, h + depth, along * w)
                cell.vel[1] = -inward
            elif side == 2:
                cell.pos[:] = (z, along * h, -depth)
                cell.vel[2] = inward
            else:
                cell.pos[:] = (z, along * h, w + depth)
                cell.vel[2] = -inward
            self.cells.append(cell)

    def axes(self, cell: _Cell, t: int) -> np.ndarray:
        """Current semi-axes (µm) of an interphase nucleus."""
        grown = min(1.0, cell.age(t) / self.s.maturation_frames)
        scale = cell.birth_scale + (1.0 - cell.birth_scale) * grown
        return cell.major * scale * cell.ratios

    def _axes_now(self, cell: _Cell) -> np.ndarray:
        a = self.axes(cell, self.t)
        return a[0] * np.array(_PLATE_AXES) if cell.mitosis_left >= 0 else a

    def divide(self, t: int) -> None:
        """Replace every cell whose mitosis is over by two daughters on either side of its plate."""
        s, rng = self.s, self.rng
        survivors: list[_Cell] = []
        for cell in self.cells:
            if cell.mitosis_left != 0:
                survivors.append(cell)
                continue
            normal = cell.rot[:, 2]  # the plate is thin along the third axis; daughters separate along it
            mother_scale = self.axes(cell, t - 1)[0] / cell.major
            daughters = []
            for sign in (1.0, -1.0):
                d = self._new_cell(cell.pos, t, 0, max(_DAUGHTER_SCALE * mother_scale, _MIN_BIRTH_SCALE))
                d.major = float(cell.major * rng.lognormal(0.0, 0.05))
                d.brightness = float(cell.brightness * rng.lognormal(0.0, 0.1))
                d.boost = _DAUGHTER_BOOST
                offset = 1.1 * d.major * d.ratios[2] * d.birth_scale
                d.pos = cell.pos + sign * offset * normal
                d.vel = cell.vel + sign * 0.5 * max(s.speed_um_per_frame, 0.5) * normal
                if self.z_max <= 0:
                    d.pos[0], d.vel[0] = 0.0, 0.0
                daughters.append(d)
            survivors.extend(daughters)
            self.history.divisions.append(_Division(cell.agent, t - 1, (daughters[0].agent, daughters[1].agent)))
        self.cells = survivors
        self._keep_in_depth()

    def move(self) -> None:
        """Persistent random walk; mitotic cells barely move."""
        p = self.s.persistence
        kick = math.sqrt(1 - p * p) * self.velocity_sd
        for cell in self.cells:
            cell.vel = p * cell.vel + kick * self.rng.normal(0.0, 1.0, 3)
            if self.z_max <= 0:
                cell.vel[0] = 0.0
            cell.pos = cell.pos + (0.2 if cell.mitosis_left > 0 else 1.0) * cell.vel
        self._keep_in_depth()

    def _keep_in_depth(self) -> None:
        """Reflect centres (and z velocities) at the first and the last plane."""
        for cell in self.cells:
            z = cell.pos[0]
            if self.z_max <= 0:
                cell.pos[0] = 0.0
                continue
            if z < 0:
                cell.pos[0], cell.vel[0] = min(-z, self.z_max), abs(cell.vel[0])
            elif z > self.z_max:
                cell.pos[0], cell.vel[0] = max(2 * self.z_max - z, 0.0), -abs(cell.vel[0])

    def relax(self, steps: int = 4) -> None:
        """Soft repulsion: push apart nuclei closer than the sum of their mean radii."""
        n = len(self.cells)
        if n < 2 or self.s.repulsion <= 0:
            return
        pos = np.array([c.pos for c in self.cells])
        radius = np.array([float(np.prod(self._axes_now(c)) ** (1 / 3)) for c in self.cells])
        reach = radius[:, None] + radius[None, :]
        idx = np.arange(n, dtype=float)
        tie = 1e-6 * np.column_stack([np.zeros(n) if self.z_max <= 0 else np.sin(2 * idx), np.cos(idx), np.sin(idx)])
        for _ in range(steps):
            diff = (pos + tie)[:, None, :] - (pos + tie)[None, :, :]
            dist = np.sqrt((diff**2).sum(-1))
            np.fill_diagonal(dist, np.inf)
            overlap = np.clip(reach - dist, 0, None)
            if not overlap.any():
                break
            pos += ((0.5 * self.s.repulsion * overlap / dist)[:, :, None] * diff).sum(axis=1)
        for cell, p in zip(self.cells, pos, strict=True):
            cell.pos = p.copy()
        self._keep_in_depth()

    def leave(self) -> None:
        """Remove cells whose centre is well outside the field in x or y."""
        kept = []
        for cell in self.cells:
            m = 1.6 * cell.major + 1
            if -m <= cell.pos[1] <= self.height + m and -m <= cell.pos[2] <= self.width + m:
                kept.append(cell)
        self.cells = kept

    def start_mitoses(self, t: int) -> None:
        s, rng = self.s, self.rng
        if s.division_probability <= 0:
            return
        for cell in self.cells:
            if cell.mitosis_left >= 0 or cell.age(t) < s.min_division_age_frames:
                continue
            m = 2.0 * cell.major + 1
            inside = m <= cell.pos[1] <= self.height - m and m <= cell.pos[2] <= self.width - m
            if inside and rng.uniform() < s.division_probability:
                cell.mitosis_left = s.mitosis_frames

    def snapshot(self, t: int) -> list[_Snapshot]:
        shots = []
        for cell in self.cells:
            if cell.mitosis_left > 0:
                axes = self.axes(cell, t)[0] * np.array(_PLATE_AXES)
                shots.append(_Snapshot(cell.agent, cell.pos.copy(), axes, cell.rot, cell.brightness * (1 + _MITOTIC_BOOST),
                                       True, cell.look))
                cell.mitosis_left -= 1
            else:
                fade = cell.boost * math.exp(-cell.age(t) / 3.0)
                shots.append(_Snapshot(cell.agent, cell.pos.copy(), self.axes(cell, t), cell.rot,
                                       cell.brightness * (1 + fade), False, cell.look))
        return shots

    def run(self) -> _History:
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


def _sample(raster: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Trilinear lookup of a 3-D texture raster at normalised coordinates ``coords`` (3, ...)."""
    scale = (raster.shape[0] - 1) / (2 * _TEXTURE_EXTENT)
    return ndimage.map_coordinates(raster, (coords + _TEXTURE_EXTENT) * scale, order=1, mode="nearest")


def _draw_nucleus(
    shot: _Snapshot, t: int, s: Simulation3DSettings, signal: np.ndarray, owner: np.ndarray, nearest: np.ndarray
) -> bool:
    """Add one nucleus to ``signal`` (Z, Y, X) and claim its voxels in ``owner``; True if it overlapped another."""
    voxel = np.array(s.voxel_size_um)
    reach = float(shot.axes.max()) + voxel[1:].max()
    lo = np.maximum(0, np.floor((shot.pos - reach) / voxel)).astype(int)
    hi = np.minimum(signal.shape, np.ceil((shot.pos + reach) / voxel).astype(int) + 1)
    if (lo >= hi).any():
        return False
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    # offsets (µm) of the box's voxel centres from the nucleus centre, one broadcastable axis each
    offsets = [
        ((np.arange(lo[i], hi[i]) * voxel[i] - shot.pos[i]).astype(np.float32)).reshape([-1 if j == i else 1 for j in range(3)])
        for i in range(3)
    ]
    # coordinates along the nucleus' own axes, normalised by its semi-axes: inside where |coords| < 1
    coords = np.stack([
        sum(np.float32(shot.rot[i, k]) * offsets[i] for i in range(3)) / np.float32(shot.axes[k]) for k in range(3)
    ])
    rho = np.sqrt((coords * coords).sum(axis=0))
    # anti-aliased surface about one lateral pixel wide
    edge = np.clip((1 - rho) * np.float32(float(shot.axes.min()) / voxel[2]) + 0.5, 0, 1)
    if not edge.any():
        return False
    dome = 0.7 + 0.3 * np.sqrt(np.clip(1 - rho * rho, 0, 1))
    look = shot.look
    phase = look.texture_phase + look.texture_rate * t
    cw, sw = np.float32(math.cos(phase)), np.float32(math.sin(phase))
    fine = cw * _sample(look.fine[0], coords) + sw * _sample(look.fine[1], coords)
    coarse = cw * _sample(look.coarse[0], coords) + sw * _sample(look.coarse[1], coords)
    strength = s.texture_strength * (0.5 if shot.mitotic else 1.0)
    texture = 1 + np.float32(strength) * (0.6 * fine + 0.8 * coarse)
    if not shot.mitotic:
        for nu, nv, nw, sigma, depth in look.nucleoli:
            d2 = (coords[0] - nu) ** 2 + (coords[1] - nv) ** 2 + (coords[2] - nw) ** 2
            texture *= 1 - np.float32(depth) * np.exp(-d2 / np.float32(2 * sigma * sigma))
    signal[box] += np.float32(shot.brightness) * dome * np.clip(texture, 0.05, None) * edge

    inside = rho < 1
    near = nearest[box]
    contested = bool((inside & np.isfinite(near)).any())
    win = inside & (rho < near)
    near[win] = rho[win]
    owner[box][win] = shot.agent + 1
    return contested


def _optics(signal: np.ndarray, s: Simulation3DSettings) -> np.ndarray:
    """Attenuation with depth, axial blur and depth-dependent lateral blur of one (Z, Y, X) signal stack."""
    dz, dy, _dx = s.voxel_size_um
    depth = np.arange(signal.shape[0]) * dz  # µm below plane 0
    if s.attenuation_length_um > 0:
        signal *= np.exp(-depth / s.attenuation_length_um).astype(np.float32)[:, None, None]
    if s.axial_blur_sigma_um > 0 and signal.shape[0] > 1:
        signal = ndimage.gaussian_filter1d(signal, s.axial_blur_sigma_um / dz, axis=0, mode="nearest")
    for k, d in enumerate(depth):
        sigma_px = (s.blur_sigma_um + s.blur_growth_per_um * d) / dy
        if sigma_px > 0:
            signal[k] = ndimage.gaussian_filter(signal[k], sigma_px, mode="nearest")
    return signal


def simulate_movie_3d(settings: Simulation3DSettings) -> SimulatedMovie3D:
    """Simulate a 3-D fluorescent-nuclei movie and its CTC ground truth (see the module docstring).

    Returns a :class:`SimulatedMovie3D` with (T, Z, Y, X) uint16 ``image`` and ``labels`` (values are
    track ids) and the ``tracks`` table derived from the labels.
    """
    s = settings
    dyn_rng, look_rng, noise_rng = np.random.default_rng(s.seed).spawn(3)
    history = _Population(s, dyn_rng, look_rng).run()
    if history.n_agents >= _MAX_LABEL:
        raise ValueError(f"the simulation created {history.n_agents} cells; at most {_MAX_LABEL - 1} are supported")

    shape = s.shape_zyx
    image = np.empty((s.n_frames, *shape), dtype=np.uint16)
    labels = np.empty((s.n_frames, *shape), dtype=np.uint16)
    visible: list[np.ndarray] = []
    for t, shots in enumerate(history.frames):
        signal = np.zeros(shape, dtype=np.float32)
        owner = labels[t]
        owner[...] = 0
        nearest = np.full(shape, np.inf, dtype=np.float32)
        contested = False
        for shot in shots:
            contested |= _draw_nucleus(shot, t, s, signal, owner, nearest)
        if contested:
            _keep_largest_pieces(owner)  # n-D: 6-connected pieces in a stack
        volume = np.bincount(owner.ravel(), minlength=history.n_agents + 1)
        volume[0] = 0
        visible.append(np.flatnonzero(volume >= s.min_visible_voxels) - 1)

        signal *= np.float32((1 - s.photobleaching_per_frame) ** t)
        signal = _optics(signal, s)
        expected = np.clip(signal + np.float32(s.background), 0, None)
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
        "simulated %d stacks of %s voxels (%s µm): %d tracks, %d divisions (seed %d)",
        s.n_frames, shape, s.voxel_size_um, len(tracks), int(tracks.loc[tracks["parent"] > 0, "parent"].nunique()), s.seed,
    )
    return SimulatedMovie3D(image, labels, tracks, s.voxel_size_um, s.frame_interval_min)


def make_nuclei_movie_3d(
    n_frames: int = 4, shape_zyx: tuple[int, int, int] = (8, 48, 48), seed: int = 0, **overrides: object
) -> SimulatedMovie3D:
    """A small simulated 3-D movie for tests and examples.

    For fields smaller than 256 px the nucleus radius scales with the field (``min(Y, X) * pixel / 8``
    µm, clipped to 2.5..5 µm) and the number of cells with the imaged volume (nuclei filling about
    5 % of it, at least 2: 6 cells in 8 x 48 x 48 voxels of 2 x 0.5 x 0.5 µm); from 256 px on the
    :class:`Simulation3DSettings` defaults apply.  Any field can be given in ``overrides`` and wins
    over these choices.
    """
    params: dict[str, object] = {"n_frames": n_frames, "shape_zyx": tuple(shape_zyx), "seed": seed}
    voxel = tuple(overrides.get("voxel_size_um", Simulation3DSettings.voxel_size_um))  # type: ignore[arg-type]
    side = min(shape_zyx[1], shape_zyx[2])
    if side < 256:
        radius = float(np.clip(side * voxel[1] / 8, 2.5, 5.0))
        volume = max(shape_zyx[0] * voxel[0], 2 * radius) * shape_zyx[1] * voxel[1] * shape_zyx[2] * voxel[2]
        n_cells = max(2, round(0.05 * volume / (4 / 3 * math.pi * radius**3 * 0.65)))
        params.update(nucleus_radius_um=radius, radius_sd_um=0.1 * radius, n_cells=n_cells)
    params.update(overrides)
    return simulate_movie_3d(Simulation3DSettings(**params))  # type: ignore[arg-type]
