"""``python -m supramap``."""

from supramap.cli.main import run

run()
