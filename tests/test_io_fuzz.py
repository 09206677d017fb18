"""Every reader, fed garbage behind its own magic bytes, raises FormatError naming the file
or reads something — never another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supramap.errors import FormatError
from supramap.io import read

PREFIXES = {
    "bcr.bcrf": b"fileformat = bcrf\nheadersize = 64\nxpixels = 2\nypixels = 2\n",
    "sxm.sxm": b":NANONIS_VERSION:\n2\n:SCAN_PIXELS:\n2 2\n",
    "gwy.gwy": b"GWYPGwyContainer\x00",
    "qd.dat": b"[Header]\nTITLE,x\n[Data]\nComment,Temperature (K)\n",
    "nanonis.dat": b"Experiment\tbias spectroscopy\n[DATA]\nBias (V)\tCurrent (A)\n",
    "grid.3ds": b'Grid dim="2 x 2"\nPoints=3\n# Parameters (4 byte)=0\nChannels="I (A)"\n'
                b":HEADER_END:\r\n",
    "ions.apt": b"APT\x00",
    "ions.pos": b"",
    "ions.epos": b"",
    "image.png": b"\x89PNG\r\n\x1a\n",
    "image.tiff": b"II*\x00",
    "bruker.spm": b"\\*File list\r\n\\*Ciao image list\r\n\\Data offset: 40\r\n"
                  b"\\Samps/line: 2\r\n\\Number of lines: 2\r\n\\Scan Size: 1 1 um\r\n",
    "createc.dat": b"[Paramco32]\r\nNum.X / Num.X=2\r\nNum.Y / Num.Y=2\r\n",
    "createc.VERT": b"[ParVERT30]\r\nDAC-Type=20bit\r\n",
    "nanosurf.nid": b"[DataSet]\r\nGr0-Ch0=DataSet-0:0\r\n[DataSet-0:0]\r\nPoints=2\r\n",
    "ntmdt.mdt": b"\x01\xb0\x93\xff",
    "asylum.ibw": b"\x05\x00",
    "ranges.rrng": b"[Ranges]\nNumber=1\n",
    "wsxm.stp": b"WSxM file copyright UAM\r\nSxM Image file\r\nImage header size: 120\r\n",
    "ranges.rng": b"1 1\nFe\nFe 1 0 0\n----- Fe\n",
}


@pytest.mark.parametrize("name", sorted(PREFIXES))
@settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=600))
def test_garbage_behind_magic(tmp_path, name, tail):
    p = tmp_path / name
    p.write_bytes(PREFIXES[name] + tail)
    try:
        read(p)
    except FormatError as exc:
        assert str(p) in str(exc)
