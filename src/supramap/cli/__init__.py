"""The ``supramap`` command-line tool (thin: parse, call the library, print, write)."""
