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
