"""Magnetisation: volume susceptibility, demagnetisation, shielding and Meissner fractions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import elliprd

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.io.qd import split_segments
from supramap.quality import QualityWarning, as_warnings, interval_90, warn, warnings_to_list

MU0 = 4e-7 * np.pi


def demag_prism(a: float, b: float, c: float) -> float:
    """Demagnetising factor along *c* of a rectangular prism of edges a × b × c.

    Aharoni, J. Appl. Phys. 83, 3432 (1998), eq. (1), with half-edges a/2, b/2, c/2.
    A cube gives 1/3; the three factors of any prism sum to 1.
    """
    for v in (a, b, c):
        if not (np.isfinite(v) and v > 0):
            raise AnalysisError(f"prism edges must be positive, got {a}, {b}, {c}")
    # N depends on the edge ratios only: scale to the longest edge (no overflow of a³ for
    # edges given in m or km), and refuse ratios beyond 1e9 (no sample is that shape).
    big = max(a, b, c)
    if min(a, b, c) < 1e-9 * big:
        raise AnalysisError(f"prism edges {a:g}, {b:g}, {c:g} differ by more than 1e9: check "
                            "the dimensions and their unit")
    a, b, c = a / (2 * big), b / (2 * big), c / (2 * big)
    abc = np.sqrt(a * a + b * b + c * c)
    ab = np.sqrt(a * a + b * b)
    bc = np.sqrt(b * b + c * c)
    ac = np.sqrt(a * a + c * c)
    # Each log((√(x²+y²) ± x)/(√(x²+y²) ∓ x)) of the paper written as ±2·asinh(x/y): the same
    # value, without the cancellation that made a thin plate (a ≪ b) divide by zero.
    pi_d = (
        -(b * b - c * c) / (b * c) * np.arcsinh(a / bc)
        - (a * a - c * c) / (a * c) * np.arcsinh(b / ac)
        + b / c * np.arcsinh(a / b)
        + a / c * np.arcsinh(b / a)
        - c / a * np.arcsinh(b / c)
        - c / b * np.arcsinh(a / c)
        + 2 * np.arctan(a * b / (c * abc))
        + (a**3 + b**3 - 2 * c**3) / (3 * a * b * c)
        + (a * a + b * b - 2 * c * c) / (3 * a * b * c) * abc
        + c / (a * b) * (ac + bc)
        - (ab**3 + bc**3 + ac**3) / (3 * a * b * c)
    )
    n = pi_d / np.pi
    if not (np.isfinite(n) and -1e-6 <= n <= 1 + 1e-6):
        raise AnalysisError(f"prism {2 * a:g} × {2 * b:g} × {2 * c:g}: aspect ratio too extreme "
                            f"for the demagnetising factor (got {n})")
    return float(min(max(n, 0.0), 1.0))


def demag_ellipsoid(a: float, b: float, c: float) -> float:
    """Demagnetising factor along the *c* semi-axis of an ellipsoid with semi-axes a, b, c.

    Osborn, Phys. Rev. 67, 351 (1945), written with Carlson's symmetric integral:
    ``N_c = (abc/3) R_D(a², b², c²)``.  A sphere gives 1/3.
    """
    for v in (a, b, c):
        if not (np.isfinite(v) and v > 0):
            raise AnalysisError(f"ellipsoid semi-axes must be positive, got {a}, {b}, {c}")
    return float(a * b * c / 3 * elliprd(a * a, b * b, c * c))


def volume_susceptibility(moment: np.ndarray, field: np.ndarray, volume: float) -> np.ndarray:
    """SI volume susceptibility χ = M/H = m/(V·H) with H = µ0H/µ0.

    Parameters
    ----------
    moment : array, A·m²
    field : array, µ0H in T
    volume : float, m³
    """
    if not (volume is not None and np.isfinite(volume) and volume > 0):
        raise AnalysisError(f"sample volume must be positive (m³), got {volume}")
    h = np.asarray(field, dtype=float) / MU0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h != 0, np.asarray(moment, dtype=float) / volume / h, np.nan)


def si_to_cgs_susceptibility(chi_si: np.ndarray) -> np.ndarray:
    """Dimensionless SI volume susceptibility → CGS (emu cm⁻³ Oe⁻¹): χ_cgs = χ_SI / 4π."""
    return np.asarray(chi_si) / (4 * np.pi)


def demag_correct(chi: np.ndarray, n: float) -> np.ndarray:
    """Intrinsic susceptibility χ = χ_m / (1 − N χ_m) from the measured χ_m (SI)."""
    if not 0 <= n <= 1:
        raise AnalysisError(f"demagnetisation factor must lie in [0, 1], got {n}")
    chi = np.asarray(chi, dtype=float)
    return chi / (1 - n * chi)


def onset_temperature(t: np.ndarray, chi: np.ndarray, *, criterion: float = 0.02) -> float:
    """Highest temperature where χ falls below its normal-state value by *criterion* × the
    full diamagnetic drop (normal state: median of the top 20 % of temperatures): the end of
    the run of points below that level counted from the lowest temperature, refined by a
    parabola through the ONSET_POINTS points either side of it (see :func:`_onset_crossing`)."""
    found = _onset_crossing(t, chi, criterion)
    return found[0] if found else float("nan")


#: Points either side of the onset crossing through which the parabola is fitted.
ONSET_POINTS = 4


def _onset_crossing(t: np.ndarray, chi: np.ndarray, criterion: float
                    ) -> tuple[float, float] | None:
    """The onset (see :func:`onset_temperature`) and the linear interpolation's value there,
    or None when χ never drops.  The straight line between the two points around the level
    sits on the curved onset (the tail of the drop): 27 mK high on 0.25 K steps for a
    transition 0.5 K wide, and on noisy data it follows the one point at the crossing; the
    parabola through 2 × ONSET_POINTS points removes the first and averages the second."""
    order = np.argsort(t)
    t, chi = np.asarray(t, float)[order], np.asarray(chi, float)[order]
    ok = np.isfinite(t) & np.isfinite(chi)
    t, chi = t[ok], chi[ok]
    if t.size < 8:
        raise AnalysisError("susceptibility: need at least 8 valid points")
    top = chi[t >= t[0] + 0.8 * (t[-1] - t[0])]
    base = float(np.median(top))
    drop = base - float(np.min(chi))
    if drop <= 0:
        return None
    lv = base - criterion * drop
    idx = np.nonzero(chi >= lv)[0]
    # The last point (from low T) of the initial run that is below the criterion.
    first_not = idx[0] if idx.size else t.size
    if first_not == 0:
        return None
    i = first_not - 1
    if i + 1 >= t.size:
        return float(t[i]), float(t[i])
    frac = (lv - chi[i]) / (chi[i + 1] - chi[i]) if chi[i + 1] != chi[i] else 0.0
    linear = float(t[i] + frac * (t[i + 1] - t[i]))
    sl = slice(max(i + 1 - ONSET_POINTS, 0), min(i + 1 + ONSET_POINTS, t.size))
    x, y = t[sl] - linear, chi[sl] - lv
    if x.size < 5 or np.unique(x).size < 3:
        return linear, linear
    roots = np.roots(np.polyfit(x, y, 2))
    roots = roots[np.isreal(roots)].real
    roots = roots[(roots >= x.min()) & (roots <= x.max())]
    if roots.size == 0:
        return linear, linear
    return float(linear + roots[np.argmin(np.abs(roots))]), linear


def onset_error(t: np.ndarray, chi: np.ndarray, noise: float, *, criterion: float = 0.02,
                draws: int = 200) -> float:
    """Standard error of :func:`onset_temperature`: a parametric bootstrap (*draws* curves
    χ + N(0, noise), fixed seed) and, in quadrature, the parabola's difference from the linear
    interpolation (the curvature the points do not pin down).  On generated erfc transitions
    (0.3–1.5 K wide, 0.05–0.25 K steps, noise 0.2–2 % of the drop) the 90 % interval holds
    the noise-free onset 86–89 % of the time (tests/test_calibration.py).  NaN when fewer
    than 80 % of the draws find an onset.  Without noise (a normal state whose first
    differences are all zero) the parabola's difference alone, when there is one."""
    found = _onset_crossing(t, chi, criterion)
    if found is None:
        return float("nan")
    if not (noise > 0):
        gap = abs(found[0] - found[1])
        return float(gap) if gap > 0 else float("nan")
    rng = np.random.default_rng(0)
    chi = np.asarray(chi, float)
    out = np.full(draws, np.nan)
    for k in range(draws):
        again = _onset_crossing(t, chi + noise * rng.standard_normal(chi.size), criterion)
        if again is not None:
            out[k] = again[0]
    good = out[np.isfinite(out)]
    if good.size < 0.8 * draws:
        return float("nan")
    return float(np.hypot(np.std(good, ddof=1), found[0] - found[1]))


@dataclass(frozen=True)
class Branches:
    """Rows of the ZFC and FC branches of an M(T) file and how they were identified."""

    zfc: np.ndarray | None
    fc: np.ndarray | None
    fc_mode: str  # "warming", "cooling" or ""
    how: str
    warnings: tuple[QualityWarning, ...] = ()


def identify_branches(temperature: np.ndarray, field: np.ndarray | None = None,
                      comments: list[dict[str, Any]] | None = None, *,
                      zero_field_T: float = 1e-5) -> Branches:
    """Find the ZFC and FC branches of an M(T) measurement from the data.

    1. Comment rows (``ZFC``, ``FC``, ``FCC``/``FC cooling``, ``FCW``) mark branches when present.
    2. Else the temperature sweep is split into monotonic runs.  A run *cooling in field* is a
       field-cooled branch measured on cooling (FCC); a warming run that follows it is FC
       measured on warming (FCW); the first warming run with no in-field cooling recorded before
       it is the ZFC branch.  The Meissner fraction takes FCW when present, else FCC.
    3. A file with a single warming run gives no evidence of its field history: it is taken as
       ZFC with the warning ``susceptibility.branch_assumed``.
    """
    t = np.asarray(temperature, dtype=float)
    h = np.zeros_like(t) if field is None else np.abs(np.asarray(field, dtype=float))
    rows = np.arange(t.size)
    marks = []
    for c in comments or []:
        u = str(c.get("text", "")).upper()
        kind = None
        if "ZFC" in u:
            kind = "zfc"
        elif "FCC" in u or ("FC" in u.split() and "COOL" in u):
            kind = "fcc"
        elif "FCW" in u or "FC" in u.replace(",", " ").split():
            kind = "fcw"
        if kind:
            marks.append((int(c["row"]), kind))
    if marks:
        marks.sort()
        spans = {}
        for i, (r0, kind) in enumerate(marks):
            r1 = marks[i + 1][0] if i + 1 < len(marks) else t.size
            spans.setdefault(kind, rows[r0:r1])
        fc = spans.get("fcw", spans.get("fcc"))
        mode = "warming" if "fcw" in spans else ("cooling" if "fcc" in spans else "")
        ws = () if "zfc" in spans else (warn(
            "susceptibility.no_zfc", "the comments mark no ZFC branch: no shielding fraction "
            "(the FC branch gives the Meissner fraction only)"),)
        return Branches(spans.get("zfc"), fc, mode, "comment rows", ws)
    segs = split_segments(t, tolerance=0.05, min_points=4)
    zfc = fcw = fcc = None
    cooled_in_field = False
    for s_ in segs:
        warming = t[s_[-1]] > t[s_[0]]
        in_field = float(np.nanmedian(h[s_])) > zero_field_T
        if not warming:
            if in_field:
                cooled_in_field = True
                fcc = s_ if fcc is None else fcc
            continue
        if zfc is None and not cooled_in_field:
            zfc = s_
        elif fcw is None:
            fcw = s_
    ws: list[QualityWarning] = []
    if zfc is None and fcw is None and fcc is None:
        raise AnalysisError("no temperature sweep (warming or cooling run) in the data")
    if zfc is None:
        ws.append(warn("susceptibility.no_zfc",
                       "every branch was field-cooled (an in-field cooling run comes first): "
                       "no shielding fraction; the FC branch gives the Meissner fraction"))
    elif fcw is None and fcc is None and len(segs) == 1:
        ws.append(warn("susceptibility.branch_assumed",
                       "the file holds one warming run and nothing shows its field history; "
                       "it is taken as ZFC: if it was field-cooled, the 'shielding fraction' is "
                       "a Meissner fraction (mark branches with ZFC/FC comment rows)"))
    fc, mode = (fcw, "warming") if fcw is not None else (fcc, "cooling" if fcc is not None
                                                         else "")
    return Branches(zfc, fc, mode, "temperature runs and field history", tuple(ws))


@displayable
@dataclass(frozen=True)
class SusceptibilityResult:
    """ZFC/FC analysis: demagnetisation factor, corrected χ at the lowest T, fractions, Tc.

    Fractions and Tc are NaN when the data cannot give them; ``warnings`` says why.
    """

    demag_factor: float
    chi_zfc_measured: float
    chi_fc_measured: float
    chi_zfc: float
    chi_fc: float
    shielding_fraction: float
    meissner_fraction: float
    Tc_onset_K: float
    chi_zfc_cgs: float
    chi_normal: float = float("nan")
    noise: float = float("nan")
    warnings: tuple[QualityWarning, ...] = ()
    #: Standard error of :attr:`Tc_onset_K` (:func:`onset_error`).
    Tc_onset_err_K: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap bulk susceptibility --json``."""
        d = asdict(self)
        d["warnings"] = warnings_to_list(self.warnings)
        d["Tc_onset_interval_90_K"] = interval_90(self.Tc_onset_K, self.Tc_onset_err_K)
        return d


def _low_t(t: np.ndarray, chi: np.ndarray) -> float:
    return float(np.nanmedian(chi[np.argsort(t)[:3]]))  # the three lowest temperatures


def _normal_state(t: np.ndarray, chi: np.ndarray) -> tuple[float, float]:
    """Median χ of the top 20 % of the temperature range and the point-to-point noise there
    (robust: MAD of first differences / √2)."""
    ok = np.isfinite(t) & np.isfinite(chi)
    t, chi = t[ok], chi[ok]
    top = t >= t.min() + 0.8 * (t.max() - t.min())
    base = float(np.median(chi[top]))
    c = chi[top][np.argsort(t[top])]
    d = np.diff(c)
    noise = float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)) if d.size > 2 \
        else float("nan")
    return base, noise


def analyze_susceptibility(t_zfc: np.ndarray | None, chi_zfc: np.ndarray | None,
                           t_fc: np.ndarray | None, chi_fc: np.ndarray | None, *,
                           demag_factor: float,
                           notes: tuple[QualityWarning, ...] = ()) -> SusceptibilityResult:
    """Shielding (ZFC) and Meissner (FC) fractions after the demagnetisation correction.

    χ inputs are measured SI volume susceptibilities; fractions are −χ_corrected at the lowest
    temperature (1 = full diamagnetism).  The onset (2 % of the drop) is found on the
    demagnetisation-corrected χ.  Honest limits (each a warning, the number NaN):

    * ``susceptibility.not_diamagnetic`` — χ at the lowest temperature is ≥ 0 (para- or
      ferromagnetic): there is no shielding to quantify;
    * ``susceptibility.no_transition`` — χ does not fall below its normal-state value by more
      than 5 × the noise on cooling: no Tc;
    * ``susceptibility.fraction_out_of_range`` — a fraction outside [−0.05, 1.1], with the
      likely cause (dimensions, units, demagnetisation factor).
    """
    ws: list[QualityWarning] = list(notes)
    have_z = t_zfc is not None and chi_zfc is not None and np.size(t_zfc) >= 8
    have_f = t_fc is not None and chi_fc is not None and np.size(t_fc) >= 3
    if not have_z and not have_f:
        raise AnalysisError("susceptibility: need a ZFC branch of at least 8 points or an FC "
                            "branch")
    nan = float("nan")
    main_t = np.asarray(t_zfc if have_z else t_fc, float)
    main_chi = np.asarray(chi_zfc if have_z else chi_fc, float)
    z_meas = _low_t(np.asarray(t_zfc, float), np.asarray(chi_zfc, float)) if have_z else nan
    f_meas = _low_t(np.asarray(t_fc, float), np.asarray(chi_fc, float)) if have_f else nan
    base, noise = _normal_state(main_t, main_chi)
    low = _low_t(main_t, main_chi)
    drop = base - low
    significant = drop > 5 * noise if np.isfinite(noise) and noise > 0 else drop > 0
    tc = tc_err = nan
    if not significant:
        ws.append(warn("susceptibility.no_transition",
                       "χ does not fall below its normal-state value on cooling by more than "
                       "5× the noise: no superconducting transition, no Tc",
                       chi_normal=base, chi_low_T=low, noise=noise))
    else:
        corrected = demag_correct(main_chi, demag_factor)
        tc = onset_temperature(main_t, corrected)
        # The noise of χ carried through the correction at the normal state (the onset).
        tc_err = onset_error(main_t, corrected, noise / (1 - demag_factor * base) ** 2)
    z = float(demag_correct(z_meas, demag_factor)) if have_z else nan
    f = float(demag_correct(f_meas, demag_factor)) if have_f else nan
    shielding, meissner = -z, -f
    if (have_z and z_meas >= 0) or (not have_z and f_meas >= 0):
        ws.append(warn("susceptibility.not_diamagnetic",
                       "χ at the lowest temperature is positive (para- or ferromagnetic): no "
                       "shielding, so no shielding fraction, Meissner fraction or Tc is given "
                       "(a drop of a positive χ is a magnetic, not a superconducting, "
                       "signature; subtract a known background first if there is one)",
                       chi_low_T_measured=low))
        shielding = meissner = tc = tc_err = nan
    else:
        for name, value in (("shielding", shielding), ("Meissner", meissner)):
            if np.isfinite(value) and not -0.05 <= value <= 1.1:
                cause = ("the volume is too small (dimensions or their unit), the moment is in "
                         "the wrong unit, or the demagnetisation factor is too large (is the "
                         "field along the thickness?)") if value > 1.1 else (
                         "a paramagnetic background or a wrong sign of the moment or field")
                ws.append(warn("susceptibility.fraction_out_of_range",
                               f"{name} fraction {100 * value:.0f} % lies outside [−5 %, 110 %]: "
                               f"likely cause: {cause}", fraction=value,
                               demag_factor=demag_factor))
    return SusceptibilityResult(
        demag_factor=float(demag_factor), chi_zfc_measured=z_meas, chi_fc_measured=f_meas,
        chi_zfc=z, chi_fc=f, shielding_fraction=shielding, meissner_fraction=meissner,
        Tc_onset_K=tc, chi_zfc_cgs=float(si_to_cgs_susceptibility(z)), chi_normal=base,
        noise=noise, warnings=as_warnings(ws), Tc_onset_err_K=tc_err,
    )
