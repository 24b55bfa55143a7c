"""The notebooks as files: each .py/.ipynb pair in sync, outputs stripped except the checked
cells (whose stored outputs nbval compares), and the lesson anatomy in place."""
from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from effnet_helpers import settings
from effnet_helpers.workbook import is_checked, notebook_paths

NOTEBOOKS = notebook_paths()


def test_notebooks_are_numbered_pairs():
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]
    for path in NOTEBOOKS:
        assert path.with_suffix(".py").exists(), f"{path.name} has no .py twin"
    assert len(NOTEBOOKS) >= 2


def _cells(notebook):
    return [(c.cell_type, c.source.strip()) for c in notebook.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_in_sync(path):
    """The .py (the source we edit) and the .ipynb hold the same cells: run `make sync`."""
    from_py = jupytext.read(path.with_suffix(".py"))
    from_ipynb = jupytext.read(path)
    assert _cells(from_py) == _cells(from_ipynb), f"run: jupytext --sync {path.with_suffix('.py')}"
    assert from_ipynb.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_checked_cells_store_outputs(path):
    """Outputs are stripped in git, except in `# NBVAL_CHECK_OUTPUT` cells, which must hold the
    reference output (an empty reference would make nbval's comparison pass vacuously)."""
    notebook = nbformat.read(path, as_version=4)
    checked = [c for c in notebook.cells if is_checked(c)]
    assert checked, f"{path.name} has no # NBVAL_CHECK_OUTPUT cell"
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            assert cell.outputs, (f"{path.name}: a checked cell has no stored output; run "
                                  "python -m effnet_helpers.workbook --update-reference")
        else:
            assert not cell.outputs, f"{path.name}: outputs must be stripped: {cell.source[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_anatomy(path):
    """Title, Colab button, a parameters cell, a check and a "What's next" section."""
    notebook = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in notebook.cells)
    assert notebook.cells[0].source.startswith(f"# {path.stem[:2]} · ")
    assert f"colab.research.google.com/github/{settings.REPO_URL.split('github.com/')[1]}" \
           f"/blob/{settings.REPO_BRANCH}/notebooks/{path.name}" in text
    assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)
    assert "## What's next" in text
    # the Colab install cell clones the repository settings.py names
    assert re.search(rf'REPO_URL = "{re.escape(settings.REPO_URL)}"', text)


def test_the_setup_cell_clones_the_release_of_this_package():
    """One tag, settings.RELEASE_TAG, is the package's version; every notebook clones it."""
    import effnet_helpers
    assert settings.RELEASE_TAG == f"v{effnet_helpers.__version__}"
    pyproject = (settings.repo_root() / "pyproject.toml").read_text(encoding="utf-8")
    assert f'\nversion = "{effnet_helpers.__version__}"\n' in pyproject
    for path in NOTEBOOKS:
        text = path.with_suffix(".py").read_text(encoding="utf-8")
        assert re.findall(r'^RELEASE = "([^"]+)"', text, flags=re.M) == [settings.RELEASE_TAG], \
            path.name
        assert '"--branch", RELEASE' in text, path.name


WORDS_ANCHOR = "01_dataset_layout.ipynb#words-used-here"
# The words the lessons use that a newcomer cannot know; each has a line in 01's "Words used here".
WORDS = ("class", "label", "label map", "split", "ImageNet", "synset", "TFRecord", "shard",
         "the tensorflow/tpu converter", "the original system", "backbone", "stem", "block",
         "top", "head", "batch norm", "stochastic depth", "transfer learning", "fine-tuning",
         "epoch", "profile")


def _markdown(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def test_the_first_notebook_explains_the_words_the_others_use():
    """01 holds the "Words used here" table (with the anchor later notebooks link to), a line
    for each word, and says what the original system was where it first comes up."""
    text = _markdown(NOTEBOOKS[0])
    section = text[text.index("## Words used here"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    assert '<a id="words-used-here"></a>' in text
    defined = {term.strip() for row in re.findall(r"^\| (.+?) \|", section, flags=re.M)
               for term in row.replace("*", "").split(",")}
    missing = [w for w in WORDS
               if not any(re.search(rf"(^|\W){re.escape(w)}($|\W)", t) for t in defined)]
    assert not missing, f"no line in 01's Words used here for {missing}"
    first = text.index("the original system")
    assert "NARO" in text[max(0, first - 600):first + 600] and "tensorflow/tpu" in text[first:first + 600]


@pytest.mark.parametrize("path", NOTEBOOKS[1:], ids=lambda p: p.name)
def test_later_notebooks_link_the_words_section(path):
    assert WORDS_ANCHOR in _markdown(path), f"{path.name}: link {WORDS_ANCHOR} where new words come"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_unexplained_name_for_the_original_system(path):
    """"The seed system" was never explained to a reader: the lessons say "the original system"
    (NARO's insect classifier, introduced in 01)."""
    assert "seed system" not in _markdown(path).lower()
