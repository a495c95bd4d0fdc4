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

The settings are :class:`cellpipe.config.Simulation3DSettings`, the model of a ``simulate3d.<name>``
entry of the workflow's config, as :class:`cellpipe.config.SimulationSettings` is for the 2-D
simulator.  The population's rules (division, entry, exit, repulsion, the frame order) and the
derivation of the ground truth are shared with the 2-D simulator (:mod:`cellpipe.simulate_world`);
this module gives the 3-D geometry, the drawing of a nucleus and the optics.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cellpipe.config import Simulation3DSettings
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

__all__ = ["SimulatedMovie3D", "simulate_movie_3d", "make_nuclei_movie_3d", "TRACK_COLUMNS"]

_TEXTURE_EXTENT = 1.25  # texture rasters cover normalised coordinates [-1.25, 1.25] on each axis
_TEXTURE_SIZE = 16  # texels per side of a cell's 3-D texture raster
_PLATE_AXES = (0.85, 0.85, 0.4)  # semi-axes of the metaphase plate relative to the largest semi-axis


@dataclass
class SimulatedMovie3D(SimulatedNuclei):
    """A simulated 3-D movie and its CTC ground truth.

    Attributes
    ----------
    image : numpy.ndarray
        (T, Z, Y, X) uint16 raw intensities (grey levels).
    labels : numpy.ndarray
        (T, Z, Y, X) uint16 instance masks; each value is a track id (0 = background).
    tracks : pandas.DataFrame
        One row per track, columns ``label, first_frame, last_frame, parent`` (frames 0-based, parent
        0 = none), CTC ``man_track`` semantics.
    voxel_size_um : tuple of float
        Voxel size (z, y, x) in µm.
    frame_interval_min : float
        Time between stacks (minutes).
    """

    voxel_size_um: tuple[float, float, float]
    frame_interval_min: float


# ------------------------------------------------------------------------------------------
# dynamics (all lengths in µm, order z, y, x)
# ------------------------------------------------------------------------------------------


@dataclass
class _Look(Look):
    """Appearance of one nucleus that does not change with time.

    In normalised coordinates: the 3-D chromatin texture and nucleoli.
    """

    nucleoli: np.ndarray  # (n, 5): u, v, w, sigma, depth


@dataclass(kw_only=True)
class _Cell(Cell):
    """One simulated cell's state beyond :class:`~cellpipe.simulate_world.Cell`.

    Centre (µm), velocity (µm/frame), nucleus shape (``major`` in µm) and appearance.
    """

    pos: np.ndarray  # (3,) centre (µm)
    vel: np.ndarray  # (3,) velocity (µm/frame)
    ratios: np.ndarray  # (3,) semi-axes relative to major; ratios[0] == 1
    rot: np.ndarray  # (3, 3) rotation; column i is the direction of semi-axis i in (z, y, x)
    look: _Look


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


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (from a normalised Gaussian quaternion)."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _new_look(rng: np.random.Generator, s: Simulation3DSettings) -> _Look:
    """A nucleus's fixed appearance: 3-D texture rasters (normalised coordinates) and darker nucleoli."""
    n = (_TEXTURE_SIZE,) * 3
    fine = (smooth_noise(rng, n, 0.8), smooth_noise(rng, n, 0.8))
    coarse = (smooth_noise(rng, n, _TEXTURE_SIZE / 8), smooth_noise(rng, n, _TEXTURE_SIZE / 8))
    n_nuc = int(rng.integers(0, s.nucleoli_max + 1)) if s.nucleoli_max else 0
    direction = rng.standard_normal((n_nuc, 3))
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    radius = np.cbrt(rng.uniform(0, 0.3, n_nuc))[:, None] * 0.8
    nucleoli = np.column_stack([direction * radius, rng.uniform(0.13, 0.24, n_nuc), 0.5 * rng.uniform(0.6, 1.0, n_nuc)])
    return _Look(fine, coarse, float(rng.uniform(0.02, 0.06)), float(rng.uniform(0, 2 * np.pi)), nucleoli)


class _Population(Population[_Cell, _Snapshot]):
    """The 3-D geometry of the shared population rules: centres and velocities in µm (z, y, x), ellipsoids.

    Centres stay between the first and the last plane (reflected there); with one plane they stay in it.
    """

    daughter_scale = 0.75  # daughters are born with 0.75x the mother's semi-axes (about 0.42x her volume)
    min_birth_scale = 0.5
    edge_pad = 1.0

    def __init__(self, s: Simulation3DSettings, rng: np.random.Generator, look_rng: np.random.Generator) -> None:
        """No cells yet; ``rng`` drives motion, sizes and decisions, ``look_rng`` appearance only."""
        dz, dy, dx = s.voxel_size_um
        z, y, x = s.shape_zyx
        super().__init__(s, rng, look_rng, y * dy, x * dx, spacing=2.2 * s.nucleus_radius_um)
        self.s: Simulation3DSettings = s
        self.z_max = (z - 1) * dz  # centres stay between the first and the last plane
        # RMS speed v means E|v|^2 = v^2: sigma^2 = v^2 / 3 per axis in 3-D, v^2 / 2 when flat.
        self.velocity_sd = s.speed_um_per_frame / math.sqrt(3.0 if self.z_max > 0 else 2.0)

    # -- creation ----------------------------------------------------------------------------

    def _velocity(self) -> np.ndarray:
        """A random velocity (µm/frame), in the plane when the stack has one plane."""
        vel = self.rng.normal(0, self.velocity_sd, 3)
        if self.z_max <= 0:
            vel[0] = 0.0
        return vel

    def new_cell(self, pos: np.ndarray, t: int, age: int, birth_scale: float) -> _Cell:
        """A cell centred at ``pos`` (z, y, x µm), ``age`` frames old at frame ``t``, born at ``birth_scale``."""
        rng, s = self.rng, self.s
        major = draw_major(rng, s.nucleus_radius_um, s.radius_sd_um, 0.5 * s.nucleus_radius_um)
        ratios = np.concatenate([[1.0], np.sort(rng.uniform(*s.axis_ratio_range, 2))[::-1]])
        brightness = draw_brightness(rng, s.nucleus_intensity, s.intensity_cv)
        return _Cell(agent=self.next_agent(), pos=np.asarray(pos, dtype=float), vel=self._velocity(), major=major,
                     ratios=ratios, rot=_random_rotation(rng), brightness=brightness, birth_frame=t - age,
                     birth_scale=birth_scale, look=_new_look(self.look_rng, s))

    def random_position(self) -> np.ndarray:
        """A centre (z, y, x µm) drawn uniformly between the first and the last plane."""
        rng = self.rng
        return np.array([rng.uniform(0, self.z_max), rng.uniform(0, self.height), rng.uniform(0, self.width)])

    def distance(self, pos: np.ndarray, cell: _Cell) -> float:
        """Distance (µm) from ``pos`` to ``cell``'s centre."""
        return float(np.linalg.norm(pos - cell.pos))

    def entering_cell(self, t: int, side: int, along: float) -> _Cell:
        """A cell entering through an x/y ``side`` at fraction ``along`` of it and a random depth, moving inwards."""
        s, h, w = self.s, self.height, self.width
        z = float(self.rng.uniform(0, self.z_max))
        age = int(self.rng.integers(0, s.min_division_age_frames + 1))
        cell = self.new_cell(np.zeros(3), t, age, self.daughter_scale)
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
        return cell

    def daughters(self, cell: _Cell, t: int, birth_scale: float) -> tuple[_Cell, _Cell]:
        """Two daughters on either side of the plate, separating along its normal (the third axis)."""
        s, rng = self.s, self.rng
        normal = cell.rot[:, 2]
        born = []
        for sign in (1.0, -1.0):
            d = self.new_cell(cell.pos, t, 0, birth_scale)
            d.major = float(cell.major * rng.lognormal(0.0, 0.05))
            d.brightness = float(cell.brightness * rng.lognormal(0.0, 0.1))
            d.boost = DAUGHTER_BOOST
            offset = 1.1 * d.major * d.ratios[2] * d.birth_scale
            d.pos = cell.pos + sign * offset * normal
            d.vel = cell.vel + sign * 0.5 * max(s.speed_um_per_frame, 0.5) * normal
            if self.z_max <= 0:
                d.pos[0], d.vel[0] = 0.0, 0.0
            born.append(d)
        return born[0], born[1]

    # -- per-frame rules ---------------------------------------------------------------------

    def axes(self, cell: _Cell, t: int) -> np.ndarray:
        """Current semi-axes (µm) of an interphase nucleus at frame ``t``."""
        return cell.major * self.growth(cell, t) * cell.ratios

    def divide(self, t: int) -> None:
        """The shared division rule, then daughters born beyond the first or last plane are reflected."""
        super().divide(t)
        self._keep_in_depth()

    def move(self) -> None:
        """Persistent random walk (µm/frame); mitotic cells barely move."""
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

    def centre_yx(self, cell: _Cell) -> tuple[float, float]:
        """``cell``'s centre in the plane (y, x µm)."""
        return cell.pos[1], cell.pos[2]

    def positions(self) -> np.ndarray:
        """(n, 3) centres (z, y, x µm)."""
        return np.array([c.pos for c in self.cells])

    def set_positions(self, pos: np.ndarray) -> None:
        """Move the cells to the (n, 3) centres ``pos`` (µm), reflected at the first and last plane."""
        for cell, p in zip(self.cells, pos, strict=True):
            cell.pos = p.copy()
        self._keep_in_depth()

    def mean_radius_now(self, cell: _Cell) -> float:
        """Geometric mean of the semi-axes (µm) drawn at the current frame (a metaphase plate in mitosis)."""
        a = self.axes(cell, self.t)
        if cell.mitosis_left >= 0:
            a = a[0] * np.array(_PLATE_AXES)
        return float(np.prod(a) ** (1 / 3))

    def tie_breaker(self, n: int) -> np.ndarray:
        """(n, 3) offsets of 1e-6 µm in distinct directions (none in z when the stack has one plane)."""
        idx = np.arange(n, dtype=float)
        return 1e-6 * np.column_stack([np.zeros(n) if self.z_max <= 0 else np.sin(2 * idx), np.cos(idx), np.sin(idx)])

    def plate_shot(self, cell: _Cell, t: int, brightness: float) -> _Snapshot:
        """A bright flattened disk (:data:`_PLATE_AXES` of the largest semi-axis)."""
        axes = self.axes(cell, t)[0] * np.array(_PLATE_AXES)
        return _Snapshot(cell.agent, cell.pos.copy(), axes, cell.rot, brightness, True, cell.look)

    def interphase_shot(self, cell: _Cell, t: int, brightness: float) -> _Snapshot:
        """The nucleus at its current size."""
        return _Snapshot(cell.agent, cell.pos.copy(), self.axes(cell, t), cell.rot, brightness, False, cell.look)


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
    look = shot.look
    texture = look.texture(t, s.texture_strength, shot.mitotic, lambda raster: _sample(raster, coords))
    if not shot.mitotic:
        for nu, nv, nw, sigma, depth in look.nucleoli:
            d2 = (coords[0] - nu) ** 2 + (coords[1] - nv) ** 2 + (coords[2] - nw) ** 2
            texture *= 1 - np.float32(depth) * np.exp(-d2 / np.float32(2 * sigma * sigma))
    signal[box] += np.float32(shot.brightness) * dome(rho) * np.clip(texture, 0.05, None) * edge

    return claim_voxels(owner[box], nearest[box], rho, shot.agent)


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

    Parameters
    ----------
    settings : cellpipe.config.Simulation3DSettings
        Stack size (voxels), voxel size (µm), frame interval (minutes), cells, motion (µm/frame),
        divisions, image formation and ``seed``; the same settings give byte-identical arrays.

    Returns
    -------
    SimulatedMovie3D
        (T, Z, Y, X) uint16 ``image`` and ``labels`` (values are track ids) and the ``tracks`` table
        derived from the labels.

    Raises
    ------
    ValueError
        When the simulation makes more cells than uint16 labels can hold (65,534).
    """
    s = settings
    dyn_rng, look_rng, noise_rng = np.random.default_rng(s.seed).spawn(3)
    history = _Population(s, dyn_rng, look_rng).run()

    def optics(signal: np.ndarray) -> np.ndarray:
        """Depth attenuation, axial and lateral blur and the flat background: expected grey levels."""
        return np.clip(_optics(signal, s) + np.float32(s.background), 0, None)

    def draw(shot: _Snapshot, t: int, signal: np.ndarray, owner: np.ndarray, nearest: np.ndarray) -> bool:
        return _draw_nucleus(shot, t, s, signal, owner, nearest)

    shape = s.shape_zyx
    image, labels, tracks = film(history, shape, draw, optics, s.min_visible_voxels, s, noise_rng)
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

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape_zyx : tuple of int
        Stack shape (Z, Y, X voxels).
    seed : int
        Seed of the simulation's random streams.
    **overrides
        Any :class:`cellpipe.config.Simulation3DSettings` field (lengths in µm, times in frames or minutes as
        the field says).

    Returns
    -------
    SimulatedMovie3D
        The movie, its CTC ground truth, voxel size (µm) and frame interval (minutes).
    """
    params: dict[str, object] = {"n_frames": n_frames, "shape_zyx": tuple(shape_zyx), "seed": seed}
    voxel = tuple(overrides.get("voxel_size_um", Simulation3DSettings.model_fields["voxel_size_um"].default))  # type: ignore[arg-type]
    side = min(shape_zyx[1], shape_zyx[2])
    if side < 256:
        radius = float(np.clip(side * voxel[1] / 8, 2.5, 5.0))
        volume = max(shape_zyx[0] * voxel[0], 2 * radius) * shape_zyx[1] * voxel[1] * shape_zyx[2] * voxel[2]
        n_cells = max(2, round(0.05 * volume / (4 / 3 * math.pi * radius**3 * 0.65)))
        params.update(nucleus_radius_um=radius, radius_sd_um=0.1 * radius, n_cells=n_cells)
    params.update(overrides)
    return simulate_movie_3d(Simulation3DSettings.model_validate(params))
