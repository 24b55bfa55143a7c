"""The Japanese edition (notebooks/ja/): every text translated from the English as it is now,
the generated notebooks what the sources give, code cells the English ones, Colab buttons that
open the Japanese notebooks, Japanese glyphs in figures, and each notebook starting in the CI
profile (docs/japanese.md says why that short run is enough)."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
import warnings

import jupytext
import nbformat
import numpy as np
import pandas as pd
import pytest

from effnet_helpers import plots, settings
from effnet_helpers.workbook import is_checked

ROOT = settings.repo_root()


def _load_tool():
    spec = importlib.util.spec_from_file_location("ja_edition", ROOT / "tools" / "ja_edition.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ja_edition"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ja = _load_tool()
STEMS = ja.english_stems()
FIX = "python tools/ja_edition.py --status lists them; docs/japanese.md says how to translate"


def _japanese(stem):
    return nbformat.read(ja.EDITION / f"{stem}.ipynb", as_version=4)


# --- translations and generated files -----------------------------------------------------------

def test_the_edition_has_a_pair_and_a_translation_file_per_english_notebook():
    assert len(STEMS) >= 6
    assert sorted(p.stem for p in ja.EDITION.glob("[0-9][0-9]_*.ipynb")) == STEMS
    assert sorted(p.stem for p in ja.EDITION.glob("[0-9][0-9]_*.py")) == STEMS
    assert sorted(p.stem for p in ja.TRANSLATIONS.glob("*.yml")) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_every_english_text_has_a_current_translation(stem):
    """Fails when an English cell or comment changed and its translation did not (stale), when
    one has no translation (missing), or when an entry is still marked todo."""
    status = ja.status_of(stem)
    assert status.complete, f"{ja.describe(status)}\n{FIX}"


def test_the_generated_notebooks_are_what_the_sources_give():
    outdated = ja.outdated_files(STEMS)
    assert not outdated, f"run `make ja`: {[str(p.relative_to(ROOT)) for p in outdated]}"


@pytest.mark.parametrize("stem", STEMS)
def test_code_cells_are_the_english_ones(stem):
    """Cell for cell the English notebook: the same code (only comments may differ), the same
    metadata (the parameters tag), the same stored outputs of the checked cells."""
    english, japanese = ja.read_english(stem), _japanese(stem)
    assert [c.cell_type for c in japanese.cells] == [c.cell_type for c in english.cells]
    assert japanese.metadata == english.metadata
    for en, ja_cell in zip(english.cells, japanese.cells):
        assert ja_cell.metadata == en.metadata
        if en.cell_type != "code":
            continue
        assert ja.strip_comments(ja_cell.source) == ja.strip_comments(en.source), en.source[:80]
        assert ja_cell.outputs == en.outputs
        assert is_checked(ja_cell) == is_checked(en)
        if not any(ja.translatable(text) for _, _, text in ja.comments_of(en.source)):
            assert ja_cell.source == en.source


@pytest.mark.parametrize("stem", STEMS)
def test_each_japanese_notebook_is_a_lesson_with_its_own_colab_button(stem):
    """The lesson's frame (whether each text is translated is the test above's business)."""
    notebook = _japanese(stem)
    text = "\n".join(c.source for c in notebook.cells)
    repo = settings.REPO_URL.split("github.com/")[1]
    colab = f"colab.research.google.com/github/{repo}/blob/{settings.REPO_BRANCH}/notebooks/"
    assert notebook.cells[0].source.startswith(f"# {stem[:2]} · ")
    assert f"{colab}ja/{stem}.ipynb" in text
    assert f"{colab}{stem[:2]}_" not in text, "a Colab button opens an English notebook"
    assert f"](../{stem}.ipynb)" in notebook.cells[0].source  # the link to the English original
    assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)
    assert any(is_checked(c) for c in notebook.cells)
    from_py = jupytext.read(ja.EDITION / f"{stem}.py")
    assert [(c.cell_type, c.source) for c in from_py.cells] == \
           [(c.cell_type, c.source) for c in notebook.cells], "the pair differs: run `make ja`"
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"


def test_links_are_rewritten_for_the_japanese_folder():
    url = f"{settings.REPO_URL}/blob/main/notebooks/02_x.ipynb"
    text = f"[a](03_y.ipynb) [b](../data/README.md) [c]({url}) [d](#top) [e](https://x.org/a)"
    assert ja.localise_links(text) == (
        f"[a](03_y.ipynb) [b](../../data/README.md) [c]({url.replace('notebooks/', 'notebooks/ja/')})"
        " [d](#top) [e](https://x.org/a)")


# --- the checks can fail: a copy of one notebook, changed -------------------------------------

@pytest.fixture
def copy(tmp_path):
    """notebooks/01_*.py alone (no .ipynb) and its translation file, in tmp_path."""
    stem = STEMS[0]
    root, folder, edition = tmp_path / "en", tmp_path / "translations", tmp_path / "ja"
    root.mkdir()
    shutil.copy(ja.NOTEBOOKS / f"{stem}.py", root)
    shutil.copytree(ja.TRANSLATIONS, folder)
    ja.generate([stem], root, edition, folder)
    assert ja.status_of(stem, root, folder).complete
    assert ja.outdated_files([stem], root, edition, folder) == []
    return stem, root, folder, edition


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_changed_english_cell_makes_its_translation_stale(copy):
    stem, root, folder, edition = copy
    english = ja.read_english(stem, root)
    cell = next(c for c in english.cells[1:] if c.cell_type == "markdown")
    first_line = cell.source.split("\n")[-1]
    _edit(root / f"{stem}.py", f"# {first_line}\n", f"# {first_line} Also this new sentence.\n")
    status = ja.status_of(stem, root, folder)
    assert not status.complete and len(status.stale) == 1 and not status.missing
    report = ja.describe(status)
    assert "STALE" in report and "+" in report and "Also this new sentence." in report
    # the generated notebook no longer matches, and shows the new English, marked
    assert ja.outdated_files([stem], root, edition, folder)
    notebook, _ = ja.build(stem, root, folder)
    assert any("Also this new sentence." in c.source and ja.UNTRANSLATED_NOTE in c.source
               for c in notebook.cells)
    # --prepare puts the new English beside the old Japanese, marked todo, until translated
    ja.prepare(status, folder)
    prepared = ja.status_of(stem, root, folder)
    assert len(prepared.todo) == 1 and not prepared.stale and not prepared.complete
    data = ja.load_translations(ja.translation_path(stem, folder))
    entry = next(e for e in data["cells"] if "todo" in e)
    assert "Also this new sentence." in entry["en"] and entry["en_was"] != entry["en"]
    del entry["todo"], entry["en_was"]
    ja.write_atomic(ja.translation_path(stem, folder), ja.dump_translations(stem, data))
    assert ja.status_of(stem, root, folder).complete


def test_a_cell_without_translation_and_a_changed_comment_are_caught(copy):
    stem, root, folder, edition = copy
    path = ja.translation_path(stem, folder)
    data = ja.load_translations(path)
    removed = data["cells"].pop(1)
    ja.write_atomic(path, ja.dump_translations(stem, data))
    comment = data["comments"][0]["en"]
    _edit(root / f"{stem}.py", comment, comment + " (changed)")
    status = ja.status_of(stem, root, folder)
    assert [u.text for u in status.missing] == [removed["en"]]
    assert [u.text for u, _ in status.stale] == [comment + " (changed)"]
    assert "MISSING" in ja.describe(status)


def test_a_translation_file_that_does_not_fit_is_refused(tmp_path):
    path = tmp_path / "01_x.yml"
    path.write_text("cells:\n- sha: 0000000000000000\n  en: Hello\n  ja: こんにちは\n",
                    encoding="utf-8")
    with pytest.raises(ja.TranslationError, match="not the hash"):
        ja.load_translations(path)
    path.write_text("cells: []\nextra: 1\n", encoding="utf-8")
    with pytest.raises(ja.TranslationError, match="keys"):
        ja.load_translations(path)


def test_comments_are_translated_in_place_and_tool_markers_kept():
    source = 'x = "# not a comment"  # the answer\n# NBVAL_CHECK_OUTPUT\nprint(x)'
    translated = ja.translate_code(source, {ja.text_hash("# the answer"): "# 答え"})
    assert translated == 'x = "# not a comment"  # 答え\n# NBVAL_CHECK_OUTPUT\nprint(x)'
    assert ja.strip_comments(translated) == ja.strip_comments(source)
    assert not ja.translatable("# NBVAL_CHECK_OUTPUT")


# --- Japanese in figures ----------------------------------------------------------------------

def _missing_glyphs(draw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = draw()
        figure.canvas.draw()
    import matplotlib.pyplot as plt
    plt.close(figure)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def _figures():
    from effnet_helpers import evaluation
    classes = ["アブラムシ", "コナジラミ", "aphid"]
    counts = pd.DataFrame({"train": [30, 12, 20], "validation": [8, 3, 5]}, index=classes)
    matrix = pd.DataFrame([[7, 1, 0], [1, 2, 0], [0, 0, 5]], index=classes, columns=classes)
    history = [{"epoch": e, "phase": "head" if e < 2 else "finetune", "loss": 1.0 / (e + 1),
                "accuracy": 0.5 + e / 10, "val_loss": 1.1 / (e + 1), "val_accuracy": 0.5 + e / 12}
               for e in range(4)]
    return [lambda: plots.plot_class_counts(counts, title="クラスごとの画像数"),
            lambda: plots.image_grid([np.zeros((8, 8, 3), "uint8")] * 3, classes,
                                     suptitle="訓練画像（ラベル: クラス）"),
            lambda: evaluation.plot_confusion_matrix(matrix, title="混同行列（画像数）"),
            lambda: plots.plot_history(history, title="学習曲線：B0、害虫データ")]


def test_japanese_class_names_and_titles_draw_real_glyphs():
    assert plots.JA_FONT == "IPAexGothic", "matplotlib-fontja is a core dependency: pip install -e ."
    plots.use_projector_style()
    for draw in _figures():
        assert _missing_glyphs(draw) == []
    # the check itself works: without the Japanese font every kana and kanji is reported
    import matplotlib
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        assert len(_missing_glyphs(_figures()[0])) >= 5


def test_latin_text_keeps_its_font_and_japanese_falls_back():
    from matplotlib import font_manager
    import matplotlib.pyplot as plt
    fonts = font_manager.fontManager._find_fonts_by_props(
        font_manager.FontProperties(family=plt.rcParams["font.family"]))
    names = [font_manager.get_font(str(f)).family_name for f in fonts]
    assert names[0] == "DejaVu Sans" and names[-1] == "IPAexGothic", names
    assert str(plots.packaged_japanese_font()) in [str(f) for f in fonts]


def test_without_a_japanese_font_plots_work_after_one_notice(monkeypatch, capsys):
    import matplotlib.pyplot as plt
    monkeypatch.setattr(plots, "packaged_japanese_font", lambda: None)
    monkeypatch.setattr(plots, "_notice_shown", False)
    before = list(plt.rcParams["font.family"])
    assert plots.register_japanese_font(system_fonts=()) is None
    assert plots.register_japanese_font(system_fonts=()) is None
    assert capsys.readouterr().err.count("no Japanese font") == 1
    assert list(plt.rcParams["font.family"]) == before
    plt.close(plots.plot_class_counts(pd.DataFrame({"train": [1]}, index=["a"])))


# --- running: not by nbval, but each notebook's start in the CI profile ------------------------

def test_nbval_does_not_collect_the_japanese_notebooks():
    """`pytest tests notebooks --nbval-lax` (make test) would otherwise run them all in full."""
    run = subprocess.run([sys.executable, "-m", "pytest", "notebooks", "--nbval-lax",
                          "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert f"notebooks/{STEMS[0]}.ipynb::Cell 0" in run.stdout, run.stdout[-2000:]
    assert "notebooks/ja/" not in run.stdout


def test_each_japanese_notebook_starts_in_the_ci_profile(tmp_path, monkeypatch):
    """Each generated notebook, run from notebooks/ja/ up to and including its parameters cell:
    its setup, imports and parameters, in the CI profile. The rest of its code is the English
    code (test_code_cells_are_the_english_ones), which nbval runs in full; so the six starts share
    one kernel, which imports TensorFlow once (docs/japanese.md)."""
    import nbclient
    monkeypatch.setenv(settings.PROFILE_ENV, "ci")
    monkeypatch.setenv(settings.WORK_DIR_ENV, str(tmp_path))
    starts = nbformat.v4.new_notebook(metadata=_japanese(STEMS[0]).metadata)
    for stem in STEMS:
        cells = _japanese(stem).cells
        last = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        for cell in cells[:last + 1]:
            cell.metadata["stem"] = stem
            starts.cells.append(cell)
        starts.cells.append(nbformat.v4.new_code_cell(
            "import os, sys\nprint(os.getcwd(), 'effnet_helpers' in sys.modules)",
            metadata={"stem": stem, "probe": True}))
    nbclient.NotebookClient(starts, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(ja.EDITION)}}).execute()
    errors = {c.metadata["stem"]: o.get("evalue") for c in starts.cells
              if c.cell_type == "code" for o in c.outputs if o.output_type == "error"}
    assert not errors, errors
    probes = [c for c in starts.cells if c.metadata.get("probe")]
    assert len(probes) == len(STEMS)
    for probe in probes:
        assert probe.outputs[0]["text"].strip() == f"{ja.EDITION} True"
