"""Four-probe simulation on maps: analytic limits, exact superconducting shorts, EMT, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from supramap.errors import AnalysisError
from supramap.network import (
    Contact,
    bruggeman_2d,
    build_network,
    default_contacts,
    fourprobe,
    make_solver,
    monte_carlo,
    percolation_stats,
    van_der_pauw_sheet_resistance,
)

RS = 100.0  # Ω per square


def uniform(shape, rs=RS):
    return np.full(shape, 1.0 / rs)


def no_sc(shape):
    return np.zeros(shape, bool)


def test_van_der_pauw_equation():
    assert van_der_pauw_sheet_resistance(1.0, 1.0) == pytest.approx(np.pi / np.log(2))
    r1, r2 = 3.0, 7.0
    rs = van_der_pauw_sheet_resistance(r1, r2)
    assert np.exp(-np.pi * r1 / rs) + np.exp(-np.pi * r2 / rs) == pytest.approx(1.0, abs=1e-12)
    assert van_der_pauw_sheet_resistance(0.0, 5.0) == 0.0
    assert np.isnan(van_der_pauw_sheet_resistance(-1.0, 5.0))


def test_homogeneous_square_vdp_within_1_percent():
    r = fourprobe(uniform((256, 256)), no_sc((256, 256)), geometry="vdp")
    assert r.sheet_resistance_apparent_ohm == pytest.approx(RS, rel=0.01)
    # Square symmetry: both configurations equal.
    a, b = r.resistances_ohm.values()
    # Multigrid-CG to a relative residual of 1e-6 (supramap.network.solve.TARGET_RESIDUAL)
    # leaves resistances within ~1e-7.
    assert a == pytest.approx(b, rel=1e-6)
    assert a == pytest.approx(RS * np.log(2) / np.pi, rel=0.01)
    assert r.residual <= 1e-6
    assert not r.zero_resistance


def test_bar_reads_rho_l_over_w():
    ny, nx, rs = 40, 200, 50.0
    contacts = [Contact(0, ny, 0, 1, "I+"), Contact(20, 21, 50, 51, "V+"),
                Contact(20, 21, 150, 151, "V-"), Contact(0, ny, nx - 1, nx, "I-")]
    r = fourprobe(uniform((ny, nx), rs), no_sc((ny, nx)), geometry="inline", contacts=contacts)
    # Uniform current between full-width pads: V = I ρs L / W, L = 100 px, W = 40 px.
    assert r.R_apparent_ohm == pytest.approx(rs * 100 / 40, rel=1e-3)


def test_anisotropic_pixels_scale_the_resistance():
    ny, nx = 20, 60
    contacts = [Contact(0, ny, 0, 1), Contact(10, 11, 10, 11), Contact(10, 11, 50, 51),
                Contact(0, ny, nx - 1, nx)]
    r = fourprobe(uniform((ny, nx)), no_sc((ny, nx)), geometry="inline", contacts=contacts,
                  dx=2.0, dy=1.0)
    # L = 40 px × 2, W = 20 px × 1 (the metal voltage-probe pixels short 0.2 % of it).
    assert r.R_apparent_ohm == pytest.approx(RS * 80 / 20, rel=5e-3)


def test_series_and_parallel_layers():
    ny, nx = 30, 120
    rho = np.where(np.arange(nx) < 60, 10.0, 40.0)  # two layers in series along x
    g = np.tile(1 / rho, (ny, 1))
    pads = [Contact(0, ny, 0, 1), Contact(0, ny, nx - 1, nx)]
    r = fourprobe(g, no_sc(g.shape), geometry="twoprobe", contacts=pads)
    # Between the metal pads: pixels 1–59 of 10 Ω/sq and 60–118 of 40 Ω/sq, across 30 px.
    series = (59 * 10 + 59 * 40) / ny
    assert r.R_apparent_ohm == pytest.approx(series, rel=1e-9)
    rho_rows = np.where(np.arange(ny) < 10, 10.0, 40.0)  # layers in parallel
    g = np.tile((1 / rho_rows)[:, None], (1, nx))
    r = fourprobe(g, no_sc(g.shape), geometry="twoprobe", contacts=pads)
    parallel = 1 / (10 / (10 * 118) + 20 / (40 * 118))
    assert r.R_apparent_ohm == pytest.approx(parallel, rel=1e-9)


def test_superconducting_stripe_between_voltage_contacts_reads_exactly_zero():
    ny, nx = 64, 256
    sc = no_sc((ny, nx))
    contacts = default_contacts((ny, nx), "inline")
    (r1, c1), (_, c2) = contacts[1].centre, contacts[2].centre
    sc[int(r1), int(c1):int(c2) + 1] = True  # one-pixel filament
    r = fourprobe(uniform((ny, nx)), sc, geometry="inline", contacts=contacts)
    assert r.sc_fraction < 0.01
    assert r.R_apparent_ohm == 0.0
    assert r.zero_resistance
    assert r.sc_percolates_voltage and not r.sc_percolates
    assert "joins voltage contacts" in r.sc_cluster_role.values()


def test_filament_between_current_contacts_shorts_everything():
    ny, nx = 48, 128
    contacts = default_contacts((ny, nx), "inline")
    sc = no_sc((ny, nx))
    (r0, c0), (_, c3) = contacts[0].centre, contacts[3].centre
    sc[int(r0) + 5, int(c0):int(c3) + 1] = True
    sc[int(r0):int(r0) + 6, int(c0)] = True
    sc[int(r0):int(r0) + 6, int(c3)] = True
    r = fourprobe(uniform((ny, nx)), sc, geometry="inline", contacts=contacts)
    assert r.sc_percolates
    assert r.R_apparent_ohm == 0.0 and r.zero_resistance
    assert r.current_fraction_in_sc == pytest.approx(1.0)


def test_isolated_island_lowers_but_keeps_resistance():
    n = 96
    sc = no_sc((n, n))
    sc[30:66, 30:66] = True
    r = fourprobe(uniform((n, n)), sc, geometry="vdp")
    assert 0 < r.R_apparent_ohm < r.R_homogeneous_ohm
    assert 0 < r.sheet_resistance_apparent_ohm < RS
    assert not r.zero_resistance and not r.sc_percolates
    assert list(r.sc_cluster_role.values()) == ["isolated"]
    assert 0 < r.current_fraction_in_sc < 1
    # Maps: potential everywhere, current density NaN inside the superconductor only.
    assert np.isfinite(r.potential_V).all()
    assert np.isnan(r.current_density_A_per_m[40, 40])
    assert np.isfinite(r.current_density_A_per_m[5, 50])


def test_current_conservation_in_density_map():
    n = 64
    r = fourprobe(uniform((n, n)), no_sc((n, n)), geometry="twoprobe",
                  contacts=[Contact(0, n, 0, 1), Contact(0, n, n - 1, n)])
    # 1 A through a bar of width n pixels of pitch 1: J = 1 A / n m along x everywhere inside.
    jx = r.current_x[:, 5:-5]
    np.testing.assert_allclose(jx, 1.0 / n, rtol=1e-9)


@pytest.mark.parametrize("f", [0.1, 0.2, 0.3])
def test_random_masks_follow_effective_medium_theory(f):
    """Thresholded smooth random fields (grains ≫ pixel; percolation at f = ½ as in 2-D
    Bruggeman EMT) away from the threshold: R_s/R_n = 1 − 2f within sample scatter."""
    n = 192
    ratios = []
    for seed in range(3):
        field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((n, n)),
                                        5, mode="wrap")
        sc = field > np.quantile(field, 1 - f)
        r = fourprobe(uniform((n, n)), sc, geometry="vdp", reference_sheet_resistance=RS)
        ratios.append(r.sheet_resistance_apparent_ohm / RS)
    emt_ratio = (1 / bruggeman_2d(f, np.inf, 1 / RS)) / RS
    assert emt_ratio == pytest.approx(1 - 2 * f)
    assert np.mean(ratios) == pytest.approx(emt_ratio, abs=0.05)


def test_bruggeman_limits():
    assert bruggeman_2d(0.0, 5.0, 1.0) == pytest.approx(1.0)
    assert bruggeman_2d(1.0, 5.0, 1.0) == pytest.approx(5.0)
    assert bruggeman_2d(0.5, 4.0, 1.0) == pytest.approx(2.0)  # √(σ₁σ₂) at f = ½ in 2-D
    assert bruggeman_2d(0.25, np.inf, 1.0) == pytest.approx(2.0)
    assert bruggeman_2d(0.6, np.inf, 1.0) == np.inf
    with pytest.raises(AnalysisError):
        bruggeman_2d(1.5, 2.0, 1.0)


def test_percolation_stats():
    m = np.zeros((50, 60), bool)
    m[10, :] = True  # spans x
    m[30:35, 5:10] = True
    s = percolation_stats(m)
    assert s.spans_x and not s.spans_y
    assert s.n_clusters == 2
    assert list(s.cluster_sizes_px) == [60, 25]
    assert s.fraction == pytest.approx(85 / 3000)
    assert s.to_dict()["cluster_size_histogram"]["counts"]


def test_monte_carlo_counts_zero_readings():
    n = 64
    sc = no_sc((n, n))
    sc[12:52, 12:52] = True  # in-line probes whose inner pair lands on it read zero
    mc = monte_carlo(uniform((n, n)), sc, geometry="inline", n=30, seed=1)
    d = mc.to_dict()
    assert d["n"] == 30
    assert 0 < d["fraction_zero"] < 1
    assert mc.open.sum() == 0
    mc2 = monte_carlo(uniform((n, n)), lambda k: sc, geometry="inline", n=10,
                      threshold_range=(0.5, 2.0), seed=2)
    assert ((mc2.threshold_factor >= 0.5) & (mc2.threshold_factor <= 2.0)).all()


def test_all_superconducting_map_reads_zero():
    n = 32
    r = fourprobe(uniform((n, n)), np.ones((n, n), bool), geometry="vdp",
                  reference_sheet_resistance=RS)
    assert r.zero_resistance and r.sc_percolates
    assert r.sheet_resistance_apparent_ohm == 0.0
    with pytest.raises(AnalysisError, match="reference sheet resistance"):
        fourprobe(uniform((n, n)), np.ones((n, n), bool), geometry="vdp")


def test_nan_pixels_are_insulating():
    n = 40
    g = uniform((n, n))
    g[:, 18:22] = np.nan  # a void wall cuts the sample in two
    with pytest.raises(AnalysisError, match="no conducting path"):
        fourprobe(g, no_sc((n, n)), geometry="inline")
    g = uniform((n, n))
    g[5:10, 5:10] = np.nan  # a hole: still measurable, higher resistance
    r = fourprobe(g, no_sc((n, n)), geometry="vdp", reference_sheet_resistance=RS)
    assert r.sheet_resistance_apparent_ohm > RS


def test_non_conducting_map_is_a_clear_error():
    with pytest.raises(AnalysisError, match="no conducting path"):
        fourprobe(np.zeros((20, 20)), no_sc((20, 20)), geometry="vdp",
                  reference_sheet_resistance=RS)


def test_contacts_outside_or_overlapping():
    g = uniform((20, 20))
    with pytest.raises(AnalysisError, match="outside"):
        fourprobe(g, no_sc(g.shape), geometry="twoprobe",
                  contacts=[Contact.point(5, 5), Contact.point(25, 5)])
    with pytest.raises(AnalysisError, match="share a pixel"):
        fourprobe(g, no_sc(g.shape), geometry="twoprobe",
                  contacts=[Contact.point(5, 5, name="a"), Contact.point(5, 5, name="b")])
    with pytest.raises(AnalysisError, match="unknown geometry"):
        fourprobe(g, no_sc(g.shape), geometry="hall")
    with pytest.raises(AnalysisError, match="needs 4 contacts"):
        fourprobe(g, no_sc(g.shape), geometry="vdp", contacts=[Contact.point(1, 1),
                                                               Contact.point(9, 9)])


def test_voltage_contact_on_an_isolated_region():
    g = uniform((30, 60))
    g[:, 40:] = 0  # contact V- lies on an insulating region
    g[10:20, 45:55] = 1 / RS
    contacts = [Contact.point(15, 2), Contact.point(15, 20), Contact.point(15, 50),
                Contact.point(15, 30)]
    with pytest.raises(AnalysisError, match="not connected"):
        fourprobe(g, no_sc(g.shape), geometry="inline", contacts=contacts)


def test_correlated_texture_vdp_result_shape():
    n = 96
    field = ndimage.gaussian_filter(np.random.default_rng(0).standard_normal((n, n)), 4)
    sc = field > np.quantile(field, 0.7)
    r = fourprobe(uniform((n, n)), sc, geometry="vdp")
    d = r.to_dict()
    for key in ("geometry", "sc_fraction", "sc_percolates", "R_apparent_ohm",
                "R_homogeneous_ohm", "sheet_resistance_apparent_ohm", "zero_resistance",
                "current_fraction_in_sc", "residual"):
        assert key in d
    assert d["sc_fraction"] == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("insulating", [False, True])
def test_direct_and_multigrid_solves_agree(monkeypatch, insulating):
    """Both solvers on one map with clusters (and, with insulating pixels, more than one
    component: the grounded, reduced system): the same resistances within the multigrid's
    1e-6 residual; and a homogeneous square still reads R_s ln 2 / π through multigrid."""
    import supramap.network.solve as solve

    rng = np.random.default_rng(5)
    field = ndimage.gaussian_filter(rng.standard_normal((96, 96)), 3)
    sc = field > np.quantile(field, 0.7)
    g = uniform((96, 96))
    if insulating:  # insulating patches inside; the corner contacts stay connected
        hole = field < np.quantile(field, 0.1)
        hole[:12], hole[-12:], hole[:, :12], hole[:, -12:] = False, False, False, False
        g[hole] = 0.0
    direct = fourprobe(g, sc)
    monkeypatch.setattr(solve, "DIRECT_LIMIT", 100)
    amg = fourprobe(g, sc)
    assert amg.residual <= 1e-6 and direct.residual < 1e-10
    assert amg.R_apparent_ohm == pytest.approx(direct.R_apparent_ohm, rel=1e-5)
    for k, v in direct.resistances_ohm.items():
        assert amg.resistances_ohm[k] == pytest.approx(v, rel=1e-5, abs=1e-9 * RS)
    hom = fourprobe(uniform((96, 96)), no_sc((96, 96)))
    assert hom.sheet_resistance_apparent_ohm == pytest.approx(RS, rel=0.02)


def test_multigrid_on_the_whole_laplacian_reaches_a_tight_residual(monkeypatch):
    """One component solved iteratively on the singular Laplacian: CG must not lose itself in
    the constant null vector.  On this 384² map pyamg's own CG stopped at a relative residual
    of 1.2e-6 (it reported the matrix indefinite) when 3e-13 was asked; the solve must reach
    it and give the direct solve's resistance."""
    import supramap.network.solve as solve

    field = ndimage.gaussian_filter(np.random.default_rng(5).standard_normal((384, 384)), 6)
    sc = field > np.quantile(field, 0.7)
    net = build_network(uniform(sc.shape), sc, default_contacts(sc.shape, "vdp"))
    a, b = net.contact_nodes[0], net.contact_nodes[1]
    direct = make_solver(net, a)
    v_direct, _ = direct.solve({a: 1.0, b: -1.0})
    monkeypatch.setattr(solve, "DIRECT_LIMIT", 100)
    iterative = make_solver(net, a, tol=3e-13)
    assert iterative.singular  # the path under test: whole Laplacian, no grounded copy
    v, residual = iterative.solve({a: 1.0, b: -1.0})
    assert residual <= 3e-13
    assert v[a] - v[b] == pytest.approx(v_direct[a] - v_direct[b], rel=1e-10)


def test_a_solve_that_does_not_converge_is_an_error(monkeypatch):
    """Potentials that leave Kirchhoff's law unsatisfied (here a multigrid that returns no
    progress, or NaN) give an AnalysisError naming the residual, never a resistance."""
    import supramap.network.solve as solve

    field = ndimage.gaussian_filter(np.random.default_rng(2).standard_normal((48, 48)), 3)
    sc = field > np.quantile(field, 0.7)
    net = build_network(uniform(sc.shape), sc, default_contacts(sc.shape, "vdp"))
    a, b = net.contact_nodes[0], net.contact_nodes[1]
    monkeypatch.setattr(solve, "DIRECT_LIMIT", 100)
    for stuck in (np.zeros, lambda n: np.full(n, np.nan)):
        solver = make_solver(net, a)
        monkeypatch.setattr(solve.Solver, "_amg_solve",
                            lambda self, rhs, x0, tol, stuck=stuck: stuck(rhs.size))
        with pytest.raises(AnalysisError, match="did not converge"):
            solver.solve({a: 1.0, b: -1.0})


@pytest.mark.parametrize("insulating", [False, True])
def test_checkerboard_elimination_gives_the_plain_solution(insulating):
    """The direct path eliminates the normal pixels of one checkerboard colour before the
    LDLᵀ: node potentials equal scipy's spsolve of the same grounded matrix (built here from
    the bonds, not from the solver) to 1e-10, on a map with clusters, varying conductance and
    (with insulating pixels) more than one component."""
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    import supramap.network.solve as solve

    rng = np.random.default_rng(11)
    field = ndimage.gaussian_filter(rng.standard_normal((64, 80)), 3)
    sc = field > np.quantile(field, 0.75)
    g = 10 ** rng.uniform(-3, -1, sc.shape)
    if insulating:
        g[(field < np.quantile(field, 0.15)) & (np.arange(80) > 8) & (np.arange(80) < 70)] = 0
    net = build_network(g, sc, default_contacts(sc.shape, "vdp"))
    a, b = net.contact_nodes[0], net.contact_nodes[2]
    solver = make_solver(net, a)
    assert isinstance(solver.factor, solve._Eliminated)  # the path under test
    assert solver.factor.red.size > solver.matrix.shape[0] // 4
    v, residual = solver.solve({a: 1.0, b: -1.0})
    # Reference: Laplacian of the bonds, restricted to the component and grounded at `ground`.
    ba, bb, w = net.bond_a, net.bond_b, net.bond_g
    n = net.n_nodes
    ends = (np.r_[ba, bb, ba, bb], np.r_[bb, ba, ba, bb])
    lap = sparse.coo_matrix((np.r_[-w, -w, w, w], ends), shape=(n, n)).tocsr()
    keep = np.flatnonzero(solver.component & (np.arange(n) != solver.ground))
    rhs = np.zeros(n)
    rhs[a], rhs[b] = 1.0, -1.0
    ref = spsolve(lap[keep][:, keep].tocsc(), rhs[keep])
    assert residual < 1e-10
    np.testing.assert_allclose(v[keep], ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    assert v[solver.ground] == 0.0
    assert np.isnan(v[~solver.component]).all()


def test_elimination_refuses_a_set_that_shares_bonds():
    """Rows that share a bond cannot be eliminated as one diagonal block: the factorisation
    falls back to the plain LDLᵀ, and the answer is still exact."""
    from scipy import sparse

    import supramap.network.solve as solve

    m = 40
    # A chain grounded at both ends (diagonal 2 throughout): positive definite.
    k = sparse.diags([-np.ones(m - 1), np.full(m, 2.0), -np.ones(m - 1)], [-1, 0, 1],
                     format="csr")
    red = np.zeros(m, bool)
    red[::2] = True
    red[1] = True  # 0 and 1 share a bond
    factor = solve._factorise(k, red)
    assert not isinstance(factor, solve._Eliminated)
    b = np.zeros(m)
    b[5] = 1.0
    np.testing.assert_allclose(k @ factor.solve(b), b, atol=1e-12)
    red[1] = False  # independent now
    eliminated = solve._factorise(k, red)
    assert isinstance(eliminated, solve._Eliminated)
    np.testing.assert_allclose(k @ eliminated.solve(b), b, atol=1e-12)
