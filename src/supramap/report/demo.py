"""The demo job: the whole virtual sample, from files on disk to the sample report
(``supramap demo``, ``make demo``; callable from Python as :func:`run_demo`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def run_demo(out: Path, *, seed: int = 0, command: list[str] | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Write the virtual sample (cAFM series, bulk, SEM, APT, STS and ``sample.toml``) under
    ``out/virtual_sample``, run the sample workflow on it, add the demo's truth-versus-
    measurement table and the forward/backward and re-cooling comparisons, and return the
    page ``out/report/index.html``.

    *progress* is called as ``progress(step, done, total)``; *command* is the command line
    recorded in the provenance (None for a library call).
    """
    from supramap.conduction import compare
    from supramap.correlate import load_sample
    from supramap.correlate.workflow import run_sample
    from supramap.io import read_image
    from supramap.provenance import block
    from supramap.report.cafm import comparison_section
    from supramap.report.sample import preload, write_sample_report
    from supramap.synth.cafm import PROTOCOL
    from supramap.synth.full import write_full_sample

    out = Path(out)
    data = out / "virtual_sample"
    started = time.time()
    state = {"done": 0, "total": 0}

    def say(what: str, advance: int = 1) -> None:
        state["done"] += advance
        if progress is not None:
            progress(what, state["done"], state["total"])

    say("simulating the virtual sample", 0)
    truth = write_full_sample(data, seed=seed)
    sample = load_sample(data / "sample.toml")
    state["total"] = len(sample.measurements) + 3
    say("simulated", 1)
    res = run_sample(sample, progress=say, meanwhile=preload)
    say("forward/backward and re-cooling comparisons", 0)

    def img(label: str, direction: str, channel: str, units: str):
        return read_image(
            data / "cafm" / f"{label}_{direction}_{channel}.bcrf", prefer_units=units
        )

    first, warm, _, recool = (p[0] for p in PROTOCOL)
    fb = compare(
        img(warm, "for", "current", "A"),
        img(warm, "bac", "current", "A"),
        topography_a=img(warm, "for", "topography", "m"),
        topography_b=img(warm, "bac", "topography", "m"),
    )
    rc = compare(
        img(first, "for", "current", "A"),
        img(recool, "for", "current", "A"),
        topography_a=img(first, "for", "topography", "m"),
        topography_b=img(recool, "for", "topography", "m"),
    )
    say("compared", 1)

    def extra(rep) -> None:
        ct = truth["cafm"]
        t8 = next(s for s in ct["scans"] if s["label"] == first)
        a = res.results.get("cafm_8K", {})
        sites = {s["site"]: s["class"] for s in res.correlation.get("sites", [])}
        gamma = res.results.get("heat", {}).get("gamma_J_per_mol_K2", float("nan"))
        rows = [
            (
                "conducting fraction at 8 K",
                f"{t8['conducting_fraction']:.4f}",
                f"{a.get('conducting_fraction', float('nan')):.4f}",
            ),
            ("islands at 8 K", t8["n_regions"], a.get("n_islands")),
            (
                "current levels (µA)",
                ", ".join(f"{v * 1e6:.2f}" for v in ct["levels_A"]),
                ", ".join(f"{v * 1e6:.2f}" for v in a.get("levels_A", [])),
            ),
            (
                "edge width 10–90 % (nm)",
                f"{ct['edge_width_m'] * 1e9:.1f}",
                f"{a.get('edge_width_m', float('nan')) * 1e9:.1f}",
            ),
            (
                "re-cooling shift (px, y x)",
                " ".join(f"{v:.2f}" for v in ct["comparisons"]["recooling_8K"]["shift_px"]),
                " ".join(f"{v:.2f}" for v in rc.shift_px),
            ),
            (
                "area persisting after re-cooling",
                f"{ct['comparisons']['recooling_8K']['persistent_fraction']:.3f}",
                f"{rc.persistent_fraction:.3f}",
            ),
            (
                "20 K dots common to both traces",
                f"{ct['comparisons']['forward_backward_20K']['persistent_fraction']:.3f}",
                f"{fb.persistent_fraction:.3f}",
            ),
            (
                "vanishing temperature (K)",
                ct["t_vanish_K"],
                res.results.get("cafm_series", {}).get("vanishing_temperature_K"),
            ),
            (
                "lift-out site A / B",
                "conducting / insulating",
                f"{sites.get('A')} / {sites.get('B')}",
            ),
            ("γ0 (mJ/mol K²)", "0.807", f"{gamma * 1e3:.3f}"),
        ]
        rep.heading("The virtual sample: truth versus measurement")
        rep.paragraph(
            "A virtual Fe(Se,Te)-like crystal: superconducting islands and stripes (two "
            "current levels) in an insulating matrix, imaged by conductive AFM at 100 mV at "
            "8 K, 20 K, 30 K and 8 K again, forward and backward; bulk transport, "
            "magnetisation and specific heat with the published numbers; an SEM image, two "
            "atom-probe needles lifted out at sites picked on the map, STS spectra with a "
            "Pb tip and a gap grid. Every file was written to disk and read back."
        )
        rep.table(rows, header=["quantity", "truth", "measured"])
        comparison_section(
            rep,
            "20 K: forward vs backward trace (metastable dots)",
            fb,
            img(warm, "for", "current", "A"),
            ("forward", "backward"),
            prefix="20K_fb_",
        )
        rep.paragraph("The first 8 K map against the re-cooled one is drawn once, in the "
                      "temperature series' section (its numbers are in the table above).")

    say("writing the report", 0)
    inputs = sorted(p for p in data.rglob("*") if p.is_file())
    page = write_sample_report(
        res,
        out / "report",
        extra=extra,
        provenance=block(analysis=None, command=command, parameters={"seed": seed},
                         inputs=inputs, started=started),
        extra_summary={
            "forward_backward_20K": fb.to_dict(),
            "recooling_8K": rc.to_dict(),
            "truth": {k: v for k, v in truth.items() if k != "apt"},
        },
    )
    say("report written", 1)
    return page
