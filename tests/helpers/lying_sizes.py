"""Read real files whose size fields were made to lie, under a 3 GB address-space cap.

Run by ``tests/test_hostile.py`` in a child process (the cap must not bind pytest itself):
``python lying_sizes.py SHARED_DATA WORKDIR``.  Every number of a text header (one at a time)
becomes 999999999 or 0, and 4-byte words of the binary headers become 0x7FFFFFFF or 0; each
variant must read or raise ``FormatError`` — not MemoryError, not another exception, not take
more than 10 s.  Prints one line per offender and exits 1 if there was any.
"""

from __future__ import annotations

import re
import resource
import sys
import time
from pathlib import Path

CAP = 3 * 2**30
resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))

from supramap.errors import FormatError  # noqa: E402  (after the cap, on purpose)
from supramap.io import read  # noqa: E402

#: text formats: file → header length (None: up to the format's end-of-header marker)
TEXT = {"bcr/bcrf-1.bcrf": 2048, "nanonis/FeSe_topography.sxm": None,
        "vendor/nid-1.nid": None, "vendor/di-1.di": 40960,
        "vendor/createc_scan_step_20nm.dat": 16384, "vendor/A180201.124928.VERT": 16384,
        "nanonis/NanonisReader_STS_grid_lockin.3ds": None}
#: binary formats: file → offsets of the words to overwrite (file header, frame/section heads)
MDA = 737 + 22  # test_mdt.mdt: the MDA frame's body
BIN = {"vendor/test_mdt.mdt": [*range(0, 64, 2), *range(737, 737 + 120, 2),
                               *range(MDA + 44670 - 420, MDA + 44670, 4)],
       "vendor/IgorIBWReader_P0089OP0027.ibw": list(range(0, 400, 2)),
       "vendor/example_ps.tiff": list(range(0, 600, 2)),
       "gwy/test.gwy": list(range(0, 400, 2))}


def main(shared: Path, work: Path) -> int:
    work.mkdir(parents=True, exist_ok=True)
    offenders = []

    def attempt(rel: str, data: bytes, what: str) -> None:
        p = work / ("m_" + Path(rel).name)
        p.write_bytes(data)
        t = time.perf_counter()
        try:
            read(p)
        except FormatError:
            pass
        except BaseException as exc:  # noqa: BLE001 — what we are looking for
            offenders.append(f"{rel} {what}: {type(exc).__name__}: {str(exc)[:100]}")
        if time.perf_counter() - t > 10:
            offenders.append(f"{rel} {what}: took {time.perf_counter() - t:.0f} s")

    for rel, limit in TEXT.items():
        raw = (shared / rel).read_bytes()
        if limit is None:
            limit = next((raw.index(m) for m in (b":SCANIT_END:", b":HEADER_END:", b"#!")
                          if m in raw), 4096)
        nums = list(re.finditer(rb"(?<![\w.])\d+(?![\w.])", raw[:limit]))
        for m in nums[:: max(1, len(nums) // 40)]:
            for v in (b"999999999", b"0"):
                attempt(rel, raw[:m.start()] + v + raw[m.end():], f"number@{m.start()}={v!r}")
    for rel, offsets in BIN.items():
        raw = (shared / rel).read_bytes()
        for pos in offsets:
            for v in (b"\xff\xff\xff\x7f", b"\x00\x00\x00\x00"):
                attempt(rel, raw[:pos] + v + raw[pos + 4:], f"word@{pos}={v.hex()}")
    for line in offenders:
        print(line)
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
