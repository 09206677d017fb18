"""The declared analyses of supramap: what each reads, its parameters, its library function.

The CLI options of each command are built from these declarations (``supramap.cli.common.
option``), the README's command table is checked against them (tests/test_registry.py), and
``supramap batch --analysis NAME`` and ``sample.toml`` read parameters through them.
"""

from __future__ import annotations

from supramap.analyses.registry import Analysis, Input, Parameter, Registry

REGISTRY = Registry()
P = Parameter

# Parameters several analyses share ----------------------------------------------------------
THRESHOLD = P("threshold", "current", "Conducting threshold: 'auto' or a current",
              default="auto", unit="A", lo=0.0, hi=1.0, auto=True)
TEMPERATURE = P("temperature", "temperature", "Temperature", default="1", unit="K",
                lo=0.0, hi=1000.0, lo_open=True)
LOCKIN = P("lockin_rms", "voltage", "Lock-in modulation (rms); default: the file header's "
           "Lock-in>Amplitude / √2 when the lock-in modulated the bias, else 0",
           unit="V", lo=0.0, hi=0.1)
LEVEL = P("level", "choice", "Background subtraction before the analysis", default="none",
          choices=("none", "plane", "poly2", "poly3"))
ALIGN = P("align_rows", "choice", "Line-offset correction", default="none",
          choices=("none", "median", "poly"))
SCARS = P("remove_scars", "flag", "Remove horizontal scars (Gwyddion's criteria) first",
          default=False)
CLIP = P("clip", "number", "Display range of the report's maps as percentiles 'LO,HI' "
         "(the analysis is not affected); default 0.5,99.5", count=2, lo=0.0, hi=100.0)
SPEC_CHANNEL = P("channel", "text", "Conductance column (default: lock-in X, else dI/dV of "
                 "the current)")
BIAS_COLUMN = P("bias_column", "text", "Bias column of a CSV/TXT table")
GRID_CHANNEL = P("channel", "text", "Grid/image channel as the header names it (default: "
                 "lock-in X)")
LENGTH = P("length", "length", "Sample length (between the voltage contacts for transport)",
           unit="mm", lo=0.0, hi=1000.0, lo_open=True, flags=("--length", "--length-mm"))
WIDTH = P("width", "length", "Sample width", unit="mm", lo=0.0, hi=1000.0, lo_open=True,
          flags=("--width", "--width-mm"))
THICKNESS = P("thickness", "length", "Sample thickness", unit="mm", lo=0.0, hi=1000.0,
              lo_open=True, flags=("--thickness", "--thickness-mm"))
COLUMNS = P("columns", "text", "For CSV/TXT: 'Temperature=<column>,Moment=<column>,...'")
EXCLUDE_TOP = P("exclude_top", "length", "Exclude this depth from the apex", unit="m",
                lo=0.0, hi=1e-5)
EXCLUDE_CAP = P("exclude_cap", "text", "Detect and exclude the cap: ELEMENT:THRESHOLD, "
                "e.g. O:0.2")
RANGE = Input("range", ".rrng, .rng", "Range file", flag="--range")
CURRENT_MAP = "current map (BCR/BCRF, .gwy, .sxm, .ibw, .spm, .mtrx ...)"
SPECTRUM = "spectrum (Nanonis .dat, CSV/TXT)"
GRID = "grid (Nanonis .3ds)"
QD = "Quantum Design .dat (or CSV/TXT with --columns)"
NEEDLE = "ions (.pos, .epos, .apt)"


def _add(*args, **kwargs) -> Analysis:
    return REGISTRY.add(Analysis(*args, **kwargs))


# cAFM ----------------------------------------------------------------------------------------
_add("cafm-analyze", "Noise floor, conducting fraction, islands, current levels, edge width, "
     "artefacts",
     (Input("current", CURRENT_MAP, "Current map"),
      Input("topography", "image in m", "Topography recorded alongside", optional=True,
            flag="--topography"),
      Input("deflection", "image", "Deflection recorded alongside", optional=True,
            flag="--deflection")),
     (P("channel", "text", "Current channel name (or prefix)"),
      P("topography_channel", "text", "Topography channel of the same file (default: in m)"),
      P("deflection_channel", "text", "Deflection channel of the same file (default: none)"),
      THRESHOLD,
      P("line", "length", "Edge line 'x0,y0,x1,y1' in image coordinates: also measure its "
        "10–90 % width", unit="m", count=4),
      P("line_width", "length", "Box width of --line (0: a single profile)", default="0",
        unit="m", lo=0.0, hi=1.0),
      LEVEL, ALIGN, SCARS, CLIP,
      P("mask", "file", "Conducting pixels given instead of the threshold: a NetCDF written "
        "by --masks, or an image of the map's size (non-zero = conducting)"),
      P("ignore_feedback", "flag", "Analyse a current image the file says was taken under "
        "current feedback (constant-current STM) anyway; refused by default", default=False),
      P("islands", "file", "Write the per-island table here (CSV; units in the column names)",
        output=True),
      P("masks", "file", "Write the conducting mask and island labels here (NetCDF; a .tif "
        "gets the labels)", output=True)),
     "supramap.conduction.ConductionResult", "supramap.analyses.library:cafm_analyze",
     headline=("conducting_fraction", "levels_A", "n_islands", "edge_width_m"))
_add("cafm-compare", "Overlap of conducting areas in two maps (forward/backward or two "
     "temperatures)",
     (Input("a", CURRENT_MAP, "Current map A (reference)"),
      Input("b", CURRENT_MAP, "Current map B (registered onto A)"),
      Input("topography_a", "image in m", "Topography with map A", optional=True,
            flag="--topography-a"),
      Input("topography_b", "image in m", "Topography with map B", optional=True,
            flag="--topography-b")),
     (P("channel", "text", "Current channel in both files"), THRESHOLD),
     "supramap.conduction.Comparison", "supramap.analyses.library:cafm_compare",
     headline=("iou", "shift_m"), batch=False)
_add("cafm-series", "Conducting fraction versus temperature, vanishing temperature, returning "
     "islands",
     (Input("files", CURRENT_MAP, "Current maps of one area, in order", many=True),
      Input("topography", "image in m", "Topography per map (repeat)", many=True,
            optional=True, flag="--topography")),
     (P("temperatures", "temperature", "One temperature per map, in order (a comma list or "
        "repeated)", unit="K", count=0, lo=0.0, lo_open=True, flags=("--temperatures", "-t")),
      P("channel", "text", "Current channel as the header names it"), THRESHOLD),
     "supramap.conduction.TemperatureSeries", "supramap.analyses.library:cafm_series",
     headline=("vanishing_temperature_K",),
     batch=False)

# four-probe ---------------------------------------------------------------------------------
_add("network-fourprobe", "Simulate a four-probe / van der Pauw / two-probe measurement on a "
     "measured map",
     (Input("map_file", "current (A) or sheet-conductance (S) map", "Map"),),
     (P("channel", "text", "Current (A) or sheet-conductance (S) channel (default: first)"),
      P("threshold", "current", "'auto' (the cAFM analysis' mask) or a current",
        default="auto", unit="A", lo=0.0, hi=1.0, auto=True),
      P("rule", "choice", "threshold: superconducting above it, normal below; proportional: "
        "conductance ∝ current", default="threshold", choices=("threshold", "proportional")),
      P("normal_sheet_resistance", "resistance", "Sheet resistance of the normal phase "
        "(Ω per square)", default="1000", unit="Ohm", lo=1e-6, hi=1e15),
      P("geometry", "choice", "Contact geometry", default="vdp",
        choices=("vdp", "inline", "twoprobe")),
      P("contacts", "length", "Contacts 'x,y;x,y;...' (default: per geometry)", unit="m",
        count=0),
      P("contact_size", "integer", "Contact pad size in pixels", default=1, lo=1, hi=10000),
      P("monte_carlo", "integer", "Random contact placements", default=0, lo=0, hi=100000),
      P("vary_threshold", "flag", "Monte Carlo also over threshold ×0.5–2", default=False),
      P("interval_draws", "integer", "Noise re-draws for the resistance's 90 % interval "
        "(default 6 on maps up to 512², none above: it multiplies the time ~3×; 0: none)",
        lo=0, hi=10000)),
     "supramap.network.FourProbeResult", "supramap.analyses.library:network_fourprobe",
     headline=("R_apparent_ohm", "resistance_ratio", "zero_resistance", "sc_fraction"))

# bulk ---------------------------------------------------------------------------------------
_add("bulk-transport", "Tc criteria, residual resistivity, RRR, normal state; critical fields "
     "for ρ(H)",
     (Input("file", QD, "PPMS resistivity file"),),
     (P("column", "text", "Resistance column (default: Bridge 1)"),
      LENGTH, WIDTH, THICKNESS, COLUMNS),
     "supramap.bulk.TransportResult", "supramap.analyses.library:bulk_transport",
     headline=("Tc_onset_K", "Tc_zero_K", "RRR"))
_add("bulk-susceptibility", "Volume susceptibility, demagnetisation correction, shielding and "
     "Meissner fractions",
     (Input("file", QD, "MPMS ZFC/FC file"),),
     (LENGTH, WIDTH, THICKNESS,
      P("shape", "choice", "prism or ellipsoid (semi-axes = half the dimensions)",
        default="prism", choices=("prism", "ellipsoid")), COLUMNS),
     "supramap.bulk.SusceptibilityResult", "supramap.analyses.library:bulk_susceptibility",
     headline=("shielding_fraction", "meissner_fraction", "Tc_onset_K"))
_add("bulk-heat", "γ, β, θ_D, superconducting volume fraction and the specific-heat jump",
     (Input("file", QD, "PPMS heat-capacity file"),),
     (P("mass", "mass", "Sample mass; default: the file header's MASS", unit="mg", lo=0.0,
        hi=1e7, lo_open=True, flags=("--mass", "--mass-mg")),
      P("molar_mass", "molar mass", "Molar mass of formula units; default: the file header's "
        "MOLWGHT", unit="g/mol", lo=0.0, hi=1e5, lo_open=True),
      P("atoms", "number", "Atoms per formula unit; default: the header's ATOMS, else 2",
        lo=0.0, hi=1000.0, lo_open=True),
      P("window", "temperature", "C/T vs T² fit window 'T1,T2'", default="3,5", unit="K",
        count=2, lo=0.0, hi=1000.0),
      P("gamma_n", "Sommerfeld coefficient", "Normal-state γn; default fitted above Tc",
        unit="mJ/molK2", lo=0.0, hi=1e5),
      COLUMNS),
     "supramap.bulk.HeatCapacityResult", "supramap.analyses.library:bulk_heat",
     headline=("gamma_J_per_mol_K2", "theta_D_K", "Tc_K", "jump_ratio",
               "sc_volume_fraction"))
_add("bulk-loop", "ΔM(H) and the Bean critical current of a rectangular slab",
     (Input("file", QD, "MPMS M(H) loop file"),),
     (LENGTH, WIDTH, THICKNESS, COLUMNS),
     "supramap.bulk.LoopResult", "supramap.analyses.library:bulk_loop",
     headline=("Jc_self_field_A_per_m2",))

# STS ----------------------------------------------------------------------------------------
_add("sts-fit", "Fit a Dynes (NIS) or SIS model with uncertainties",
     (Input("file", SPECTRUM, "Spectrum"),
      Input("tip", "tip JSON", "Calibrated tip for --model sis", optional=True, flag="--tip")),
     (SPEC_CHANNEL, BIAS_COLUMN,
      P("model", "choice", "Model", default="dynes", choices=("dynes", "sis")),
      P("gaps", "integer", "Number of gaps", default=1, lo=1, hi=4),
      TEMPERATURE,
      P("vary_temperature", "flag", "Fit the effective temperature too", default=False),
      LOCKIN),
     "supramap.sts.FitResult", "supramap.analyses.library:sts_fit",
     headline=("redchi", "success"))
_add("sts-calibrate-tip", "Fit the tip gap, broadening and effective temperature on a known "
     "reference",
     (Input("file", SPECTRUM, "SIS spectrum on the reference (Pb(111))"),),
     (P("out", "file", "Tip model JSON to write", output=True),
      SPEC_CHANNEL, BIAS_COLUMN,
      P("sample_gaps", "energy", "Reference gaps", default="1.26e-3,1.41e-3", unit="eV",
        count=0, lo=0.0, hi=1.0, lo_open=True),
      P("sample_weights", "number", "Weights of the reference's gaps (default: fitted)",
        count=0, lo=0.0, hi=1.0),
      P("vary_sample", "flag", "Fit the reference's gaps too", default=False),
      P("temperature", "temperature", "Starting effective temperature", default="1",
        unit="K", lo=0.0, hi=1000.0, lo_open=True),
      LOCKIN),
     "supramap.sts.TipModel", "supramap.analyses.sts:sts_calibrate_tip", batch=False)
_add("sts-deconvolve", "Recover the sample DOS by regularised inversion of the SIS kernel",
     (Input("file", SPECTRUM, "SIS spectrum on the unknown sample"),
      Input("tip", "tip JSON", "Tip model JSON from calibrate-tip", flag="--tip")),
     (SPEC_CHANNEL, BIAS_COLUMN,
      P("lambda", "number", "Regularisation weight (default: chosen by GCV)", lo=1e-12,
        hi=1e6)),
     "supramap.sts.Deconvolution", "supramap.analyses.sts:sts_deconvolve",
     headline=("gaps_eV",), batch=False)
_add("sts-peaks", "Coherence-peak pairs, gaps, asymmetry and the zero-bias peak",
     (Input("file", SPECTRUM, "Spectrum"),
      Input("tip", "tip JSON", "Calibrated superconducting tip: gaps = peak − Δ_tip",
            optional=True, flag="--tip")),
     (SPEC_CHANNEL, BIAS_COLUMN,
      P("conductance_scale", "conductance", "Siemens per unit of the channel (for G0)",
        unit="S", lo=0.0, hi=1e6, lo_open=True),
      P("prominence", "number", "Minimum peak prominence (share of the range)", default=0.1,
        lo=0.0, hi=1.0),
      P("smooth", "energy", "Gaussian smoothing width (0: none)", default="0", unit="eV",
        lo=0.0, hi=1.0, flags=("--smooth", "--smooth-ev"))),
     "supramap.sts.PeakResult", "supramap.analyses.sts:sts_peaks", headline=("gaps_eV",))
_add("sts-series", "Zero-bias peak position, FWHM and height per spectrum; where it splits",
     (Input("files", SPECTRUM, "Spectra of the series", many=True),),
     (P("parameter", "text", "Field or GN per spectrum, in the unit --parameter-name ends with "
        "(a comma list or repeated)", flags=("--parameter", "-p")),
      P("parameter_name", "text", "Name of --parameter with its unit (field_T, GN_S)",
        default="field_T"),
      P("window", "energy", "Half-width around zero", default="1e-3", unit="eV", lo=0.0,
        hi=1.0, lo_open=True),
      SPEC_CHANNEL, BIAS_COLUMN),
     "supramap.sts.ZBPSeries", "supramap.analyses.sts:sts_series", batch=False)
_add("sts-grid", "dI/dV maps at chosen energies (with optional normalisation)",
     (Input("file", GRID, "Grid"),),
     (P("energies", "energy", "Energies, a comma list", unit="eV", count=0, lo=-10.0,
        hi=10.0),
      GRID_CHANNEL,
      P("normalise", "choice", "Normalisation", default="none",
        choices=("none", "outer", "iv"))),
     "supramap.sts.GridMaps",
     "supramap.analyses.sts:sts_grid", headline=("energies_eV",))
_add("sts-ingap", "Intrinsic energy, FWHM and weight of in-gap / zero-bias peaks through the "
     "thermal and lock-in broadening",
     (Input("files", SPECTRUM + " or " + GRID, "Spectra (one, or a series with -p)",
            many=True),
      Input("tip", "tip JSON", "Calibrated superconducting tip", optional=True, flag="--tip")),
     (P("temperature", "temperature", "Temperature (not with --tip: the tip's is used); "
        "default 1 K", unit="K", lo=0.0, hi=1000.0, lo_open=True),
      LOCKIN,
      P("shape", "choice", "Intrinsic lineshape", default="lorentzian",
        choices=("lorentzian", "gaussian", "fano")),
      P("peaks", "choice", "One or two peaks, or auto (the lower BIC)", default="auto",
        choices=("1", "2", "auto")),
      P("window", "energy", "Fit only |V| ≤ window", unit="eV", lo=0.0, hi=1.0,
        lo_open=True),
      P("parameter", "text", "Series parameter per file, in the unit --parameter-name ends "
        "with", flags=("--parameter", "-p")),
      P("parameter_name", "text", "Name of --parameter with its unit (field_T, GN_S)",
        default="field_T"),
      SPEC_CHANNEL, BIAS_COLUMN,
      P("out", "file", "For a grid: NetCDF of the per-pixel peak maps", output=True)),
     "supramap.sts.InGapFit",
     "supramap.analyses.sts:sts_ingap", headline=("temperature_K",))
_add("sts-explore", "A self-contained HTML page to explore a grid offline",
     (Input("file", GRID, "Grid"),
      Input("gapmap", "NetCDF from sts gapmap --out", "Fitted gaps shown too", optional=True,
            flag="--gapmap")),
     (P("out", "file", "Folder for the page", output=True), GRID_CHANNEL),
     "supramap.analyses.sts.ExplorerPage", "supramap.analyses.sts:sts_explore", batch=False,
     report=False)
_add("sts-decompose", "Unsupervised decomposition of the grid's spectra: k-means, PCA or NMF",
     (Input("file", GRID, "Grid"),
      Input("gapmap", "NetCDF from sts gapmap --out", "Fitted gap per cluster", optional=True,
            flag="--gapmap"),
      Input("compare", "map in the grid's frame", "A map of the same area", optional=True,
            flag="--compare")),
     (P("method", "choice", "Method", default="kmeans", choices=("kmeans", "pca", "nmf")),
      P("components", "integer", "Number of clusters/components, or auto", default="auto",
        lo=1, hi=64, auto=True),
      P("max_components", "integer", "Largest number tried by auto", default=8, lo=2, hi=32),
      P("compare_channel", "text", "Channel of --compare (default: the first)"),
      GRID_CHANNEL),
     "supramap.sts.Decomposition",
     "supramap.analyses.sts:sts_decompose", headline=("method", "n_components"))
_add("sts-gapmap", "Fit every pixel (batched Levenberg–Marquardt), optionally on "
     "dask.distributed",
     (Input("file", GRID, "Grid"),),
     (P("out", "file", "NetCDF file for the parameter maps", output=True, suffix=".nc"),
      P("model", "choice", "Model (thermally broadened)", default="dynes",
        choices=("dynes",)),
      TEMPERATURE, LOCKIN,
      P("workers", "integer", "Local dask worker threads (0, the default and fastest on one "
        "machine: in this process, a thread per core)", default=0,
        lo=0, hi=256),
      P("scheduler", "text", "Address of a dask scheduler"),
      P("noise", "choice", "Noise model: auto estimates its growth with the signal from the "
        "residuals and refits weighted (intervals that hold on lock-in data); constant "
        "weighs every point the same (one pass)", default="auto",
        choices=("auto", "constant")),
      GRID_CHANNEL),
     "supramap.sts.GapMap", "supramap.analyses.library:sts_gapmap",
     headline=("median_gap_eV", "fraction_converged"))
_add("sts-qpi", "Fourier transform, q-vectors, E(q) over energies and the C4 → C2 anisotropy",
     (Input("file", GRID + " or a map", "Grid or map"),),
     (P("energy", "energy", "Energy for a grid; a comma list gives E(q)", unit="eV", count=0,
        lo=-10.0, hi=10.0),
      P("symmetrize", "choice", "Symmetrisation", default="none",
        choices=("none", "mirror", "c2", "c4")),
      P("dispersion", "choice", "E(q) model fitted over ≥ 3 energies", default="auto",
        choices=("auto", "parabolic", "linear")),
      P("lattice", "length", "Lattice constant a: q also in units of 2π/a", unit="m",
        lo=0.0, hi=1e-6, lo_open=True, flags=("--lattice", "--lattice-m")),
      P("linecut", "angle", "Directions from qx of E–q line cuts through q = 0", unit="deg",
        count=0, lo=-360.0, hi=360.0),
      P("bragg", "flag", "Calibrate the reciprocal axes on the lattice's Bragg peaks (needs "
        "--lattice)", default=False),
      GRID_CHANNEL, LEVEL, ALIGN, SCARS, CLIP),
     "supramap.sts.QPIResult",
     "supramap.analyses.sts:sts_qpi", headline=("anisotropy",))
_add("sts-defects", "Point defects above the noise: positions, sizes, C2 elongation, "
     "orientation statistics",
     (Input("file", "topograph, map or " + GRID, "Topograph / map, or a grid with --energy"),),
     (P("energy", "energy", "Energy for a grid", unit="eV", lo=-10.0, hi=10.0),
      P("n_sigma", "number", "Detection threshold in units of the map's noise (robust σ "
        "after levelling)", default=6.0, lo=2.0, hi=100.0,
        flags=("--n-sigma", "--threshold")),
      P("depressions", "flag", "Find depressions instead of protrusions", default=False),
      P("groups", "integer", "Group by spectra (grids) into N groups", default=0, lo=0,
        hi=64),
      GRID_CHANNEL, LEVEL, ALIGN, SCARS, CLIP),
     "supramap.sts.DefectResult",
     "supramap.analyses.sts:sts_defects", headline=("n_defects", "median_elongation"))

# APT ----------------------------------------------------------------------------------------
_add("apt-composition", "Ionic and atomic composition with counting errors",
     (Input("needle", NEEDLE, "Ions"), RANGE),
     (EXCLUDE_TOP, EXCLUDE_CAP,
      P("background", "flag", "Subtract a local background per range", default=False)),
     "supramap.apt.Composition", "supramap.analyses.library:apt_composition",
     headline=("composition", "n_ranged"))
_add("apt-profile", "1-D concentration profile along the needle or a user cylinder",
     (Input("needle", NEEDLE, "Ions"), RANGE),
     (P("bin", "length", "Bin width", default="1e-9", unit="m", lo=1e-11, hi=1e-6),
      P("ions_per_bin", "integer", "Fixed ranged ions per bin (instead of --bin)", lo=1,
        hi=10**9),
      P("cylinder", "length", "Cylinder 'cx,cy,cz,ux,uy,uz,radius,length' (the direction "
        "u in any length unit: only its direction counts)", unit="m", count=8)),
     "supramap.apt.Profile", "supramap.analyses.library:apt_profile",
     headline=("fractions",))
_add("apt-compare", "Compositions and ratios (Fe/Te, Se/Te, Fe/(Se+Te)) of two needles with "
     "significance",
     (Input("a", NEEDLE, "Needle A"), Input("b", NEEDLE, "Needle B"), RANGE),
     (EXCLUDE_TOP, EXCLUDE_CAP),
     "supramap.apt.NeedleComparison", "supramap.analyses.library:apt_compare",
     headline=("ratios",), batch=False)
_add("apt-spectrum", "Mass spectrum; with ranges, the peaks no range covers",
     (Input("needle", NEEDLE, "Ions"),
      Input("range", ".rrng, .rng", "Range file to draw and check", optional=True,
            flag="--range")),
     (P("bin_da", "mass-to-charge ratio", "Bin width", default=0.01, unit="Da", lo=1e-5,
        hi=100.0, flags=("--bin-da", "--bin")),),
     "supramap.apt.MassSpectrum", "supramap.analyses.library:apt_spectrum",
     headline=("n_ions", "unranged_peaks_da"))


def names() -> list[str]:
    """The declared analyses' names, in declaration order."""
    return REGISTRY.names()


#: Commands that are not analyses of files (their usage is written here).
OTHER_COMMANDS = (
    "supramap [--strict] COMMAND ...      # --strict: exit 3 on any quality warning",
    "supramap info FILE [--json PATH]     # format, channels, size, units, metadata",
    "supramap report SAMPLE.toml (--out DIR | --check)  # every analysis: index.html + "
    "summary.json; --check: validate only",
    "supramap export SAMPLE.toml --nexus FILE.nxs      # data and results as NeXus/HDF5",
    "supramap batch 'GLOB' --analysis NAME --out DIR [--workers N | --scheduler ADDR] "
    "[--timeout-s 600] [the analysis' options]",
    "supramap rerun OUTPUT.json [--json PATH]          # repeat from the provenance block, "
    "compare",
    "supramap demo [--out DIR]",
)


def _value_text(p: Parameter) -> str:
    if p.kind == "flag":
        return ""
    if p.choices:
        return "|".join(p.choices)
    if p.physical:
        one = ("auto|" if p.auto else "") + p.unit
        return one if p.count is None else ",".join([p.unit] * (p.count or 2)) + \
            ("" if p.count else ",...")
    if p.kind == "integer":
        return ("auto|" if p.auto else "") + "N"
    if p.kind == "file":
        return "DIR" if p.name == "out" and not p.suffix and "older" in p.help else "FILE"
    return "X,X" if p.count == 2 else ("X,..." if p.count == 0 else "X" if p.kind == "number"
                                        else "TEXT")


def usage(width: int = 100) -> str:
    """The command list of the README, generated from the declarations: each analysis with
    its inputs and every option with the unit a bare number is in."""
    lines = list(OTHER_COMMANDS[:2])
    for a in REGISTRY:
        words = [f"supramap {' '.join(a.command)}"]
        for i in a.inputs:
            if i.flag is None:
                words.append(f"{i.name.upper()} ..." if i.many else i.name.upper())
        for i in a.inputs:
            if i.flag is not None:
                words.append(f"[{i.flag} FILE]" if i.optional else f"{i.flag} FILE")
        for p in a.parameters:
            value = _value_text(p)
            text = f"{p.flag} {value}".rstrip()
            words.append(text if (p.output and p.name == "out" and a.name != "sts-ingap")
                         else f"[{text}]")
        words.append("[--json PATH] [--report DIR]" if a.report else "[--json PATH]")
        line = ""
        for w in words:
            if line and len(line) + 1 + len(w) > width:
                lines.append(line)
                line = " " * 6 + w
            else:
                line = f"{line} {w}" if line else w
        lines.append(line)
    lines += list(OTHER_COMMANDS[2:])
    return "\n".join(lines)


if __name__ == "__main__":  # python -m supramap.analyses.catalog: rewrite the README's block
    import sys
    from pathlib import Path

    readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    text = readme.read_text()
    head, rest = text.split("<!-- commands:start -->")
    _, tail = rest.split("<!-- commands:end -->")
    readme.write_text(f"{head}<!-- commands:start -->\n```\n{usage()}\n```\n"
                      f"<!-- commands:end -->{tail}")
