"""The package's structure (docs/DESIGN.md, section "Module structure"): no import circle anywhere,
lazy imports inside functions included; TensorFlow only where it is used, so that `effnet --help`
and the layout stage never import it; no process-wide side effect of importing a module."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import effnet_helpers

PACKAGE = Path(effnet_helpers.__file__).parent
ROOT = PACKAGE.parent


def package_imports(folder: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, read from the source: relative and absolute
    imports, at the top and inside functions (lazy ones) alike."""
    names = {path.stem for path in folder.glob("*.py")}
    graph = {}
    for path in folder.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    found |= ({node.module.split(".")[0]} if node.module
                              else {alias.name for alias in node.names})
                elif node.module == folder.name:
                    found |= {alias.name for alias in node.names}
                elif (node.module or "").startswith(folder.name + "."):
                    found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {alias.name.split(".")[1] for alias in node.names
                          if alias.name.startswith(folder.name + ".")}
        graph[path.stem] = (found & names) - {path.stem}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of a graph: its strongly connected components of more than one module
    (Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_lazy_imports_and_finds_circles(tmp_path):
    """The reader of the imports is what the next test trusts: it finds a circle closed by an
    import inside a function, and by an absolute import."""
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "a.py").write_text("from . import b\n")
    (folder / "b.py").write_text("def f():\n    from .c import x\n")
    (folder / "c.py").write_text("import pkg.a\n")
    (folder / "d.py").write_text("from . import a\n")
    graph = package_imports(folder)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_the_package_has_no_import_circle():
    graph = package_imports()
    assert "hub" in graph["models"] and "confidence" in graph["inference"]  # lazy and top-level
    assert circles(graph) == []
    # the modules at the bottom import nothing of the package (but TensorFlow's accessor)
    assert graph["specs"] == graph["backend"] == set()
    assert graph["storage"] <= {"backend"} and graph["settings"] <= {"runtime"}
    # later stages read a model directory without importing training
    for stage in ("evaluation", "inference", "calibration", "export", "confidence"):
        assert "training" not in graph[stage], stage


def test_tensorflow_is_imported_through_one_accessor():
    """Besides the accessor (backend.tensorflow), only the modules whose classes are Keras layers
    (hub, architecture) and runtime (which installs and checks TensorFlow) import it."""
    importers = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m == "tensorflow" or m.startswith("tensorflow.") for m in modules):
                importers.add(path.stem)
    assert importers <= {"backend", "hub", "runtime"}, importers


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)


def test_help_and_the_layout_stage_do_not_import_tensorflow(tmp_path):
    from tests.conftest import make_dataset
    data = make_dataset(tmp_path / "data", {"train": {"a": 2}, "validation": {"a": 1}})
    result = run_python(f"""
        import sys
        from effnet_helpers import cli
        for argv in (["--help"], *([c, "--help"] for c in ("layout", "split", "convert",
                     "inspect", "train", "evaluate", "calibrate", "predict", "export"))):
            try:
                cli.main(argv)
            except SystemExit as stop:
                assert stop.code == 0, argv
        assert cli.main(["layout", {str(data)!r}, "--no-check"]) == 0
        print("TENSORFLOW", "tensorflow" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TENSORFLOW False" in result.stdout


def test_importing_the_package_leaves_pillows_guard_alone():
    """Pillow's decompression-bomb limit stays what it is for the whole process: the package
    lifts it only while its own check guards a decode (images.pillow_limit_lifted)."""
    result = run_python("""
        from PIL import Image
        before = Image.MAX_IMAGE_PIXELS
        import effnet_helpers.images, effnet_helpers.layout, effnet_helpers.records
        import effnet_helpers.inference, effnet_helpers.plots
        print("LIMIT", before, Image.MAX_IMAGE_PIXELS)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    limit = result.stdout.split("LIMIT")[1].split()
    assert limit[0] == limit[1] != "None", limit


def test_the_limit_is_lifted_only_while_a_reader_decodes():
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from PIL import Image

    from effnet_helpers import images
    before = Image.MAX_IMAGE_PIXELS
    assert before is not None
    barrier = Barrier(4)

    def reader(_):
        with images.pillow_limit_lifted():
            barrier.wait(timeout=10)  # all four inside at once
            lifted = Image.MAX_IMAGE_PIXELS
            barrier.wait(timeout=10)
        return lifted

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(reader, range(4))) == [None] * 4
    assert Image.MAX_IMAGE_PIXELS == before
    with pytest.raises(RuntimeError), images.pillow_limit_lifted():
        raise RuntimeError("a failed decode")
    assert Image.MAX_IMAGE_PIXELS == before
