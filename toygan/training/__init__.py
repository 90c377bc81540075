"""Training runs: the shared loop (loop), evaluation (evaluation), the single run's trainer
(trainer), populations (grid, population_trainer) and their tables (tables). This is the
lowest layer that knows about run directories."""
