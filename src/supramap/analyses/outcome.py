"""The result of a declared analysis run on files, and :func:`run`, the one library entry.

An :class:`Outcome` holds what every front end shows: the numbers (``values``, what ``--json``
writes), the table the terminal prints (``rows``), the domain result object (``result``:
``FitResult``, ``ConductionResult`` ...), the quality warnings, the provenance block, and the
figures the report draws.  The CLI is a thin layer over it: parse, :func:`run`, print
``rows``, write ``to_dict()``.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supramap.quality import QualityWarning, as_warnings, warnings_to_list


@dataclass
class Outcome:
    """What an analysis of files gives: numbers, the printed table, figures, provenance."""

    analysis: str
    title: str
    values: dict[str, Any]
    rows: list[tuple[str, str]] = field(default_factory=list)
    result: Any = None
    warnings: list[QualityWarning] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: ``() -> [(figure, caption, file name), ...]``: the report's figures, drawn on demand.
    figures: Callable[[], list[tuple[Any, str, str]]] | None = None
    #: ``(report) -> None``: a richer report section than figures (maps, tables ...).
    section: Callable[[Any], None] | None = None
    #: Lines said on the terminal before the table (where a default came from ...).
    notes: list[str] = field(default_factory=list)
    #: Lines said after the table (a verdict).
    epilogue: list[str] = field(default_factory=list)
    #: The data analysed, as read and corrected (``{"current": DataArray}`` ...).
    data: dict[str, Any] = field(default_factory=dict)
    #: The headline numbers with units when the declared keys do not say it best (a fit's
    #: Δ and Γ).
    summary: str = ""

    # -- numbers ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The numbers, the warnings and the provenance block (JSON-ready)."""
        from supramap.fileutil import to_jsonable

        return to_jsonable({**self.values, "warnings": warnings_to_list(
            as_warnings(self.warnings)), "provenance": self.provenance})

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    # -- presentation ----------------------------------------------------------------------
    def headline(self) -> str:
        """One line: the analysis, its headline numbers with units, the warning codes."""
        from supramap.analyses.catalog import REGISTRY

        keys = REGISTRY[self.analysis].headline if self.analysis in REGISTRY.analyses else ()
        parts = [self.summary] if self.summary else \
            [f"{k} = {with_unit(k, self.values[k])}" for k in keys if k in self.values]
        codes = sorted({w.code for w in as_warnings(self.warnings)})
        return (f"{self.analysis}: " + ", ".join(parts)
                + (f"  warnings: {', '.join(codes)}" if codes else ""))

    def __repr__(self) -> str:
        width = max((len(k) for k, _ in self.rows), default=0)
        lines = [self.headline(), f"  {self.title}"]
        lines += [f"  {k:<{width}}  {v}" for k, v in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in self.rows)
        warns = "".join(f"<li><code>{e(w.code)}</code> {e(w.message)}</li>"
                        for w in as_warnings(self.warnings))
        return (f"<div><b>{e(self.headline())}</b><table><tr><th>{e(self.title)}</th>"
                f"<th></th></tr>{rows}</table>" + (f"<ul>{warns}</ul>" if warns else "")
                + "</div>")

    def plot(self):
        """The report's figures (matplotlib): one figure, or a list when there are several."""
        if self.figures is None:
            raise AttributeError(f"{self.analysis} draws no figure")
        figs = [f for f, _, _ in self.figures()]
        return figs[0] if len(figs) == 1 else figs

    def report(self, folder: str | Path, *, warnings=None) -> Path:
        """Write the HTML report (tables, figures, warnings, provenance) into *folder*."""
        from supramap.report.html import Report

        rep = Report(self.title, Path(folder),
                     warnings=list(as_warnings(self.warnings if warnings is None else warnings)))
        if self.section is not None:  # the section draws its own tables and figures
            self.section(rep)
        else:
            rep.heading(self.title)
            rep.table(self.rows, header=["quantity", "value"])
            for fig, caption, name in self.figures() if self.figures is not None else []:
                rep.figure(fig, caption, name=name)
        rep.prov = self.provenance
        return rep.write()


#: Key suffix → (unit shown, factor): numbers in a headline carry their unit.
_SUFFIX_UNITS = (("_J_per_mol_K2", "mJ/mol K²", 1e3), ("_A_per_m2", "A/m²", 1.0),
                 ("_ohm", "Ω", 1.0), ("_eV", "meV", 1e3), ("_K", "K", 1.0), ("_da", "Da", 1.0))


def with_unit(key: str, v: Any) -> str:
    """*v* of the result key *key* with the unit its name states (``levels_A`` → µA ...)."""
    from supramap.units import si_prefix

    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(with_unit(key, x) for x in list(v)[:4]) + (
            ", …" if len(v) > 4 else "") + "]"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        for suffix, unit, factor in _SUFFIX_UNITS:
            if key.endswith(suffix):
                return f"{v * factor:.4g} {unit}"
        for suffix in ("_A", "_m", "_V", "_S"):
            if key.endswith(suffix):
                return si_prefix(float(v), suffix[1:])
    return _short(v)


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_short(x) for x in list(v)[:4]) + (", …" if len(v) > 4 else "") + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in list(v.items())[:4]) + (
            ", …" if len(v) > 4 else "") + "}"
    return str(v)


def run(analysis: str, *inputs: str | Path, command: list[str] | None = None,
        progress: Callable[[int, int], None] | None = None, **parameters: Any) -> Outcome:
    """Run a declared analysis on files, the way every front end does.

    Parameters
    ----------
    analysis : str
        Its name (``"cafm-analyze"``, ``"sts-fit"`` ...; ``supramap.analyses.REGISTRY``).
    *inputs : paths
        The positional inputs, in the order the command line takes them.
    **parameters
        By name (``temperature="4.2K"``, ``lockin_rms=1e-3``); a bare number is in the declared
        unit; inputs given by an option (``topography=``, ``tip=``, ``range=``) also go here.

    Returns
    -------
    Outcome
        Numbers, table, figures, warnings and the provenance block.
    """
    from supramap.analyses.catalog import REGISTRY
    from supramap.analyses.registry import ParameterError, described, resolve
    from supramap.fileutil import check_input_file
    from supramap.provenance import block

    decl = REGISTRY[analysis]
    positional = [i for i in decl.inputs if i.flag is None]
    by_option = {i.name: parameters.pop(i.name) for i in decl.inputs
                 if i.flag is not None and i.name in parameters}
    if len(inputs) != len(positional) and not any(i.many for i in positional):
        raise ParameterError(f"{analysis} reads {len(positional)} file(s) ("
                             + ", ".join(i.name for i in positional) + f"), got {len(inputs)}")
    for i in decl.inputs:
        if i.flag is not None and not i.optional and by_option.get(i.name) is None:
            raise ParameterError(f"{analysis} needs {i.name}= ({i.help})")
    for p in decl.parameters:
        if p.output and parameters.get(p.name) is not None:
            raise ParameterError(f"{p.flag} names an output of the command line; from Python, "
                                 "write it from the outcome's result")
        if p.output:
            parameters.pop(p.name, None)
    values = resolve(decl, parameters)
    files = [Path(p) for p in inputs] + [
        Path(p) for v in by_option.values() if v is not None
        for p in (v if isinstance(v, (list, tuple)) else [v])]  # a repeated input: a list
    for f in files:
        check_input_file(f)
    started = time.time()
    t0 = time.perf_counter()
    fn = decl.load()
    extra = {}
    if progress is not None:
        import inspect

        if "progress" in inspect.signature(fn).parameters:
            extra["progress"] = progress
    out: Outcome = fn(*inputs, **by_option, **values, **extra)
    out.provenance = block(analysis=analysis, command=command,
                           parameters=described(decl, values), inputs=files,
                           started=started, duration_s=time.perf_counter() - t0)
    return out
