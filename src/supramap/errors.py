"""Error types of supramap.

Every error a user can cause by giving bad input derives from :class:`SupramapError`, so the
command-line tool can print one clear line instead of a traceback.
"""

from __future__ import annotations

import os


class SupramapError(Exception):
    """Base class of every error supramap raises on purpose."""


class FormatError(SupramapError, ValueError):
    """A file is not what it claims to be: wrong magic, truncated, inconsistent header.

    Parameters
    ----------
    path : str or os.PathLike
        The file being read.
    message : str
        What is wrong, naming the offending field where there is one.
    """

    def __init__(self, path: str | os.PathLike[str] | None, message: str):
        self.path = None if path is None else os.fspath(path)
        self.detail = message
        prefix = f"{self.path}: " if self.path else ""
        super().__init__(prefix + message)


class UnknownFormatError(FormatError):
    """No registered reader recognises the file."""


class ChannelError(SupramapError, KeyError):
    """A requested channel does not exist in a file or dataset."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class AnalysisError(SupramapError, ValueError):
    """An analysis cannot be carried out on the given data (e.g. too few valid pixels)."""


class RegistrationError(AnalysisError):
    """Two images cannot be registered (different pixel sizes, no overlap, ...)."""


class OutputError(SupramapError, ValueError):
    """An output path that cannot be used (it would destroy something, or is not writable)."""
