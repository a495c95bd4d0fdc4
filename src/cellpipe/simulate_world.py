"""What the 2-D (:mod:`cellpipe.simulate`) and 3-D (:mod:`cellpipe.simulate3d`) nuclei simulators share.

Both simulate the same cell population and turn what they draw into the same kind of ground truth;
they differ only in geometry (a centre in px with an ellipse, or a centre in µm with an ellipsoid)
and in the optics.  Written once here:

* **the population's life**, :class:`Population`: the order of the rules in a frame (divide, move,
  enter, relax, leave, start mitoses, record what to draw), the bookkeeping of agents and divisions,
  growth from birth size, entry through the four x/y sides (Poisson), exit well outside the field,
  the start of mitoses well inside it, the soft repulsion between nuclei and the metaphase plates'
  and newborn daughters' extra brightness.  A simulator subclasses it with its geometry: where a
  cell is, how it moves, how it is born and what is drawn of it.
* **ground truth from the drawn owners**: each nucleus keeps its largest connected piece
  (:func:`keep_largest_pieces`), too small pieces are not labelled (:func:`visible_agents`), CTC
  tracks follow from what is visible in each frame (:func:`tracks_from_visibility`) and the owner
  images become track-id label images (:func:`relabel_as_tracks`).
* **what a nucleus looks like inside**: a dome profile (:func:`dome`) times a chromatin texture of two
  scales that changes slowly over time (:class:`Look`).
* **the camera** (:func:`expose`): Poisson shot noise, offset and read noise to uint16.
* **the frame loop** (:func:`film`) that ties these together around a simulator's own drawing and optics.

Lengths are in the simulator's own unit (px in 2-D, µm in 3-D), times in frames.  The rules draw from
the simulator's random streams in a fixed order (a subclass's hooks are called at fixed points), so
equal settings give byte-identical arrays: the demo, the tests and the benchmarks rely on it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = [
    "DAUGHTER_BOOST",
    "MAX_LABEL",
    "MITOTIC_BOOST",
    "TRACK_COLUMNS",
    "Cell",
    "Division",
    "History",
    "Look",
    "SimulatedNuclei",
    "Population",
    "PopulationSettings",
    "check_agent_count",
    "claim_voxels",
    "dome",
    "draw_brightness",
    "draw_major",
    "CameraSettings",
    "expose",
    "film",
    "keep_largest_pieces",
    "relabel_as_tracks",
    "smooth_noise",
    "tracks_from_visibility",
    "visible_agents",
]

TRACK_COLUMNS: tuple[str, ...] = ("label", "first_frame", "last_frame", "parent")
"""Columns of a simulated movie's ``tracks`` (CTC ``man_track.txt`` order)."""

MAX_LABEL = int(np.iinfo(np.uint16).max)
"""The largest uint16 value: the brightest grey level and the bound on track ids."""

DAUGHTER_BOOST = 0.5
"""Extra relative brightness of a newborn (compact) daughter, fading over about 3 frames."""

MITOTIC_BOOST = 1.0
"""Extra relative brightness of a metaphase plate."""


@dataclass
class SimulatedNuclei:
    """A simulated movie and its CTC ground truth (the simulators add the pixel or voxel size and the frame interval).

    Attributes
    ----------
    image : numpy.ndarray
        (T, Y, X) or (T, Z, Y, X) uint16 raw intensities (grey levels).
    labels : numpy.ndarray
        Instance masks of the same shape; each value is a track id (0 = background).
    tracks : pandas.DataFrame
        One row per track with columns ``label, first_frame, last_frame, parent`` (frames 0-based,
        parent 0 = none), CTC ``man_track`` semantics.
    """

    image: np.ndarray
    labels: np.ndarray
    tracks: pd.DataFrame

    @property
    def n_divisions(self) -> int:
        """Number of recorded divisions (mothers with two daughters in ``tracks``)."""
        return int(self.tracks.loc[self.tracks["parent"] > 0, "parent"].nunique())


class PopulationSettings(Protocol):
    """The settings fields the population's rules read (both simulators' settings have them)."""

    n_frames: int
    n_cells: int
    entry_rate: float
    division_probability: float
    min_division_age_frames: int
    mitosis_frames: int
    maturation_frames: int
    repulsion: float


@dataclass(kw_only=True)
class Cell:
    """What every simulated cell has, whatever its geometry.

    Attributes
    ----------
    agent : int
        Id of the cell (0-based, never reused; a daughter is a new agent).
    major : float
        Full-grown largest semi-axis (px in 2-D, µm in 3-D).
    brightness : float
        Brightness above the background (grey levels).
    birth_frame : int
        Frame of birth (negative for cells older than the movie).
    birth_scale : float
        Size at birth relative to full size; a cell grows to full size over ``maturation_frames``.
    mitosis_left : int
        -1 in interphase; k >= 0 in mitosis: k more frames to show the metaphase plate.
    boost : float
        Extra relative brightness that fades with age (frames).
    """

    agent: int
    major: float
    brightness: float
    birth_frame: int
    birth_scale: float
    mitosis_left: int = -1
    boost: float = 0.0

    def age(self, t: int) -> int:
        """Age (frames) at frame ``t``.

        Parameters
        ----------
        t : int
            Frame (0-based).

        Returns
        -------
        int
            Frames since birth (frames).
        """
        return t - self.birth_frame


@dataclass
class Division:
    """A division: the mother agent, her last frame (0-based) and her two daughter agents."""

    mother: int
    last_frame: int
    daughters: tuple[int, int]


CellT = TypeVar("CellT", bound=Cell)
ShotT = TypeVar("ShotT")


@dataclass
class History(Generic[ShotT]):
    """A simulation's record: per frame what is drawn of each cell, the divisions, the number of agents made."""

    frames: list[list[ShotT]] = field(default_factory=list)
    divisions: list[Division] = field(default_factory=list)
    n_agents: int = 0


class Population(ABC, Generic[CellT, ShotT]):
    """The cells alive at the current frame and the rules that move, divide, add and remove them.

    Subclasses give the geometry (the abstract methods) and two numbers: ``daughter_scale``, the size
    of a daughter (and of a cell placed in the first frame or entering) at birth relative to full
    size, at least ``min_birth_scale``; and ``edge_pad``, added to a cell's size in the margins that
    decide when it leaves the field and whether it is well enough inside to divide (px or µm).

    Parameters
    ----------
    settings : PopulationSettings
        The simulator's settings.
    rng : numpy.random.Generator
        Drives motion, sizes and every decision.
    look_rng : numpy.random.Generator
        Drives the appearance only, so that the motion does not depend on it.
    height, width : float
        Size of the field in y and x (px or µm); cells enter and leave through its sides.
    spacing : float
        Cells placed in the first frame keep their centres more than this apart where they can (px or µm).
    """

    daughter_scale: float
    min_birth_scale: float
    edge_pad: float

    def __init__(self, settings: PopulationSettings, rng: np.random.Generator, look_rng: np.random.Generator,
                 height: float, width: float, spacing: float) -> None:
        self.s: Any = settings
        self.rng = rng
        self.look_rng = look_rng
        self.height, self.width = height, width
        self.spacing = spacing
        self.t = 0
        self.cells: list[CellT] = []
        self.history: History[ShotT] = History()

    # -- the geometry a simulator gives --------------------------------------------------------

    @abstractmethod
    def new_cell(self, pos: Any, t: int, age: int, birth_scale: float) -> CellT:
        """A cell centred at ``pos``, ``age`` frames old at frame ``t``, born at ``birth_scale`` of its full size.

        Parameters
        ----------
        pos : Any
            The centre, in the simulator's coordinates (y, x px in 2-D; z, y, x µm in 3-D).
        t : int
            Current frame (0-based).
        age : int
            Age of the cell at frame ``t`` (frames).
        birth_scale : float
            Size at birth relative to full size.

        Returns
        -------
        CellT
            The new cell, with a new agent id.
        """

    @abstractmethod
    def random_position(self) -> Any:
        """A centre drawn uniformly in the field (one cell of the first frame).

        Returns
        -------
        Any
            The centre, in the simulator's coordinates (px in 2-D, µm in 3-D).
        """

    @abstractmethod
    def distance(self, pos: Any, cell: CellT) -> float:
        """Distance from ``pos`` to ``cell``'s centre (px or µm).

        Parameters
        ----------
        pos : Any
            A centre, in the simulator's coordinates (px in 2-D, µm in 3-D).
        cell : CellT
            A living cell.

        Returns
        -------
        float
            Euclidean distance (px in 2-D, µm in 3-D).
        """

    @abstractmethod
    def entering_cell(self, t: int, side: int, along: float) -> CellT:
        """A cell entering at frame ``t`` through ``side``, its centre just outside and moving inwards.

        Parameters
        ----------
        t : int
            Frame of entry (0-based).
        side : int
            0 top, 1 bottom, 2 left, 3 right.
        along : float
            Where along the side the cell enters, as a fraction of its length (0 to 1).

        Returns
        -------
        CellT
            The entering cell, with a new agent id.
        """

    @abstractmethod
    def daughters(self, cell: CellT, t: int, birth_scale: float) -> tuple[CellT, CellT]:
        """The two daughters that replace ``cell`` at frame ``t``, born at ``birth_scale``, beside her plate.

        Parameters
        ----------
        cell : CellT
            The mother, whose mitosis is over.
        t : int
            The daughters' first frame (0-based).
        birth_scale : float
            The daughters' size at birth relative to full size.

        Returns
        -------
        tuple of CellT
            The two daughters, each with a new agent id.
        """

    @abstractmethod
    def move(self) -> None:
        """Move every cell by one frame."""

    @abstractmethod
    def centre_yx(self, cell: CellT) -> tuple[float, float]:
        """``cell``'s centre in the plane of the field (y, x in px or µm).

        Parameters
        ----------
        cell : CellT
            A living cell.

        Returns
        -------
        tuple of float
            y and x (px in 2-D, µm in 3-D).
        """

    @abstractmethod
    def positions(self) -> np.ndarray:
        """(n, d) centres of the cells, for the repulsion.

        Returns
        -------
        numpy.ndarray
            (n, d) float: one row per cell in ``cells`` order, d = 2 (y, x px) or 3 (z, y, x µm).
        """

    @abstractmethod
    def set_positions(self, pos: np.ndarray) -> None:
        """Move the cells to the (n, d) centres ``pos`` (after the repulsion).

        Parameters
        ----------
        pos : numpy.ndarray
            (n, d) centres in :meth:`positions`' order and units (px in 2-D, µm in 3-D).
        """

    @abstractmethod
    def mean_radius_now(self, cell: CellT) -> float:
        """Mean radius (px or µm) of what is drawn of ``cell`` at the current frame, for the repulsion.

        Parameters
        ----------
        cell : CellT
            A living cell.

        Returns
        -------
        float
            Mean radius (px in 2-D, µm in 3-D).
        """

    @abstractmethod
    def tie_breaker(self, n: int) -> np.ndarray:
        """(n, d) tiny distinct offsets, so that coincident centres get a direction.

        Parameters
        ----------
        n : int
            Number of cells.

        Returns
        -------
        numpy.ndarray
            (n, d) offsets (px in 2-D, µm in 3-D), each far below a pixel or voxel.
        """

    @abstractmethod
    def plate_shot(self, cell: CellT, t: int, brightness: float) -> ShotT:
        """What is drawn of ``cell`` in mitosis at frame ``t``: a metaphase plate of ``brightness``.

        Parameters
        ----------
        cell : CellT
            A cell in mitosis.
        t : int
            Current frame (0-based).
        brightness : float
            Brightness above the background (grey levels), the mitotic boost included.

        Returns
        -------
        ShotT
            What the simulator's drawing function draws of the plate.
        """

    @abstractmethod
    def interphase_shot(self, cell: CellT, t: int, brightness: float) -> ShotT:
        """What is drawn of ``cell`` in interphase at frame ``t``, with ``brightness``.

        Parameters
        ----------
        cell : CellT
            A cell in interphase.
        t : int
            Current frame (0-based).
        brightness : float
            Brightness above the background (grey levels), a newborn daughter's fading boost included.

        Returns
        -------
        ShotT
            What the simulator's drawing function draws of the nucleus.
        """

    # -- the shared rules ----------------------------------------------------------------------

    def next_agent(self) -> int:
        """A new agent id (0-based, never reused).

        Returns
        -------
        int
            The id; ``history.n_agents`` counts it.
        """
        agent = self.history.n_agents
        self.history.n_agents += 1
        return agent

    def growth(self, cell: Cell, t: int) -> float:
        """Size of ``cell`` at frame ``t`` relative to full size: from its birth scale to 1 over ``maturation_frames``.

        Parameters
        ----------
        cell : Cell
            A living cell.
        t : int
            Frame (0-based).

        Returns
        -------
        float
            Relative size, from ``cell.birth_scale`` to 1 (linear in age, frames).
        """
        grown = min(1.0, cell.age(t) / self.s.maturation_frames)
        return cell.birth_scale + (1.0 - cell.birth_scale) * grown

    def seed_initial(self) -> None:
        """Place ``n_cells`` cells inside the field, more than ``spacing`` apart where possible."""
        s, rng = self.s, self.rng
        for _ in range(s.n_cells):
            pos = None
            for _attempt in range(200):
                pos = self.random_position()
                if all(self.distance(pos, c) > self.spacing for c in self.cells):
                    break
            age = int(rng.integers(0, s.min_division_age_frames + s.maturation_frames + 1))
            self.cells.append(self.new_cell(pos, 0, age, self.daughter_scale))
        self.relax()

    def enter(self, t: int) -> None:
        """Add the cells entering at frame ``t`` (Poisson, ``entry_rate`` per frame).

        Each enters through a side drawn in proportion to its length.

        Parameters
        ----------
        t : int
            Current frame (0-based).
        """
        s, rng = self.s, self.rng
        n_new = int(rng.poisson(s.entry_rate)) if s.entry_rate > 0 else 0
        h, w = self.height, self.width
        for _ in range(n_new):
            side = int(rng.choice(4, p=np.array([w, w, h, h], dtype=float) / (2 * (w + h))))
            along = float(rng.uniform(0, 1))
            self.cells.append(self.entering_cell(t, side, along))

    def divide(self, t: int) -> None:
        """At frame ``t``, replace every cell whose mitosis is over by two daughters and record the division.

        Parameters
        ----------
        t : int
            Current frame (0-based); the mother's last frame is ``t - 1``.
        """
        survivors: list[CellT] = []
        for cell in self.cells:
            if cell.mitosis_left != 0:
                survivors.append(cell)
                continue
            # Daughters are born at a fraction of the mother's size at her last frame.
            mother_scale = cell.major * self.growth(cell, t - 1) / cell.major
            first, second = self.daughters(cell, t, max(self.daughter_scale * mother_scale, self.min_birth_scale))
            survivors.extend((first, second))
            self.history.divisions.append(Division(cell.agent, t - 1, (first.agent, second.agent)))
        self.cells = survivors

    def relax(self, steps: int = 4) -> None:
        """Soft repulsion: push apart nuclei closer than the sum of their mean radii, in ``steps`` iterations.

        In each iteration every nucleus of an overlapping pair moves away from the other by ``repulsion`` / 2
        times their overlap (px or µm), summed over the pairs it belongs to.

        Parameters
        ----------
        steps : int
            Most iterations; it stops earlier once no two nuclei overlap.
        """
        n = len(self.cells)
        if n < 2 or self.s.repulsion <= 0:
            return
        pos = self.positions()
        radius = np.array([self.mean_radius_now(c) for c in self.cells])
        reach = radius[:, None] + radius[None, :]
        tie = self.tie_breaker(n)
        for _ in range(steps):
            diff = (pos + tie)[:, None, :] - (pos + tie)[None, :, :]
            dist = np.sqrt((diff**2).sum(-1))
            np.fill_diagonal(dist, np.inf)
            overlap = np.clip(reach - dist, 0, None)
            if not overlap.any():
                break
            pos += ((0.5 * self.s.repulsion * overlap / dist)[:, :, None] * diff).sum(axis=1)
        self.set_positions(pos)

    def leave(self) -> None:
        """Remove cells whose centre is well outside the field (more than 1.6 sizes plus ``edge_pad``)."""
        kept = []
        for cell in self.cells:
            m = 1.6 * cell.major + self.edge_pad
            y, x = self.centre_yx(cell)
            if -m <= y <= self.height + m and -m <= x <= self.width + m:
                kept.append(cell)
        self.cells = kept

    def start_mitoses(self, t: int) -> None:
        """At frame ``t``, cells old enough and well inside the field start mitosis with ``division_probability``.

        Well inside means by two sizes plus ``edge_pad``, so that both daughters are visible.

        Parameters
        ----------
        t : int
            Current frame (0-based).
        """
        s, rng = self.s, self.rng
        if s.division_probability <= 0:
            return
        for cell in self.cells:
            if cell.mitosis_left >= 0 or cell.age(t) < s.min_division_age_frames:
                continue
            m = 2.0 * cell.major + self.edge_pad
            y, x = self.centre_yx(cell)
            if m <= y <= self.height - m and m <= x <= self.width - m and rng.uniform() < s.division_probability:
                cell.mitosis_left = s.mitosis_frames

    def snapshot(self, t: int) -> list[ShotT]:
        """What to draw of each cell at frame ``t``; counts down running mitoses.

        Parameters
        ----------
        t : int
            Current frame (0-based).

        Returns
        -------
        list of ShotT
            One shot per living cell, in ``cells`` order.
        """
        shots = []
        for cell in self.cells:
            if cell.mitosis_left > 0:
                shots.append(self.plate_shot(cell, t, cell.brightness * (1.0 + MITOTIC_BOOST)))
                cell.mitosis_left -= 1
            else:
                fade = cell.boost * math.exp(-cell.age(t) / 3.0)
                shots.append(self.interphase_shot(cell, t, cell.brightness * (1.0 + fade)))
        return shots

    def run(self) -> History[ShotT]:
        """Simulate all frames.

        Returns
        -------
        History
            What is drawn in each frame, the divisions and the number of agents.
        """
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
# shared draws
# ------------------------------------------------------------------------------------------


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """A Gaussian-smoothed (``sigma`` in texels, wrapped) noise raster of ``shape`` with zero mean and unit SD.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the white noise.
    shape : tuple of int
        Raster shape (texels).
    sigma : float
        Gaussian SD (texels); the raster wraps around at its edges.

    Returns
    -------
    numpy.ndarray
        float32 raster of ``shape``, mean 0 and SD 1 (no unit).
    """
    raster = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    sd = float(raster.std())
    return ((raster - raster.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)


def draw_major(rng: np.random.Generator, mean: float, sd: float, low: float) -> float:
    """A full-grown largest semi-axis: normal around ``mean`` with ``sd``, clipped to ``low``..1.6x ``mean``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the size.
    mean, sd : float
        Mean and SD of the semi-axis (px in 2-D, µm in 3-D).
    low : float
        Smallest semi-axis returned (px or µm).

    Returns
    -------
    float
        The semi-axis (px in 2-D, µm in 3-D).
    """
    return float(np.clip(rng.normal(mean, sd), low, 1.6 * mean))


def draw_brightness(rng: np.random.Generator, mean: float, cv: float) -> float:
    """A nucleus brightness (grey levels): log-normal with ``mean`` and coefficient of variation ``cv``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the brightness.
    mean : float
        Mean brightness above the background (grey levels).
    cv : float
        Coefficient of variation (SD / mean, no unit).

    Returns
    -------
    float
        The brightness (grey levels).
    """
    sigma = math.sqrt(math.log1p(cv**2))
    return float(mean * rng.lognormal(-0.5 * sigma**2, sigma))


@dataclass
class Look:
    """The part of a nucleus's fixed appearance both simulators draw: its chromatin texture.

    Two fine and two coarse smooth-noise rasters over the nucleus's normalised coordinates; each pair is
    cross-faded at ``texture_rate`` (rad/frame) from ``texture_phase`` (rad), so the texture changes slowly.
    """

    fine: tuple[np.ndarray, np.ndarray]
    coarse: tuple[np.ndarray, np.ndarray]
    texture_rate: float
    texture_phase: float

    def texture(self, t: int, strength: float, mitotic: bool, sample: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Relative chromatin density (mean 1) at frame ``t``.

        Parameters
        ----------
        t : int
            Frame (0-based); sets the cross-fade phase (rad).
        strength : float
            SD of the density relative to its mean (no unit), halved on a metaphase plate.
        mitotic : bool
            Whether the nucleus is a metaphase plate.
        sample : callable
            ``sample(raster)`` looks a texture raster up at the pixels (voxels) drawn.

        Returns
        -------
        numpy.ndarray
            float32 relative density at the pixels (voxels) ``sample`` looks up (mean 1, no unit).
        """
        phase = self.texture_phase + self.texture_rate * t
        cw, sw = np.float32(math.cos(phase)), np.float32(math.sin(phase))
        fine = cw * sample(self.fine[0]) + sw * sample(self.fine[1])
        coarse = cw * sample(self.coarse[0]) + sw * sample(self.coarse[1])
        strength = strength * (0.5 if mitotic else 1.0)
        return 1 + np.float32(strength) * (0.6 * fine + 0.8 * coarse)


def dome(rho: np.ndarray) -> np.ndarray:
    """Relative brightness profile of a nucleus: 1 at the centre, 0.7 at its surface (``rho`` = 1, normalised).

    Parameters
    ----------
    rho : numpy.ndarray
        Distance from the nucleus's centre in its own normalised coordinates (1 at the surface, no unit).

    Returns
    -------
    numpy.ndarray
        Relative brightness (no unit): 0.7 at and beyond the surface, up to 1 at the centre.
    """
    return 0.7 + 0.3 * np.sqrt(np.clip(1 - rho * rho, 0, 1))


# ------------------------------------------------------------------------------------------
# ground truth and camera
# ------------------------------------------------------------------------------------------


def check_agent_count(n_agents: int) -> None:
    """Refuse a simulation whose cells (``n_agents``) uint16 owner images cannot tell apart.

    Parameters
    ----------
    n_agents : int
        Number of agents the simulation made.

    Raises
    ------
    ValueError
        ``n_agents`` is :data:`MAX_LABEL` or more.
    """
    if n_agents >= MAX_LABEL:
        raise ValueError(f"the simulation created {n_agents} cells; at most {MAX_LABEL - 1} are supported")


def claim_voxels(owner: np.ndarray, nearest: np.ndarray, rho: np.ndarray, agent: int) -> bool:
    """Claim for ``agent`` the pixels or voxels of a nucleus's box where it is the nearest nucleus so far.

    Parameters
    ----------
    owner : numpy.ndarray
        View of the owner image over the nucleus's box (agent + 1 per pixel, 0 = nobody); updated in place.
    nearest : numpy.ndarray
        View of the same box: the ``rho`` of each pixel's owner (inf where nobody); updated in place.
    rho : numpy.ndarray
        Each pixel's distance from the nucleus's centre in its own normalised coordinates (inside where < 1).
    agent : int
        The nucleus's agent id.

    Returns
    -------
    bool
        True when the nucleus overlaps one drawn before.
    """
    inside = rho < 1
    contested = bool((inside & np.isfinite(nearest)).any())
    win = inside & (rho < nearest)
    nearest[win] = rho[win]
    owner[win] = agent + 1
    return contested


def keep_largest_pieces(owner: np.ndarray) -> None:
    """Zero all but the largest piece of every owner id, in place (4-connected in 2-D, 6-connected in 3-D).

    Parameters
    ----------
    owner : numpy.ndarray
        Owner image of one frame (agent + 1 per pixel or voxel, 0 = nobody); changed in place.
    """
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
    """Face-connected components of equal non-zero values (different values are different components)."""
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


def visible_agents(owner: np.ndarray, n_agents: int, min_size: int) -> np.ndarray:
    """The agents that own at least ``min_size`` pixels (voxels) of ``owner`` (values agent + 1; 0 = nobody).

    Parameters
    ----------
    owner : numpy.ndarray
        Owner image of one frame.
    n_agents : int
        Number of agents made so far (owner values are at most ``n_agents``).
    min_size : int
        Smallest visible nucleus (px in 2-D, voxels in 3-D).

    Returns
    -------
    numpy.ndarray
        The visible agent ids, ascending.
    """
    size = np.bincount(owner.ravel(), minlength=n_agents + 1)
    size[0] = 0
    return np.flatnonzero(size >= min_size) - 1


def tracks_from_visibility(
    visible: list[np.ndarray], divisions: list[Division]
) -> tuple[pd.DataFrame, list[list[tuple[int, int]]]]:
    """CTC tracks from the agents visible in each frame, and the (agent, label) pairs of each frame.

    A run of consecutive frames in which an agent is visible is one track (labels numbered by first
    frame, then agent); a division gives the daughters' tracks the mother's label as parent only when
    the mother is visible in her last frame and both daughters in the next.

    Parameters
    ----------
    visible : list of numpy.ndarray
        The visible agent ids of each frame (:func:`visible_agents`).
    divisions : list of Division
        The simulation's divisions.

    Returns
    -------
    tracks : pandas.DataFrame
        Columns :data:`TRACK_COLUMNS` (frames 0-based, parent 0 = none), CTC ``man_track`` semantics.
    pairs : list of list of tuple of int
        The (agent, track label) pairs of each frame.

    Raises
    ------
    ValueError
        More tracks than uint16 labels can hold.
    """
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
    if len(runs) > MAX_LABEL:
        raise ValueError(f"the simulation produced {len(runs)} tracks; uint16 labels allow at most {MAX_LABEL}")
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


def relabel_as_tracks(owners: np.ndarray, pairs: list[list[tuple[int, int]]], n_agents: int) -> None:
    """Turn (T, ...) owner images (agent + 1) into track-id label images in place; owners in no track become 0.

    Parameters
    ----------
    owners : numpy.ndarray
        (T, ...) uint16 owner images; changed in place.
    pairs : list of list of tuple of int
        The (agent, label) pairs of each frame (from :func:`tracks_from_visibility`).
    n_agents : int
        Number of agents the simulation made.
    """
    lut = np.zeros(n_agents + 1, dtype=np.uint16)
    for t, frame_pairs in enumerate(pairs):
        lut[:] = 0
        for agent, label in frame_pairs:
            lut[agent + 1] = label
        owners[t] = lut[owners[t]]


def expose(expected: np.ndarray, gain: float, camera_offset: float, read_noise_sd: float,
           rng: np.random.Generator) -> np.ndarray:
    """Camera: shot noise, offset and read noise on ``expected`` (grey levels), rounded and clipped to uint16.

    Parameters
    ----------
    expected : numpy.ndarray
        Expected signal (grey levels).
    gain : float
        Photons per grey level of the Poisson shot noise.
    camera_offset : float
        Offset added to every pixel (grey levels).
    read_noise_sd : float
        SD of the Gaussian read noise (grey levels); 0 adds none.
    rng : numpy.random.Generator
        Draws the shot and read noise.

    Returns
    -------
    numpy.ndarray
        uint16 frame of ``expected``'s shape (grey levels).
    """
    grey = rng.poisson(expected.astype(np.float64) * gain) / gain
    grey += camera_offset
    if read_noise_sd > 0:
        grey += rng.normal(0.0, read_noise_sd, size=grey.shape)
    return np.clip(np.rint(grey), 0, MAX_LABEL).astype(np.uint16)


class CameraSettings(Protocol):
    """The settings fields :func:`film` reads (both simulators' settings have them)."""

    photobleaching_per_frame: float
    gain: float
    camera_offset: float
    read_noise_sd: float


def film(
    history: History[ShotT],
    shape: tuple[int, ...],
    draw: Callable[[ShotT, int, np.ndarray, np.ndarray, np.ndarray], bool],
    optics: Callable[[np.ndarray], np.ndarray],
    min_size: int,
    camera: CameraSettings,
    noise_rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Draw every frame of ``history``, record it with the camera and derive the CTC ground truth.

    Per frame: ``draw(shot, t, signal, owner, nearest)`` adds each nucleus to a float32 ``signal`` of
    ``shape`` (px or voxels) and claims its pixels in ``owner`` (see :func:`claim_voxels`; True when it
    overlapped another), each nucleus keeps its largest piece and those with at least ``min_size`` pixels
    (voxels) are visible; the signal is photobleached, ``optics(signal)`` gives the expected grey levels
    and :func:`expose` the uint16 frame.

    Parameters
    ----------
    history : History
        What :meth:`Population.run` recorded.
    shape : tuple of int
        Shape of one frame ((Y, X) px or (Z, Y, X) voxels).
    draw : callable
        ``draw(shot, t, signal, owner, nearest)``: adds one nucleus to the frame, returns whether it
        overlapped another.
    optics : callable
        ``optics(signal)``: the expected grey levels of the photobleached signal.
    min_size : int
        Smallest visible nucleus (px in 2-D, voxels in 3-D).
    camera : CameraSettings
        Photobleaching (fraction per frame), gain (photons per grey level), offset and read-noise SD (grey levels).
    noise_rng : numpy.random.Generator
        Draws the camera noise.

    Returns
    -------
    image, labels : numpy.ndarray
        (T, *shape) uint16 raw frames (grey levels) and instance labels (track ids, 0 = background).
    tracks : pandas.DataFrame
        Columns :data:`TRACK_COLUMNS` (frames 0-based, parent 0 = none), CTC ``man_track`` semantics.
    """
    check_agent_count(history.n_agents)
    n_frames = len(history.frames)
    image = np.empty((n_frames, *shape), dtype=np.uint16)
    labels = np.empty((n_frames, *shape), dtype=np.uint16)
    visible: list[np.ndarray] = []
    for t, shots in enumerate(history.frames):
        signal = np.zeros(shape, dtype=np.float32)
        owner = labels[t]
        owner[...] = 0
        nearest = np.full(shape, np.inf, dtype=np.float32)
        contested = False
        for shot in shots:
            contested |= draw(shot, t, signal, owner, nearest)
        if contested:
            keep_largest_pieces(owner)
        visible.append(visible_agents(owner, history.n_agents, min_size))
        signal *= np.float32((1 - camera.photobleaching_per_frame) ** t)
        image[t] = expose(optics(signal), camera.gain, camera.camera_offset, camera.read_noise_sd, noise_rng)
    tracks, pairs = tracks_from_visibility(visible, history.divisions)
    relabel_as_tracks(labels, pairs, history.n_agents)
    return image, labels, tracks
