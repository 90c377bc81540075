"""Old import path, kept for scripts written against it: the trainer now lives in
toygan.training (trainer, evaluation), the GAN step in toygan.gan. New code imports from
there; this module re-exports the names it used to define."""

from .gan.factory import make_gan  # noqa: F401
from .gan.networks import CheckpointError, build_networks, restore_networks  # noqa: F401
from .gan.numpy_gan import GAN  # noqa: F401
from .gan.streams import STREAMS, TRAINING_STREAMS, draw_noise, random_streams  # noqa: F401
from .runfiles import (  # noqa: F401
    RUN_FILES,
    atomic_save_npz,
    atomic_write_bytes,
    atomic_write_text,
)
from .training.evaluation import (  # noqa: F401
    EXPENSIVE_KEYS,
    PARZEN_VALIDATION,
    SUMMARY_KEYS,
    EvalSets,
    evaluate_record,
    packs,
    summarise_records,
)
from .training.trainer import CHECKPOINT_VERSION, Diverged, Trainer  # noqa: F401
