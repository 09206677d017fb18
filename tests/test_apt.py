"""Atom probe: file round trips, bad files, isotopes, overlaps, compositions, cap, profiles."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.apt import (
    assign,
    compare_compositions,
    composition,
    concentration_map,
    decompose,
    depth_profile,
    detect_cap,
    isotope_pattern,
    mass_spectrum,
)
from supramap.errors import AnalysisError, FormatError
from supramap.io import read
from supramap.io.apt import (
    Range,
    RangeTable,
    read_apt,
    read_epos,
    read_pos,
    read_ranges,
    validate_ranges,
    write_apt,
    write_epos,
    write_pos,
    write_rrng,
)
from supramap.synth.apt import NOMINAL, Needle, range_table, simulate, write_needles


@pytest.fixture(scope="module")
def needles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apt")
    truth = write_needles(folder, n_atoms=200_000)
    return folder, truth, read_ranges(folder / "ranges.rrng")


def _ions(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 20, n).astype(np.float32) for _ in range(3)] + \
        [rng.uniform(1, 100, n).astype(np.float32)]


def test_pos_round_trip_exact(tmp_path):
    x, y, z, m = _ions()
    write_pos(tmp_path / "a.pos", x, y, z, m)
    ds = read(tmp_path / "a.pos")
    assert ds.attrs["format"] == "pos"
    for name, arr in zip(("x", "y", "z", "mass_to_charge"), (x, y, z, m)):
        np.testing.assert_array_equal(np.asarray(ds[name].values), arr)
    assert ds["x"].attrs["units"] == "nm" and ds["mass_to_charge"].attrs["units"] == "Da"
    assert isinstance(ds["x"].data, np.memmap)


def test_epos_round_trip_exact(tmp_path):
    x, y, z, m = _ions()
    fields = {"x": x, "y": y, "z": z, "mass_to_charge": m, "tof": m * 10,
              "delta_pulse": np.arange(x.size), "ions_per_pulse": np.ones(x.size)}
    write_epos(tmp_path / "a.epos", fields)
    ds = read(tmp_path / "a.epos")
    np.testing.assert_array_equal(ds["mass_to_charge"].values, m)
    np.testing.assert_array_equal(ds["tof"].values, (m * 10).astype(np.float32))
    np.testing.assert_array_equal(ds["delta_pulse"].values, np.arange(x.size))
    assert ds["vdc"].attrs["units"] == "V"


def test_apt_round_trip_exact(tmp_path):
    x, y, z, m = _ions()
    write_apt(tmp_path / "a.apt", x, y, z, m, extra_sections={"tof": (m * 3, "ns")})
    ds = read(tmp_path / "a.apt")
    assert ds.attrs["format"] == "apt"
    for name, arr in zip(("x", "y", "z", "mass_to_charge"), (x, y, z, m)):
        np.testing.assert_array_equal(ds[name].values, arr)
    np.testing.assert_array_equal(ds["tof"].values, (m * 3).astype(np.float32))
    assert ds.attrs["sections"] == ["Position", "Mass", "tof"]


def test_apt_unknown_sections_are_skipped(tmp_path):
    x, y, z, m = _ions(50)
    write_apt(tmp_path / "a.apt", x, y, z, m, extra_sections={"Odd": (np.zeros((10,)), "")})
    ds = read_apt(tmp_path / "a.apt")
    assert "Odd" in ds.attrs["skipped_sections"]
    assert ds.sizes["ion"] == 50


def test_rrng_round_trip_and_decimal_commas(tmp_path):
    table = range_table()
    write_rrng(tmp_path / "r.rrng", table)
    back = read_ranges(tmp_path / "r.rrng")
    assert [(r.low, r.high, r.composition) for r in back.ranges] == \
        [(pytest.approx(r.low, abs=1e-4), pytest.approx(r.high, abs=1e-4), r.composition)
         for r in table.ranges]
    text = ("[Ions]\nNumber=2\nIon1=Fe\nIon2=O\n[Ranges]\nNumber=2\n"
            "Range1=27,8000 28,2000 Vol:0,01 Fe:1 Color:FF00FF\n"
            "Range2=71,8 72,2 Vol:0,02 Fe:1 O:1 Color:00FF00\n")
    (tmp_path / "c.rrng").write_text(text)
    t = read_ranges(tmp_path / "c.rrng")
    assert t.ranges[1].composition == {"Fe": 1, "O": 1}
    assert t.ranges[0].low == pytest.approx(27.8)
    assert t.ranges[1].ion == "FeO"


def test_rng_oak_ridge(tmp_path):
    text = ("2 3\nFe\nFe 1.0 0.0 1.0\nO\nO 1.0 0.0 0.0\n------------------ Fe O\n"
            ". 27.8 28.2 1 0\n. 15.8 16.2 0 1\n. 71.8 72.2 1 1\n")
    (tmp_path / "r.rng").write_text(text)
    t = read_ranges(tmp_path / "r.rng")
    assert [r.ion for r in t.ranges] == ["O", "Fe", "FeO"]


@pytest.mark.parametrize("cut", [1, 15, 17, 100])
def test_pos_size_not_a_multiple(tmp_path, cut):
    x, y, z, m = _ions(10)
    write_pos(tmp_path / "a.pos", x, y, z, m)
    raw = (tmp_path / "a.pos").read_bytes()
    (tmp_path / "b.pos").write_bytes(raw[:-cut] if cut % 16 else raw + b"x")
    with pytest.raises(FormatError, match="multiple"):
        read_pos(tmp_path / "b.pos")


def test_epos_and_apt_truncated(tmp_path):
    x, y, z, m = _ions(10)
    write_epos(tmp_path / "a.epos", {"x": x, "y": y, "z": z, "mass_to_charge": m})
    (tmp_path / "b.epos").write_bytes((tmp_path / "a.epos").read_bytes()[:-3])
    with pytest.raises(FormatError, match="44-byte"):
        read_epos(tmp_path / "b.epos")
    write_apt(tmp_path / "a.apt", x, y, z, m)
    raw = (tmp_path / "a.apt").read_bytes()
    for cut, msg in ((100, "shorter"), (700, "section"), (len(raw) - 5, "promises")):
        (tmp_path / "c.apt").write_bytes(raw[:cut])
        with pytest.raises(FormatError, match=msg):
            read(tmp_path / "c.apt")
    (tmp_path / "d.apt").write_bytes(b"APT\x00" + b"\xff" * 600)
    with pytest.raises(FormatError):
        read(tmp_path / "d.apt")


def test_empty_ion_files(tmp_path):
    (tmp_path / "e.pos").write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        read(tmp_path / "e.pos")


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("garbage\nmore garbage\n", "first line"),
    ("[Ranges]\nNumber=1\nRange1=28.2 27.8 Fe:1\n", "inverted"),
    ("[Ranges]\nNumber=2\nRange1=27 28.5 Fe:1\nRange2=28 29 O:1\n", "overlap"),
    ("[Ranges]\nNumber=1\nRange1=27 28 Xx:1\n", "unknown element"),
    ("[Ranges]\nNumber=1\nRange1=27 28 Fe:1000000000\n", "not plausible"),
    ("[Ranges]\nNumber=1000\nRange1=27 28 Fe:1\n", "promises"),
    ("[Ranges]\nNumber=1\nRange1=a b Fe:1\n", "not numbers"),
    ("[Ranges]\nNumber=1\nRange1=27\n", "lacks"),
    ("[Ranges]\nNumber=0\n", "no range"),
    ("2 1\nFe\nFe 1 0 0\nO\nO 1 0 0\n----- Fe O\n. 27 28\n", "too few"),
])
def test_bad_range_files(tmp_path, text, message):
    p = tmp_path / "bad.rrng"
    p.write_text(text)
    with pytest.raises(FormatError, match=message):
        read_ranges(p)


def test_assignment_edges():
    t = validate_ranges([Range(10, 11, "Fe", {"Fe": 1}), Range(11, 12, "O", {"O": 1})])
    np.testing.assert_array_equal(assign(np.array([9.9, 10.0, 10.99, 11.0, 12.0]), t),
                                  [-1, 0, 0, 1, -1])


def test_isotope_patterns_match_natural_abundances():
    fe = isotope_pattern("Fe", 1)
    assert sum(a for _, a in fe) == pytest.approx(1.0)
    main = max(fe, key=lambda p: p[1])
    assert main[0] == pytest.approx(55.9349, abs=1e-3)
    assert main[1] == pytest.approx(0.91754, abs=1e-4)
    fe2 = isotope_pattern("Fe", 2)
    assert [m for m, _ in fe2] == pytest.approx([m / 2 for m, _ in fe], abs=1e-6)
    feo = isotope_pattern("FeO", 1)
    assert max(feo, key=lambda p: p[1])[0] == pytest.approx(55.9349 + 15.9949, abs=0.01)
    # ⁵⁸Fe¹⁶O⁺ and ⁷⁴Se⁺ overlap at 74 Da:
    se = dict(isotope_pattern("Se", 1))
    assert any(abs(m - 74) < 0.1 for m, _ in feo) and any(abs(m - 74) < 0.1 for m in se)


def test_ion_labels_carry_the_charge_state_read_off_the_isotope_masses():
    """Range files name the ion only; the label adds the isotope and charge whose m/q
    (IUPAC masses: ⁵⁶Fe 55.935, ¹³⁰Te 129.906, ⁸⁰Se 79.917 Da) falls in the range."""
    from supramap.apt import ion_label

    assert ion_label("Fe", 27.9, 28.05) == "⁵⁶Fe²⁺"
    assert ion_label({"Fe": 1}, 55.8, 56.1) == "⁵⁶Fe⁺"
    assert ion_label("Te", 64.85, 65.05) == "¹³⁰Te²⁺"
    assert ion_label("Te", 43.2, 43.4) == "¹³⁰Te³⁺"
    assert ion_label("Se", 39.9, 40.0) == "⁸⁰Se²⁺"
    assert ion_label("FeO", 71.8, 72.1) == "FeO⁺"
    assert ion_label("Fe", 30.0, 31.0) is None  # no Fe isotope at any charge there


def test_spectrum_figure_labels_ranges_with_charge_states():
    from supramap.apt.analysis import Spectrum
    from supramap.report.apt import spectrum_figure

    t = validate_ranges([Range(27.9, 28.1, "Fe", {"Fe": 1}), Range(55.8, 56.1, "Fe", {"Fe": 1}),
                         Range(64.8, 65.1, "Te", {"Te": 1})])
    edges = np.arange(0, 80.005, 0.01)
    spec = Spectrum(edges, np.ones(edges.size - 1), [])
    fig = spectrum_figure(spec, t)
    texts = {x.get_text() for x in fig.axes[0].texts}
    assert {"⁵⁶Fe²⁺", "⁵⁶Fe⁺", "¹³⁰Te²⁺"} <= texts


def test_overlap_decomposition_recovers_planted_mixture():
    """Te³⁺ and Se²⁺ overlap near 40–41 Da; isotope ratios separate them."""
    rng = np.random.default_rng(7)
    n_te, n_se = 40_000, 25_000
    m = []
    for formula, z, n in (("Te", 3, n_te), ("Se", 2, n_se)):
        pat = isotope_pattern(formula, z)
        mz = np.array([a for a, _ in pat])
        ab = np.array([b for _, b in pat])
        m.append(mz[rng.choice(mz.size, n, p=ab / ab.sum())])
    m = np.concatenate(m)
    centres = np.unique(np.round(np.concatenate(
        [[a for a, _ in isotope_pattern(f, z)] for f, z in (("Te", 3), ("Se", 2))]), 2))
    counts = np.array([np.sum(np.abs(m - c) < 0.03) for c in centres])
    out = decompose(counts, centres, [("Te", 3), ("Se", 2)], tolerance=0.03)
    te, te_err = out["Te3+"]
    se, se_err = out["Se2+"]
    assert abs(te - n_te) < 3 * te_err
    assert abs(se - n_se) < 3 * se_err
    with pytest.raises(AnalysisError, match="separate"):
        decompose(counts[:1], centres[:1], [("Te", 3), ("Se", 2)])


def test_composition_within_counting_error(needles):
    folder, truth, table = needles
    for name in ("conducting", "insulating"):
        ions = read(folder / f"needle_{name}.pos")
        cap = detect_cap(ions, table, element="O", threshold=0.2)
        assert cap == pytest.approx(truth[name]["cap_nm"], abs=2.0)
        c = composition(ions, table, min_depth_nm=cap + 2, background=True)
        counts = truth[name]["atom_counts_below_cap"]
        total = sum(counts.values())
        for el, n in counts.items():
            f, s = c.atomic[el]
            assert abs(f - n / total) < 3 * s, (name, el)
        assert c.to_dict()["excluded_depth_m"] == pytest.approx((cap + 2) * 1e-9)


def test_apt_and_pos_agree(needles):
    folder, _, table = needles
    a = composition(read(folder / "needle_insulating.pos"), table, min_depth_nm=25)
    b = composition(read(folder / "needle_insulating.apt"), table, min_depth_nm=25)
    assert a.atom_counts == b.atom_counts


def test_needle_comparison_finds_fe_depletion(needles):
    folder, _, table = needles
    a = composition(read(folder / "needle_conducting.pos"), table, min_depth_nm=25)
    b = composition(read(folder / "needle_insulating.pos"), table, min_depth_nm=25)
    cmp = compare_compositions(a, b)
    fe_te = cmp["ratios"]["Fe/Te"]
    assert fe_te["a"] == pytest.approx(0.40 / 0.36, rel=0.02)
    assert fe_te["b"] == pytest.approx(0.50 / 0.30, rel=0.02)
    assert fe_te["z"] < -10
    assert abs(cmp["ratios"]["Se/Te"]["z"]) < 4  # same Se/Te in both


def test_profiles_and_maps(needles):
    folder, truth, table = needles
    ions = read(folder / "needle_insulating.apt")
    p = depth_profile(ions, table, bin_nm=2.0)
    deep = p.depth_nm > 30
    assert np.nanmean(p.fractions["Fe"][deep]) == pytest.approx(NOMINAL["Fe"], abs=0.01)
    assert np.nanmean(p.fractions["O"][p.depth_nm < 15]) > 0.3
    assert (p.sigmas["Fe"][deep] > 0).all()
    q = depth_profile(ions, table, ions_per_bin=20_000)
    assert np.all(np.abs(q.atoms[:-1] - 20_000) < 2_000)
    cyl = depth_profile(ions, table, bin_nm=5,
                        cylinder={"centre": (0, 0, 70), "axis": (0, 0, 1), "radius": 10,
                                  "length": 80})
    assert cyl.atoms.sum() < p.atoms.sum()
    assert np.nanmean(cyl.fractions["Fe"][cyl.depth_nm > 20]) == pytest.approx(0.5, abs=0.02)
    cmap = concentration_map(ions, table, "Fe", bin_nm=5, min_depth_nm=25)
    assert cmap.dims == ("y", "x") and cmap.x.attrs["units"] == "m"
    assert np.nanmedian(cmap.values) == pytest.approx(0.5, abs=0.03)
    spec = mass_spectrum(ions, table=table)
    assert spec.unranged_peaks == []
    t2 = RangeTable(tuple(r for r in table.ranges if "O" not in r.composition))
    assert any(abs(p - 16.0) < 0.1 for p in mass_spectrum(ions, table=t2).unranged_peaks)


def test_cap_errors(needles):
    folder, _, table = needles
    ions = read(folder / "needle_insulating.pos")
    with pytest.raises(AnalysisError, match="no range contains"):
        detect_cap(ions, table, element="Cu", threshold=0.1)
    assert detect_cap(ions, table, element="O", threshold=0.99) == 0.0


def test_simulated_needle_truth():
    s = simulate(Needle("t", NOMINAL, n_atoms=20_000))
    assert s["x"].size == 20_000
    assert s["z"].min() >= 0


def test_cross_check_with_ifes(needles, tmp_path, monkeypatch):
    # The library writes ifes-apt-tc-data-modeling.log into the working directory on import:
    # import it from a temporary folder, so no log lands in the repository.
    monkeypatch.chdir(tmp_path)
    pytest.importorskip("ifes_apt_tc_data_modeling",
                        reason="optional cross-check extra 'apt-crosscheck' not installed")
    from ifes_apt_tc_data_modeling.apt.apt6_reader import ReadAptFileFormat
    from ifes_apt_tc_data_modeling.pos.pos_reader import ReadPosFileFormat
    from ifes_apt_tc_data_modeling.rrng.rrng_reader import ReadRrngFileFormat

    folder, _, table = needles
    ours = read(folder / "needle_conducting.pos")
    theirs = ReadPosFileFormat(str(folder / "needle_conducting.pos"))
    np.testing.assert_array_equal(np.asarray(theirs.get_mass_to_charge_state_ratio().magnitude)
                                  .ravel(), ours["mass_to_charge"].values)
    apt = ReadAptFileFormat(str(folder / "needle_conducting.apt"))
    np.testing.assert_array_equal(np.asarray(apt.get_reconstructed_positions().magnitude)[:, 2],
                                  read(folder / "needle_conducting.apt")["z"].values)
    rr = ReadRrngFileFormat(str(folder / "ranges.rrng"))
    assert len(rr.rrng["molecular_ions"]) == len(table.ranges)


def test_mass_spectrum_labels_one_ion_and_charge_state_per_isotope_group(tmp_path):
    """Isotopes of one ion and charge state share one horizontal label over their ranges
    (they were labelled one by one, vertically, overlapping)."""
    import matplotlib

    matplotlib.use("Agg")
    from types import SimpleNamespace

    from supramap.io.apt import read_rrng
    from supramap.report.apt import _label_groups, spectrum_figure

    lines = ["[Ions]", "Number=2", "Ion1=Fe", "Ion2=Se", "[Ranges]", "Number=8"]
    windows = [(26.85, 27.10, "Fe"), (27.84, 28.09, "Fe"), (28.34, 28.59, "Fe"),
               (28.84, 29.09, "Fe"), (37.83, 38.08, "Se"), (39.83, 40.08, "Se"),
               (53.69, 54.19, "Fe"), (55.68, 56.18, "Fe")]
    lines += [f"Range{i + 1}={lo:.4f} {hi:.4f} Vol:0.01 {el}:1 Color:FF00FF"
              for i, (lo, hi, el) in enumerate(windows)]
    (tmp_path / "r.rrng").write_text("\n".join(lines) + "\n")
    table = read_rrng(tmp_path / "r.rrng")
    groups = _label_groups(table.ranges)
    assert [g[0] for g in groups] == ["Fe²⁺", "Se²⁺", "Fe⁺"]
    assert groups[0][1:3] == pytest.approx((26.85, 29.09))
    centres = np.linspace(0.5, 80, 1600)
    spec = SimpleNamespace(centres=centres, counts=np.ones_like(centres), unranged_peaks=[])
    fig = spectrum_figure(spec, table)
    texts = [t for t in fig.axes[0].texts if t.get_text()]
    assert [t.get_text() for t in texts] == ["Fe²⁺", "Se²⁺", "Fe⁺"]
    assert all(t.get_rotation() == 0 and t.get_fontsize() >= 9 for t in texts)
