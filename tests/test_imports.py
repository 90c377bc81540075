"""toygan.imports: the import graph read from the source, and the layer contract CI holds
the package to (no cycle, lazy imports included; no import of a later layer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toygan import imports

ROOT = Path(imports.__file__).resolve().parents[1]


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "toygan" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_package_keeps_its_layer_contract():
    graph = imports.import_graph(ROOT)
    assert imports.problems(graph) == []
    assert "toygan.training.trainer" in graph and "toygan.core.nn.mlp" in graph


def test_the_command_line_reports_the_layers_and_exits_zero():
    out = subprocess.run([sys.executable, "-m", "toygan.imports"], capture_output=True,
                         text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no cycle, every import goes down the layers" in out.stdout
    assert "core" in out.stdout and "commands" in out.stdout


def test_a_lazy_import_that_closes_a_cycle_is_found(tmp_path):
    root = write_package(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "from . import b\n",
        "core/b.py": "def f():\n    from .a import g  # lazy: still a cycle\n",
    })
    graph = imports.import_graph(root)
    assert graph["toygan.core.a"] == {"toygan.core.b"}
    assert graph["toygan.core.b"] == {"toygan.core.a"}
    assert imports.cycles(graph) == [["toygan.core.a", "toygan.core.b"]]
    assert imports.main(["--root", str(root)]) == 1


def test_an_upward_import_breaks_the_contract(tmp_path):
    root = write_package(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/maths.py": "from ..training.loop import TrainingLoop\n",
        "training/__init__.py": "",
        "training/loop.py": "from ..core import maths\n",
    })
    graph = imports.import_graph(root)
    found = imports.problems(graph)
    assert any("toygan.core.maths (core) imports toygan.training.loop (training)" in p
               for p in found)
    assert any(p.startswith("import cycle") for p in found)


def test_type_checking_imports_are_not_edges(tmp_path):
    root = write_package(tmp_path, {
        "__init__.py": "",
        "gan/__init__.py": "",
        "gan/a.py": "from .b import B\n",
        "gan/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from .a import A\nelse:\n    import json\nclass B: ...\n"),
    })
    graph = imports.import_graph(root)
    assert graph["toygan.gan.b"] == set() and imports.cycles(graph) == []


def test_from_package_import_module_is_an_edge_to_the_module(tmp_path):
    root = write_package(tmp_path, {
        "__init__.py": "from .core import maths\n",
        "core/__init__.py": "from .maths import f\n",
        "core/maths.py": "def f(): ...\n",
        "run.py": "from .core import f\nimport toygan.core.maths\n",
    })
    graph = imports.import_graph(root)
    assert graph["toygan"] == {"toygan.core.maths"}
    assert graph["toygan.run"] == {"toygan.core", "toygan.core.maths"}
    assert imports.problems(graph) == []


def test_a_bad_root_is_one_line_and_exit_2(tmp_path, capsys):
    assert imports.main(["--root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("toygan.imports: error: --root") and err.count("\n") == 1


def test_the_installed_kernels_package_is_not_a_module_of_the_graph(tmp_path):
    root = write_package(tmp_path, {"__init__.py": "", "kernels/__init__.py": ""})
    assert set(imports.import_graph(root)) == {"toygan"}
