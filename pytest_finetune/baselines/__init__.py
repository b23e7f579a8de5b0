"""Stored measurements and how a new run is judged against them.

``scenario`` names what a baseline is valid for, ``store`` reads and writes the files,
``compare`` judges a run, ``check`` is the one path (fixture and CLI alike) that decides
between compare, record and update, and ``fingerprints`` are the drift guards that need no
training.
"""
