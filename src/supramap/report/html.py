"""A self-contained HTML report: a folder with ``index.html`` and PNG figures."""

from __future__ import annotations

import contextlib
import functools
import html
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supramap.fileutil import atomic_open, atomic_write_text

CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
font-size:.9em;text-align:left}th{background:#f4f4f4}figure{margin:1em 0}
img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.verdict{background:#f5f7ff;border-left:4px solid #4a6fe3;padding:.6em 1em}
.warn{background:#fff8e5;border-left:4px solid #e3a008;padding:.4em 1em;margin:.6em 0}
.warn li{margin:.2em 0}.warn code{font-size:.85em;color:#8a5a00}
"""


#: Written into every report folder: a folder holding it may be replaced by a new report.
MARKER = ".supramap-report"

#: How report figures are saved: ``png`` (at ``dpi``), ``svg`` (text kept as text, so labels
#: can be edited and searched) or ``pdf``.  Set for a whole command by :func:`set_figures`
#: (``supramap ... --figures svg --dpi 300``), as matplotlib's rcParams are.
FIGURES: dict[str, Any] = {"format": "png", "dpi": 110}
FIGURE_FORMATS = ("png", "svg", "pdf")


def set_figures(format: str = "png", dpi: int = 110) -> None:  # noqa: A002
    """Save the figures of every following report as *format* at *dpi* (raster parts)."""
    if format not in FIGURE_FORMATS:
        raise ValueError(f"figure format must be one of {', '.join(FIGURE_FORMATS)}, got "
                         f"{format!r}")
    if not 50 <= int(dpi) <= 1200:
        raise ValueError(f"dpi must lie in [50, 1200], got {dpi}")
    FIGURES.update(format=format, dpi=int(dpi))


def _save_one(fig, path: Path, fmt: str, dpi: int) -> None:
    import matplotlib.pyplot as plt

    with plt.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}), \
            atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi)


def _make_and_save(make, path: Path, fmt: str, dpi: int) -> None:
    fig = make()
    try:
        _save_one(fig, path, fmt, dpi)
    finally:
        _release(fig)


def _release(fig) -> None:
    """Take a figure out of pyplot's registry, if it is in it: a figure made with the object
    API (``Figure()``) never entered it, and pyplot's registry is not thread-safe."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)


def run_jobs(jobs: list[tuple[float, Any]], processes: int = 2) -> None:
    """Run ``(cost, callable)`` jobs that write files — saving a figure, writing an explorer
    page — as two shares balanced by their costs (largest first), one of them in a forked
    child (:func:`supramap.parallel.fork_map`) when *processes* ≥ 2 and forking is safe.

    Rendering figures (constrained layout, Agg) is pure Python under the GIL, so threads do
    not help: the demo report's 25 figures took 7.9 s on one core.  A forked child inherits
    the figures already made in memory — nothing is pickled.  If the child fails, its share
    is done here, so an error is raised here, by the job itself.
    """
    from supramap.parallel import fork_map

    shares: tuple[list, list] = ([], [])
    load = [0.0, 0.0]
    for cost, job in sorted(jobs, key=lambda j: -j[0]):
        k = 0 if load[0] <= load[1] else 1
        shares[k].append(job)
        load[k] += cost

    def run(share: list) -> None:
        for job in share:
            job()

    fork_map(run, [share for share in shares if share], processes=processes)


def _is_report(folder: Path) -> bool:
    """A folder supramap wrote: the marker, or (reports written before the marker existed) an
    index.html carrying this module's style sheet."""
    if (folder / MARKER).exists():
        return True
    page = folder / "index.html"
    try:
        return page.is_file() and CSS.strip().splitlines()[0] in page.read_text(
            encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False


def _foreign_files(folder: Path) -> list[str]:
    """Files in an earlier report folder that its marker's list does not name (added by the
    user since).  Reports written before the marker held a list name none: nothing is foreign
    there."""
    marker = folder / MARKER
    try:
        lines = marker.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    if "files:" not in lines:
        return []
    written = set(lines[lines.index("files:") + 1:]) | {MARKER}
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and str(p.relative_to(folder)) not in written)


def check_report_folder(folder: str | Path) -> Path:
    """Refuse a report folder that holds anything but an earlier supramap report (a new report
    replaces the whole folder), or whose parent cannot be written; returns it as a Path."""
    from supramap.errors import OutputError

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: the report folder is an existing file")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise OutputError(f"{out}: the folder exists and holds files that are not a supramap "
                          "report; a report replaces its whole folder, so give a new or empty "
                          "folder")
    foreign = _foreign_files(out) if out.is_dir() else []
    if foreign:
        raise OutputError(f"{out}: the report folder holds files supramap did not write "
                          f"({', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}); a new "
                          "report would replace the whole folder, so move them or give another "
                          "folder")
    parent = out.parent if str(out.parent) else Path(".")
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: cannot write there ({probe} is not writable)")
    return out


@dataclass
class Report:
    """Collects sections and figures, then publishes ``DIR`` (``index.html``, figures, any
    extra files) in one step.

    Everything is written into a hidden staging folder beside ``DIR``; :meth:`write` swaps it
    in under a lock: a killed run leaves the previous report intact (and a hidden staging
    folder), two runs into one folder give one complete report each in turn, never a mix.
    """

    title: str
    out_dir: Path
    parts: list[str] = field(default_factory=list)
    #: Quality warnings shown at the top of the page (a list the caller may keep filling).
    warnings: list = field(default_factory=list)
    #: The provenance block (:mod:`supramap.provenance`): shown at the foot of the page and
    #: written beside it as ``provenance.json``.
    prov: dict | None = None
    #: Processes that make and save the figures when the page is written (:func:`run_jobs`).
    processes: int = 2
    _n: int = 0
    _pending: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        import tempfile
        import weakref

        from supramap.fileutil import default_mode

        self.out_dir = check_report_folder(self.out_dir)
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.staging-",
                                              dir=self.out_dir.parent))
        os.chmod(self._staging, default_mode(directory=True))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._staging), True)

    def path(self, name: str) -> Path:
        """Where to write an extra file (``summary.json`` ...) that is published with the
        page."""
        return self._staging / name

    def heading(self, text: str) -> None:
        """A section heading."""
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, *, css: str | None = None) -> None:
        """A paragraph of plain text."""
        cls = f' class="{css}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def table(self, rows: list[tuple[str, Any]] | list[list[Any]], *,
              header: list[str] | None = None) -> None:
        """A table of rows (cells are escaped)."""
        out = ["<table>"]
        if header:
            out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                       + "</tr>")
        for row in rows:
            row = list(row)
            if len(row) == 2 and isinstance(row[0], str):
                if row[0] in INTERNAL_KEYS or row[0] == "warnings":
                    continue  # run-time bookkeeping; warnings have their own box
                row[1] = _cell(row[1], row[0])
            else:
                row = [_cell(c, "") for c in row]
            out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                       + "</tr>")
        out.append("</table>")
        self.parts.append("".join(out))

    def link(self, href: str, text: str) -> None:
        """A paragraph linking to a page written beside this one (relative *href*)."""
        self.parts.append(f'<p><a href="{html.escape(href)}">{html.escape(text)}</a></p>')

    def warning_box(self, items, *, title: str = "Warnings") -> None:
        """A highlighted list of quality warnings (code, message, the numbers behind it)."""
        html_ = warnings_html(items, title=title)
        if html_:
            self.parts.append(html_)

    def figure(self, fig, caption: str, *, name: str | None = None) -> str:
        """Save a matplotlib figure beside the page (PNG, SVG or PDF: :data:`FIGURES`) and
        include it.  *fig* may also be a callable making the figure (``partial(
        histogram_figure, result)``): it is then made, as well as saved, with the others when
        the page is written — in two processes on two cores (:func:`run_jobs`)."""
        self._n += 1
        fmt, dpi = FIGURES["format"], FIGURES["dpi"]
        fname = str(Path(name or f"figure_{self._n:02d}").with_suffix(f".{fmt}"))
        # Rendered when the page is written, on the available cores (:func:`run_jobs`);
        # closed in pyplot now (an Agg figure still saves), so many figures open no window
        # and raise no "too many figures" warning.
        if hasattr(fig, "savefig"):
            _release(fig)
            self.defer(functools.partial(_save_one, fig, self._staging / fname, fmt, dpi))
        else:
            self.defer(functools.partial(_make_and_save, fig, self._staging / fname, fmt, dpi))
        src, alt = html.escape(fname), html.escape(caption)
        shown = (f'<object data="{src}" type="application/pdf" width="100%" height="520">'
                 f'<a href="{src}">{alt}</a></object>' if fmt == "pdf"
                 else f'<img src="{src}" alt="{alt}">')
        self.parts.append(f"<figure>{shown}<figcaption>{alt}</figcaption></figure>")
        return fname

    def defer(self, job, cost: float = 1.0) -> None:
        """Run *job* (a callable writing into the report's folder, e.g. an explorer page) when
        the page is written, beside the figures' rendering (:func:`run_jobs`); *cost* in
        figures' worth of time, to share the work evenly."""
        self._pending.append((float(cost), job))

    def write(self) -> Path:
        """Write ``index.html`` and publish the folder; returns the page's path."""
        jobs, self._pending = self._pending, []
        run_jobs(jobs, processes=self.processes)
        parts = list(self.parts)
        if self.prov:
            import json

            from supramap.fileutil import atomic_write_json, to_jsonable

            atomic_write_json(self._staging / "provenance.json", self.prov)
            parts.append("<details class='provenance'><summary>Provenance: how this page was "
                         "made (also in <a href='provenance.json'>provenance.json</a>)"
                         "</summary><pre>" + html.escape(json.dumps(to_jsonable(self.prov),
                                                                    indent=1))
                         + "</pre></details>")
        body = "\n".join([warnings_html(self.warnings, title="Warnings"), *parts])
        page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head>"
                f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")
        atomic_write_text(self._staging / "index.html", page)
        files = sorted(str(p.relative_to(self._staging)) for p in self._staging.rglob("*")
                       if p.is_file())
        atomic_write_text(self._staging / MARKER,
                          "written by supramap; this folder is replaced as a whole by the next "
                          "report\nfiles:\n" + "".join(f"{f}\n" for f in files))
        self._publish()
        return self.out_dir / "index.html"

    def _publish(self) -> None:
        import fcntl
        import tempfile

        out, parent = self.out_dir, self.out_dir.parent
        with open(parent / f".{out.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            old = None
            if out.exists():
                check_report_folder(out)  # it may have changed while we worked
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
                os.rename(out, old / "report")
            os.rename(self._staging, out)
            self._cleanup.detach()
        with contextlib.suppress(OSError):
            (parent / f".{out.name}.lock").unlink()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


#: Keys of result dicts that describe the run, not the sample (left out of report tables).
INTERNAL_KEYS = {"seconds", "workers", "startup_seconds", "time"}


def _cell(value, key: str) -> str:
    """A table cell: numbers with 4 significant digits and the unit the key names, booleans
    as yes/no, short lists inline — never a raw float or Python's ``False``."""
    from supramap.display import format_value

    if isinstance(value, str):
        return value
    if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype == bool):
        return "yes" if bool(value) else "no"
    if value is None:
        return "—"
    text = format_value(key, value)
    if text is not None:
        return text
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v, str(k))}" for k, v in list(value.items())[:8])
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v, key) for v in value[:8]) + (" …" if len(value) > 8 else "")
    return str(value)


def warnings_html(items, *, title: str = "Warnings") -> str:
    """HTML of a warning list (``QualityWarning`` objects or their dicts); '' when empty."""
    rows = []
    for w in items or ():
        d = w.to_dict() if hasattr(w, "to_dict") else dict(w)
        vals = ", ".join(f"{k} = {_cell(v, k)}" for k, v in (d.get("values") or {}).items())
        rows.append(f"<li><code>{html.escape(str(d.get('code', '')))}</code> "
                    f"{html.escape(str(d.get('message', '')))}"
                    + (f" <small>({html.escape(vals)})</small>" if vals else "") + "</li>")
    if not rows:
        return ""
    return (f"<div class='warn' role='alert'><strong>{html.escape(title)}</strong>"
            f"<ul>{''.join(rows)}</ul></div>")


def relpath(path: str | os.PathLike[str], start: str | os.PathLike[str]) -> str:
    """Path of *path* relative to *start* when possible."""
    try:
        return os.path.relpath(path, start)
    except ValueError:
        return str(path)
