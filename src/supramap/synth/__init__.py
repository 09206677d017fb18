"""A virtual Fe(Se,Te)-like sample: physics-minded simulators of cAFM scans with ground truth.

Used by ``supramap demo`` and as test truth.  See :mod:`supramap.synth.cafm`.
"""

from supramap.synth.cafm import (
    Capsule,
    ScanSpec,
    VirtualSample,
    make_sample,
    scan,
    write_virtual_sample,
)

__all__ = ["Capsule", "ScanSpec", "VirtualSample", "make_sample", "scan", "write_virtual_sample"]
