"""Sweeps: a spec expanded into runs (spec) and the table of complete runs (summary)."""
