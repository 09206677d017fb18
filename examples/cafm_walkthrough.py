"""A walk through the cAFM analysis with the library, on the virtual sample.

    python examples/cafm_walkthrough.py [OUT_DIR]

Writes the virtual sample's BCRF files, reads one current map back, levels its topography,
analyses the conduction, compares the 8 K map with the re-cooled one and simulates a van der
Pauw measurement on the texture.
"""

from __future__ import annotations

import sys
from pathlib import Path

from supramap.conduction import analyze, compare
from supramap.io import read_image
from supramap.network import fourprobe, from_current_map
from supramap.spm import align_rows, plane_level, remove_scars
from supramap.synth.cafm import write_virtual_sample


def main(out: Path) -> None:
    truth = write_virtual_sample(out)
    current = read_image(out / "01_8K_for_current.bcrf")
    topo = read_image(out / "01_8K_for_topography.bcrf")
    flat = remove_scars(align_rows(plane_level(topo), "median"))
    print("topography provenance:", flat.attrs["provenance"])
    r = analyze(current, topography=topo)
    print(f"conducting fraction {r.conducting_fraction:.4f} "
          f"(truth {truth['scans'][0]['conducting_fraction']:.4f}), {r.n_islands} islands, "
          f"levels {[round(v * 1e6, 3) for v in r.levels.levels_A]} µA, "
          f"edge {r.edges.median_m * 1e9:.1f} nm")
    print(r.artefacts.verdict)
    c = compare(current, read_image(out / "04_8K_recooled_for_current.bcrf"),
                topography_a=topo,
                topography_b=read_image(out / "04_8K_recooled_for_topography.bcrf"))
    print(f"re-cooling: shift {c.shift_px} px, {100 * c.persistent_fraction:.1f} % of the "
          "conducting area returns")
    net = from_current_map(current.copy(data=r.oriented_current), threshold=r.threshold_A,
                           normal_sheet_resistance=1e3)
    four = fourprobe(net.conductance, r.mask, geometry="vdp", dx=net.dx, dy=net.dy,
                     reference_sheet_resistance=1e3, maps=False)
    print(f"van der Pauw on this texture: R_s = {four.sheet_resistance_apparent_ohm:.0f} Ω/sq "
          f"(normal phase 1000 Ω/sq), zero: {four.zero_resistance}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("example-output"))
