"""``supramap network fourprobe``."""

from __future__ import annotations

from pathlib import Path

import typer

from supramap.cli.common import (
    JSON_OPT,
    REPORT_OPT,
    call,
    option,
    present,
    progress_bar,
)

app = typer.Typer(
    help="Would a four-probe measurement see the heterogeneity?", no_args_is_help=True
)


N = "network-fourprobe"


@app.command()
def fourprobe(
    map_file: Path = typer.Argument(
        ..., metavar="MAP", help="Current map (A) or sheet-conductance map (S)."
    ),
    channel: str = option(N, "channel"),
    threshold: str = option(N, "threshold"),
    rule: str = option(N, "rule"),
    normal_sheet_resistance: str = option(N, "normal_sheet_resistance"),
    geometry: str = option(N, "geometry"),
    contacts: str = option(N, "contacts"),
    contact_size: int = option(N, "contact_size"),
    monte_carlo: int = option(N, "monte_carlo"),
    vary_threshold: bool = option(N, "vary_threshold"),
    interval_draws: int = option(N, "interval_draws"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Simulate a four-probe / van der Pauw / two-probe measurement on a measured map."""
    # No refresh thread: the solves fork (configurations and the interval's masks share the
    # two cores), which a second thread forbids; the bar is redrawn at each step instead.
    with progress_bar("four-probe simulation", auto_refresh=False) as progress:
        task = progress.add_task("solving the network" + (
            f" and {monte_carlo} random contact placements" if monte_carlo else ""), total=None)
        progress.refresh()

        def step(i: int, n: int) -> None:
            progress.update(task, completed=i, total=n)
            progress.refresh()

        out = call(N, map_file, channel=channel, threshold=threshold, rule=rule,
                   normal_sheet_resistance=normal_sheet_resistance, geometry=geometry,
                   contacts=contacts, contact_size=contact_size, monte_carlo=monte_carlo,
                   vary_threshold=vary_threshold, interval_draws=interval_draws,
                   progress=step)
        n_px = out.data["map"].size
        progress.summary_text = f"four-probe simulation ({geometry}, {n_px:,} pixels)"
    present(out, json_path, report)
