"""Figures (matplotlib, Agg) and the HTML report.  Sits on top of the analyses."""

from supramap.report.html import Report

__all__ = ["Report"]
