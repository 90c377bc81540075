"""setup.cfg installs every subpackage of toygan (a missing one imports from a source tree
but not from an installed toygan, which is what CI and users run)."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_setup_cfg_lists_every_subpackage():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "toygan").rglob("__init__.py")}
    assert found - listed == set()
    assert "toygan.kernels" in listed
