"""The mathematics, in NumPy and SciPy only: distributions with exact densities, the theory
by quadrature, hand-written networks (nn), losses, optimisers, metrics, mode statistics and
the statistics of estimates. Nothing here knows about files, devices or training runs.
"""
