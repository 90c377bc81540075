"""Figures drawn from run files only, never from live objects: a run's (run_figures, with
samples, curves, panels), a population's (population), one matplotlib setup (style)."""
