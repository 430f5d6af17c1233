"""Side-by-side benchmarks of blockforge against what users would pick instead.

Run with ``python3 dev.py bench`` (or ``python -m benchmarks``); it writes ``benchmarks/RESULTS.md``.
``python -m benchmarks --smoke --out PATH`` runs every benchmark at tiny sizes with one repetition
(the test suite does this, so the suite cannot rot). Nothing here asserts a timing.
"""
