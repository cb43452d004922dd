"""The report run: notebook parameters and profiles, reuse of unchanged notebooks, the run history, and the
rendered pages, PDF and their check."""
