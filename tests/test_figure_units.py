"""Every figure of every report says what its axes are, with units, in legible text.

Every report figure passes through ``Report.figure``; this test intercepts it while each
declared analysis writes its report on the virtual sample (plus the cases that reach the
remaining figures: E(q) and line cuts, a Monte Carlo over contacts, clusters against a gap
map, in-gap maps of a grid, the sample report), and checks each axis that shows ticks: its
label names the quantity and its unit — in parentheses, as ``x / unit``, or a count or ratio
that has none. Every figure function of ``supramap.report`` must be reached, so a new one
cannot skip the check.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from supramap.analyses import REGISTRY, run

#: Labels of quantities without a unit (counts, ratios, indices).
DIMENSIONLESS = ("pixels", "counts", "islands", "profiles", "placements", "weight",
                 "spectrum", "cluster", "atomic ratio", "at. %", "normalised current")
#: A unit: "(…)" or "/ unit" (``log10 |current / A|``).
UNIT = re.compile(r"\([^()]+\)|\s/\s*[A-Za-zµΩ]")

#: The smallest text a figure may hold (legible on a slide and in print at the report's size).
MIN_FONT_PT = 9

#: Figure functions this test does not reach, and why.
NOT_REACHED = {
    "field_sweep_figure": "needs a transport file swept in field (none in the virtual sample)",
}


def label_problem(ax, which: str) -> str | None:
    axis = ax.xaxis if which == "x" else ax.yaxis
    ticks = ax.get_xticks() if which == "x" else ax.get_yticks()
    if not ax.axison or not axis.get_visible() or len(ticks) == 0:
        return None
    label = (ax.get_xlabel() if which == "x" else ax.get_ylabel()).strip()
    names = [t.get_text() for t in (ax.get_xticklabels() if which == "x"
                                    else ax.get_yticklabels())]
    if not label and names and all(re.search(r"[A-Za-z]", n) for n in names):
        return None  # categories named on the ticks (Fe/Te, Se/Te ...)
    if not label:
        shared = (ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes())
        if any((s.get_xlabel() if which == "x" else s.get_ylabel()).strip()
               for s in shared.get_siblings(ax) if s is not ax):
            return None  # a shared axis labelled once, on its neighbour
        return f"{which} axis has no label"
    if UNIT.search(label) or label.startswith(DIMENSIONLESS):
        return None
    return f"{which} label {label!r} has no unit"


def layout_problems(fig) -> list[str]:
    """What a reader would see as broken once the figure is drawn: an axis offset label
    ("1e−9" above the ticks: the unit belongs in the label, with a prefix) and a legend or
    text running off the figure (cut in the saved image)."""
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    out = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            off = axis.get_offset_text()
            if off.get_visible() and off.get_text().strip():
                out.append(f"[{ax.get_title()[:30]}] offset label {off.get_text()!r} on an axis")
    tol = 2.0  # pixels
    # Tick labels are placed by matplotlib, which leaves out of the picture those of ticks
    # beyond the view; they are not checked.
    axes = [a for ax in fig.axes for a in (ax.xaxis, ax.yaxis, getattr(ax, "zaxis", None)) if a]
    ticks = {id(t) for axis in axes
             for tick in axis.majorTicks + axis.minorTicks for t in (tick.label1, tick.label2)}
    for artist in fig.findobj(lambda a: isinstance(a, (Legend, Text))):
        if not artist.get_visible() or id(artist) in ticks or (isinstance(artist, Text) and
                                        (not artist.get_text().strip() or artist.get_clip_on()
                                         and artist.axes is not None)):
            continue
        b = artist.get_window_extent(renderer)
        if b.x0 < box.x0 - tol or b.x1 > box.x1 + tol or b.y0 < box.y0 - tol or \
                b.y1 > box.y1 + tol:
            what = "legend" if isinstance(artist, Legend) else repr(artist.get_text()[:30])
            out.append(f"{what} runs off the figure")
    return out


def _figure_functions():
    import importlib

    out = {}
    for mod in ("apt", "bulk", "figures", "network", "sts", "sample"):
        m = importlib.import_module(f"supramap.report.{mod}")
        for name, fn in vars(m).items():
            if inspect.isfunction(fn) and fn.__module__ == m.__name__ and \
                    re.search(r"_figures?$", name):
                out[(m, name)] = fn
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from supramap.synth.full import write_full_sample

    folder = tmp_path_factory.mktemp("figs")
    write_full_sample(folder)
    return folder


def test_every_report_figure_labels_its_axes_with_units(sample, tmp_path, monkeypatch):
    import test_analysis_api as api
    from supramap.report import html

    problems, seen, called = [], [], set()
    original = html.Report.figure

    def check(self, fig, caption, *, name=None):
        seen.append(name)
        if not hasattr(fig, "savefig"):  # a figure to make when the page is written
            fig = fig()
        from matplotlib.text import Text

        small = sorted({t.get_text()[:20] for t in fig.findobj(Text)
                        if t.get_visible() and t.get_text().strip()
                        and t.get_fontsize() < MIN_FONT_PT})
        if small:
            problems.append(f"{name}: text below {MIN_FONT_PT} pt: {small[:4]}")
        for ax in fig.axes:
            for which in "xy":
                why = label_problem(ax, which)
                if why:
                    problems.append(f"{name} [{ax.get_title()[:40]}]: {why}")
        problems.extend(f"{name}: {why}" for why in layout_problems(fig))
        return original(self, fig, caption, name=name)

    monkeypatch.setattr(html.Report, "figure", check)
    for (mod, name), fn in _figure_functions().items():
        def wrapped(*a, _fn=fn, _name=name, **k):
            called.add(_name)
            return _fn(*a, **k)
        monkeypatch.setattr(mod, name, wrapped)

    tip = tmp_path / "tip.json"
    run("sts-calibrate-tip", sample / "sts/pb_reference.csv", temperature=1.2).result.save(tip)
    gapmap = tmp_path / "gap.nc"
    gm = run("sts-gapmap", sample / "sts/grid.3ds", temperature=1.2).result.data.copy()
    gm["converged"] = gm["converged"].astype("int8")
    gm.to_netcdf(gapmap)

    def resolve(v):
        v = str(v).replace("{tip}", str(tip)) if isinstance(v, str) else v
        return sample / v if isinstance(v, str) and (sample / v).exists() else v

    calls = []
    for name, (inputs, by_option, options) in api.CASES.items():
        params = {REGISTRY[name].parameter(f).name: v for f, v in zip(options[::2],
                                                                      options[1::2])}
        calls.append((name, [sample / i for i in inputs],
                      {**{k: sample / v for k, v in by_option.items()}, **params}))
    for name, (_, inputs, params) in api.MULTI.items():
        calls.append((name, [sample / i for i in inputs],
                      {k: resolve(v) for k, v in params.items()}))
    calls += [  # the figures the cases above do not draw
        ("sts-qpi", [sample / "sts/qpi.3ds"], {"energy": "5meV,10meV,15meV,20meV",
                                               "linecut": "0"}),
        ("network-fourprobe", [sample / "cafm/01_8K_for_current.bcrf"],
         {"threshold": "1.2uA", "monte_carlo": 3}),
        ("sts-decompose", [sample / "sts/grid.3ds"], {"gapmap": gapmap}),
        ("sts-ingap", [sample / "sts/grid.3ds"], {"temperature": "1.2K", "peaks": "1"}),
    ]
    for i, (name, inputs, params) in enumerate(calls):
        if REGISTRY[name].report is False:
            continue
        run(name, *inputs, **params).report(tmp_path / f"r{i}")

    from supramap.correlate import load_sample
    from supramap.correlate.workflow import run_sample
    from supramap.report.sample import write_sample_report

    write_sample_report(run_sample(load_sample(sample / "sample.toml")), tmp_path / "sample")

    assert len(seen) > 40
    assert problems == [], "\n".join(problems)
    missing = {n for _, n in _figure_functions()} - called - set(NOT_REACHED)
    assert missing == set(), f"figure functions no report drew here: {sorted(missing)}"


def test_the_label_rule_itself():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3)
    a.set_xlabel("bias (mV)")
    a.set_ylabel("dI/dV")
    b.set_xlabel("log10 |current / A|")
    b.set_ylabel("counts")
    c.axis("off")
    a.figure.canvas.draw()
    assert label_problem(a, "x") is None and label_problem(b, "x") is None
    assert label_problem(a, "y") == "y label 'dI/dV' has no unit"
    assert label_problem(b, "y") is None and label_problem(c, "x") is None
    plt.close(fig)


def test_signal_scale_gives_plain_numbers_and_the_prefixed_unit():
    import numpy as np

    from supramap.report.sts import conductance_label, signal_scale

    f, u = signal_scale(np.array([0.2e-9, 1.9e-9]), "A")
    assert (u, f) == ("nA", 1e9)
    assert conductance_label(u) == "dI/dV (arb. u.; lock-in signal in nA)"
    f, u = signal_scale(np.array([3e-6, np.nan]), "S")
    assert (u, round(f)) == ("µS", 1_000_000) and conductance_label(u) == "dI/dV (µS)"
    f, u = signal_scale(np.array([-2e-10, 5e-11]), "")  # arbitrary units: a power of 1000
    assert u == "" and 1 <= 2e-10 * f < 1000 and conductance_label(u) == "dI/dV (arb. u.)"
    assert signal_scale(np.array([4e3]), "")[0] == 1e-3
    assert signal_scale(np.array([1.0, 2.0]), "normalised") == (1.0, "normalised")
    assert signal_scale(np.zeros(3), "V") == (1.0, "V")
