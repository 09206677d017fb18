"""Reader base class and the ordered registry that picks a reader from a file's first bytes."""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import xarray as xr

from supramap.errors import FormatError

SNIFF_BYTES = 4096


class Reader(ABC):
    """A file format supramap can read.

    Subclasses implement :meth:`can_read` (three-valued, from the first bytes) and
    :meth:`read`, which returns an :class:`xarray.Dataset` whose data variables are the
    file's channels.
    """

    name: str = ""
    description: str = ""
    extensions: tuple[str, ...] = ()

    @abstractmethod
    def can_read(self, head: bytes) -> bool | None:
        """True: this is the format; False: it is not; None: cannot tell from the bytes."""

    @abstractmethod
    def read(self, path: Path) -> xr.Dataset:
        """Read every channel of *path*."""


_REGISTRY: list[Reader] = []


def register(reader: Reader) -> Reader:
    """Add *reader* to the ordered registry (first registered is asked first)."""
    _REGISTRY.append(reader)
    return reader


def readers() -> tuple[Reader, ...]:
    """The registered readers, in the order they are asked."""
    return tuple(_REGISTRY)


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise FormatError(path, "no such file") from None
    except IsADirectoryError:
        raise FormatError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise FormatError(path, f"cannot be opened: {exc.strerror or exc}") from None


def header_number(path, text: str | None, what: str) -> tuple[float, str]:
    """The leading finite number of a header value and the text after it (a unit, usually):
    ``"600 nm"`` → ``(600.0, "nm")``; FormatError naming *what* when there is none."""
    m = re.match(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*(\S*)", text or "")
    if not m:
        raise FormatError(path, f"header field {what!r} is missing or not a number: {text!r}")
    v = float(m.group(1))
    if not np.isfinite(v):
        raise FormatError(path, f"header field {what!r} is not finite: {text!r}")
    return v, m.group(2)


BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def strip_bom(raw: bytes) -> tuple[bytes, str | None]:
    """Remove a byte-order mark; returns the rest and the encoding the mark names (or None)."""
    for bom, enc in BOMS:
        if raw.startswith(bom):
            return raw[len(bom):], enc
    return raw, None


def decode_text(raw: bytes, fallback: str = "latin-1") -> str:
    """Text of a file: the encoding its byte-order mark names (UTF-8, UTF-16 LE/BE), else UTF-8
    when it decodes, else *fallback* (instrument files are often cp1252/latin-1)."""
    body, enc = strip_bom(raw)
    if enc:
        return body.decode(enc, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode(fallback, errors="replace")


def sniff_head(head: bytes) -> bytes:
    """The first bytes as a reader's ``can_read`` should see them: a text file's byte-order
    mark removed and UTF-16 text re-encoded as UTF-8, so magic strings match."""
    body, enc = strip_bom(head)
    if enc in ("utf-16-le", "utf-16-be"):
        n = len(body) - len(body) % 2
        return body[:n].decode(enc, errors="ignore").encode("utf-8", errors="ignore")
    return body


def find_reader(path: str | os.PathLike[str]) -> Reader:
    """Pick the reader for *path* from its first bytes (the suffix only breaks ties)."""
    from supramap.errors import UnknownFormatError
    from supramap.fileutil import check_input_file

    p = Path(path)
    check_input_file(p)
    head = _head(p)
    if not head:
        raise FormatError(p, "file is empty")
    maybe: list[Reader] = []
    head = sniff_head(head)
    for reader in _REGISTRY:
        verdict = reader.can_read(head)
        if verdict:
            return reader
        if verdict is None:
            maybe.append(reader)
    for reader in maybe:
        if p.suffix.lower() in reader.extensions:
            return reader
    known = ", ".join(r.name for r in _REGISTRY)
    # The file's own bytes are not quoted: an error line may end up in a report or a log, and
    # the file may not be an instrument file at all (a path typed by mistake, or worse).
    kind = "text" if all(32 <= c < 127 or c in (9, 10, 13) for c in head[:64]) else "binary"
    raise UnknownFormatError(p, f"unrecognised file format ({kind} content; known: {known})")


_MANTISSA = re.compile(r"^\s*[+-]?(\d*)\.?(\d*)([eE][+-]?\d+)?\s*$")


def _number_shape(text: str) -> tuple[int, bool] | None:
    """(digits of the mantissa, has an exponent) of a number as written; None otherwise."""
    m = _MANTISSA.match(text)
    if not m or not (m.group(1) or m.group(2)):
        return None
    return len(m.group(1)) + len(m.group(2)), m.group(3) is not None


def check_last_row(path, rows: list[list[str]], *, min_rows: int = 5) -> None:
    """Refuse a table whose last value looks cut short.

    A file cut inside its last number often still parses (``3.00000E+0`` cut to ``3.000``).
    Instruments write every value of a column with the same number of digits and an exponent
    or none; when each of the preceding rows (at least *min_rows*) agrees on that shape for the
    last column and the final row does not, the file was cut inside that number.
    """
    from supramap.errors import FormatError

    if len(rows) <= min_rows or not rows[-1]:
        return
    col = len(rows[-1]) - 1
    earlier = {_number_shape(r[col]) for r in rows[-min_rows - 1:-1] if len(r) > col}
    last = _number_shape(rows[-1][col])
    if len(earlier) == 1 and None not in earlier and last is not None and last not in earlier:
        (digits, expo), = earlier
        raise FormatError(path, f"the last value {rows[-1][col].strip()!r} is written shorter "
                                f"than every earlier value of its column ({digits} digits"
                                f"{' and an exponent' if expo else ''}): the file looks cut "
                                "inside its last number (truncated)")


def read_into(path, offset: int, out, *, byteorder: str = ">") -> None:
    """Fill the contiguous array *out* (native numbers) with the file's bytes at *offset*,
    stored in *byteorder* ('>' big-, '<' little-endian), swapping in place when it differs from
    the machine's: one copy of the data, no intermediate ``bytes`` or converted duplicate.
    Raises FormatError when the file ends early."""
    import sys

    import numpy as np

    view = memoryview(out).cast("B")
    with open(path, "rb") as fh:
        fh.seek(offset)
        got = fh.readinto(view)
    if got != view.nbytes:
        raise FormatError(path, f"the file ends after {got} of the {view.nbytes} data bytes "
                                f"from offset {offset}")
    native = "<" if sys.byteorder == "little" else ">"
    if byteorder != native and out.dtype.itemsize > 1:
        with np.errstate(invalid="ignore"):  # signalling NaNs in unscanned lines
            out.byteswap(inplace=True)


def check_memory(path: str | os.PathLike[str], nbytes: int, what: str) -> None:
    """Refuse to read *what* when holding it (*nbytes*) would take more than half of this
    machine's memory: one clear line with the size, never a MemoryError."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if nbytes > total / 2:
        raise FormatError(path, f"{what} needs {nbytes / 2**30:.1f} GiB in memory, more than "
                                f"half of this machine's {total / 2**30:.0f} GiB: crop or bin "
                                "it first")
