"""The Japanese edition of the notebooks (notebooks/ja/), generated from the English sources.

    python tools/ja_edition.py             # write notebooks/ja/NN_name.{py,ipynb}   (make ja)
    python tools/ja_edition.py --status    # which cells need a (new) translation, with their text
    python tools/ja_edition.py --prepare   # put those cells into the translation files, marked todo
    python tools/ja_edition.py --check     # exit 1 unless everything is translated and generated

Each English notebook notebooks/NN_name.py (the jupytext source) has a translation file
notebooks/ja/translations/NN_name.yml: one entry per markdown cell and per comment in its code
cells, holding `sha` (SHA-256 of the English text, first 16 hex digits), `en` (that English text)
and `ja` (the Japanese). An entry is used only while an English cell with that exact text exists:
change an English cell and its translation is stale until someone translates the new text.
Code is never translated: the Japanese notebooks' code cells are the English ones, byte for byte,
except for the comments. docs/japanese.md explains the design.
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import os
import re
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
EDITION = NOTEBOOKS / "ja"
TRANSLATIONS = EDITION / "translations"
HASH_DIGITS = 16
ENTRY_KEYS = {"sha", "en", "ja", "todo", "en_was"}
# Comments that are instructions to tools, not to readers: never translated.
TOOL_COMMENT = re.compile(r"#\s*(NBVAL_|noqa|type:|fmt:|pragma|pylint|%%|-\*-)")
SIMILAR = 0.5          # how alike an old English text must be to count as the cell's old version
UNTRANSLATED_NOTE = "*（この節は翻訳待ちのため、英語の原文のままです）*"
FILE_HEADER = """\
# The Japanese text of notebooks/{stem}.py, read by tools/ja_edition.py (docs/japanese.md).
# One entry per markdown cell (`cells`) and per comment of a code cell (`comments`):
#   sha  SHA-256 of the English text `en`, first {digits} hex digits: the entry is used only while
#        the English notebook has a cell (or comment) with exactly this text;
#   ja   the Japanese text (links as in the English; the generator points them at notebooks/ja/);
#   todo present while the entry still needs translating (`--prepare` adds it, the translator
#        removes it); en_was: the English text the old `ja` translated.
# Regenerate the notebooks with `make ja`; list what needs translating with
# `python tools/ja_edition.py --status`.
"""


class TranslationError(Exception):
    """A translation file that cannot be used as it is (the message says what to fix)."""


def text_hash(text: str) -> str:
    """The hash an entry records: SHA-256 of the English text (UTF-8), first HASH_DIGITS digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_DIGITS]


# --- the English side ---------------------------------------------------------------------------

@dataclass
class Unit:
    """One piece of English to translate: a markdown cell, or one comment of a code cell."""
    kind: str      # "cells" or "comments"
    cell: int      # index of the cell in the notebook
    text: str

    @property
    def sha(self) -> str:
        return text_hash(self.text)

    def where(self) -> str:
        """Where to find it: the cell number (from 0) and, for a markdown cell, its first line."""
        if self.kind == "comments":
            return f"cell {self.cell} (a comment in a code cell)"
        first = self.text.strip().split("\n")[0]
        return f"cell {self.cell} ({first[:60] + ('...' if len(first) > 60 else '')})"


def english_stems(root: Path = NOTEBOOKS) -> list[str]:
    """NN_name of every English notebook (its .py source), in order."""
    return sorted(p.stem for p in root.glob("[0-9][0-9]_*.py"))


def comments_of(source: str) -> list[tuple[int, int, str]]:
    """(line, column, text) of every comment token of a code cell; none for code that Python's
    tokenizer cannot read (IPython magics, shell escapes): such cells keep their comments."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    return [(t.start[0] - 1, t.start[1], t.string) for t in tokens if t.type == tokenize.COMMENT]


def translatable(comment: str) -> bool:
    """A comment for readers (tool markers such as `# NBVAL_CHECK_OUTPUT` stay as they are)."""
    return not TOOL_COMMENT.match(comment) and re.search(r"[A-Za-z]", comment) is not None


def strip_comments(source: str) -> list[str]:
    """The code of a cell line by line, without its comments: what must not differ between the
    two editions."""
    lines = source.split("\n")
    for row, col, _ in comments_of(source):
        lines[row] = lines[row][:col]
    return lines


def read_english(stem: str, root: Path = NOTEBOOKS):
    """The English notebook as `jupytext --sync` would make its .ipynb: cells from the .py
    source, cell ids and the stored outputs of checked cells from the .ipynb where the cell is
    unchanged, and a deterministic id for any other cell."""
    import jupytext
    import nbformat
    from jupytext.combine import combine_inputs_with_outputs
    notebook = jupytext.read(root / f"{stem}.py")
    ipynb = root / f"{stem}.ipynb"
    known = set()
    if ipynb.exists():
        stored = nbformat.read(ipynb, as_version=4)
        notebook = combine_inputs_with_outputs(notebook, stored, fmt="py:percent")
        known = {cell.get("id") for cell in stored.cells}
    for index, cell in enumerate(notebook.cells):
        if cell.get("id") not in known:
            cell["id"] = hashlib.sha256(f"{stem}:{index}:{cell.source}".encode()).hexdigest()[:8]
    return notebook


def english_units(notebook) -> list[Unit]:
    """Everything of a notebook that needs a Japanese text, in notebook order."""
    units = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            units.append(Unit("cells", index, cell.source))
        elif cell.cell_type == "code":
            units += [Unit("comments", index, text) for _, _, text in comments_of(cell.source)
                      if translatable(text)]
    return units


# --- the translation files ----------------------------------------------------------------------

def translation_path(stem: str, folder: Path = TRANSLATIONS) -> Path:
    return folder / f"{stem}.yml"


def load_translations(path: Path) -> dict[str, list[dict]]:
    """{"cells": [...], "comments": [...]} from a translation file (empty lists when it is
    missing); a malformed file raises TranslationError naming the entry."""
    import yaml
    if not path.exists():
        return {"cells": [], "comments": []}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise TranslationError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict) or set(data) - {"cells", "comments"}:
        raise TranslationError(f"{path}: expected the keys `cells` and `comments` only")
    result = {}
    for kind in ("cells", "comments"):
        entries = data.get(kind) or []
        if not isinstance(entries, list):
            raise TranslationError(f"{path}: `{kind}` must be a list of entries")
        for number, entry in enumerate(entries, 1):
            where = f"{path}: {kind} entry {number}"
            if not isinstance(entry, dict) or not {"sha", "en", "ja"} <= set(entry) \
                    or set(entry) - ENTRY_KEYS:
                raise TranslationError(f"{where}: needs `sha`, `en` and `ja` "
                                       f"(optional: `todo`, `en_was`), nothing else")
            for key in ("sha", "en", "ja"):
                entry[key] = "" if entry[key] is None else str(entry[key])
            if entry["sha"] != text_hash(entry["en"]):
                raise TranslationError(f"{where}: `sha` {entry['sha']} is not the hash of its "
                                       f"`en` text ({text_hash(entry['en'])}); copy `en` and "
                                       "`sha` together (--prepare does)")
            if kind == "comments" and entry["ja"] and (
                    not entry["ja"].startswith("#") or "\n" in entry["ja"]):
                raise TranslationError(f"{where}: a comment's `ja` is one line starting with #")
        result[kind] = entries
    return result


def _block_style(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def dump_translations(stem: str, data: dict[str, list[dict]]) -> str:
    """A translation file's text: block scalars, so that translators edit plain text."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, _block_style)
    order = ["sha", "todo", "en_was", "en", "ja"]
    clean = {kind: [{key: entry[key] for key in order if key in entry} for entry in data[kind]]
             for kind in ("cells", "comments")}
    body = yaml.dump(clean, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=1000)
    return FILE_HEADER.format(stem=stem, digits=HASH_DIGITS) + body


# --- matching English to translations -----------------------------------------------------------

@dataclass
class Status:
    """How one notebook's translation stands."""
    stem: str
    units: list[Unit]
    current: dict[str, str] = field(default_factory=dict)       # sha -> Japanese text
    todo: list[tuple[Unit, dict]] = field(default_factory=list)  # prepared, not yet translated
    stale: list[tuple[Unit, dict]] = field(default_factory=list)  # unit, the old entry
    missing: list[Unit] = field(default_factory=list)
    unused: list[tuple[str, dict]] = field(default_factory=list)  # kind, entry

    @property
    def complete(self) -> bool:
        return not (self.todo or self.stale or self.missing or self.unused)

    def counts(self) -> str:
        done = sum(1 for u in self.units if u.sha in self.current)
        return f"{done} of {len(self.units)} texts translated"


def match(stem: str, units: list[Unit], translations: dict[str, list[dict]]) -> Status:
    """Sort the English units into current, todo, stale (an entry for an older text of the same
    cell exists) and missing; entries whose English text is gone are unused."""
    status = Status(stem, units)
    for kind in ("cells", "comments"):
        entries = translations[kind]
        by_sha = {e["sha"]: e for e in entries}
        mine = [u for u in units if u.kind == kind]
        shas = {u.sha for u in mine}
        leftovers = [e for e in entries if e["sha"] not in shas]
        handled = set()
        for unit in mine:
            if unit.sha in handled:
                continue
            handled.add(unit.sha)
            entry = by_sha.get(unit.sha)
            if entry is not None and entry["ja"].strip() and "todo" not in entry:
                status.current[unit.sha] = entry["ja"]
            elif entry is not None:
                status.todo.append((unit, entry))
            else:
                old = _old_version(unit.text, leftovers)
                if old is None:
                    status.missing.append(unit)
                else:
                    leftovers.remove(old)
                    status.stale.append((unit, old))
        status.unused += [(kind, e) for e in leftovers]
    return status


def _old_version(text: str, entries: list[dict]) -> dict | None:
    """The entry whose English text is most like `text` (an earlier version of the same cell)."""
    best, best_ratio = None, SIMILAR
    for entry in entries:
        old = entry.get("en_was") or entry["en"]
        matcher = difflib.SequenceMatcher(None, text, old, autojunk=False)
        if matcher.quick_ratio() >= best_ratio and matcher.ratio() >= best_ratio:
            best, best_ratio = entry, matcher.ratio()
    return best


def status_of(stem: str, root: Path = NOTEBOOKS, folder: Path = TRANSLATIONS) -> Status:
    return match(stem, english_units(read_english(stem, root)),
                 load_translations(translation_path(stem, folder)))


# --- building the Japanese notebook -------------------------------------------------------------

def localise_links(text: str) -> str:
    """Links as they must read from notebooks/ja/: Colab and GitHub addresses of the English
    notebooks point at the Japanese ones, other relative links go one folder further up
    (links between notebooks stay: the Japanese siblings sit side by side)."""
    from effnet_helpers import settings
    repo = re.escape(settings.REPO_URL.split("github.com/", 1)[1])
    text = re.sub(rf"((?:colab\.research\.google\.com/github/|github\.com/){repo}/blob/[^/\s)]+"
                  rf"/notebooks/)(?=[0-9][0-9]_)", r"\1ja/", text)
    return re.sub(r"\]\((?![0-9][0-9]_|[A-Za-z][A-Za-z0-9+.-]*:|#|/)", "](../", text)


def english_link(stem: str) -> str:
    """The line the generator adds to each Japanese notebook's title cell."""
    return (f"英語版（原文）：[{stem}.ipynb](../{stem}.ipynb)。この日本語版は英語版から生成して"
            "おり、コードは英語版と同一です。")


def translate_code(source: str, current: dict[str, str]) -> str:
    """The code cell with each translated comment replaced; every other character unchanged."""
    lines = source.split("\n")
    for row, col, text in sorted(comments_of(source), reverse=True):
        ja = current.get(text_hash(text)) if translatable(text) else None
        if ja:
            lines[row] = lines[row][:col] + ja + lines[row][col + len(text):]
    return "\n".join(lines)


def build(stem: str, root: Path = NOTEBOOKS, folder: Path = TRANSLATIONS):
    """(the Japanese notebook, its Status): the English notebook with every markdown cell
    replaced by its current translation (the English text, marked, where there is none) and
    the comments of code cells translated."""
    english = read_english(stem, root)
    status = match(stem, english_units(english), load_translations(translation_path(stem, folder)))
    first_markdown = True
    for cell in english.cells:
        if cell.cell_type == "markdown":
            text = status.current.get(text_hash(cell.source))
            if text is None:
                text = cell.source.rstrip() + "\n\n" + UNTRANSLATED_NOTE
            text = localise_links(text.rstrip("\n"))
            if first_markdown:
                text += "\n\n" + english_link(stem)
                first_markdown = False
            cell.source = text
        elif cell.cell_type == "code":
            cell.source = translate_code(cell.source, status.current)
    return english, status


def render(notebook) -> tuple[str, str]:
    """(the .py text, the .ipynb text) of a notebook, as `jupytext --sync` writes them."""
    import jupytext
    return jupytext.writes(notebook, fmt="py:percent"), jupytext.writes(notebook, fmt="ipynb") + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write text in full or not at all (a temporary file renamed over the target)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def same_except_version(a: str, b: str) -> bool:
    """Equal texts, ignoring the jupytext version that the .py header records."""
    drop = re.compile(r"^#\s+jupytext_version: .*$", re.M)
    return drop.sub("", a) == drop.sub("", b)


def outdated_files(stems: list[str], root: Path = NOTEBOOKS, edition: Path = EDITION,
                   folder: Path = TRANSLATIONS, strays: bool = True) -> list[Path]:
    """Generated files that differ from what the sources give now (or are missing), and with
    `strays` the generated files that no English notebook gives any more."""
    outdated = []
    for stem in stems:
        py_text, ipynb_text = render(build(stem, root, folder)[0])
        for path, text in ((edition / f"{stem}.py", py_text), (edition / f"{stem}.ipynb", ipynb_text)):
            if not path.exists() or not same_except_version(path.read_text(encoding="utf-8"), text):
                outdated.append(path)
    wanted = {f"{s}{ext}" for s in stems for ext in (".py", ".ipynb")}
    if strays:
        outdated += [p for p in sorted(edition.glob("[0-9][0-9]_*")) if p.name not in wanted]
    return outdated


# --- commands -----------------------------------------------------------------------------------

def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line if line else prefix.rstrip() for line in text.split("\n"))


def describe(status: Status) -> str:
    """What remains to translate in one notebook, with the English texts (for --status)."""
    lines = [f"{status.stem}: {status.counts()}"]
    for unit in status.missing:
        lines += [f"  MISSING {unit.where()}, English:", _indent(unit.text)]
    for unit, entry in status.stale:
        old = entry.get("en_was") or entry["en"]
        diff = difflib.unified_diff(old.split("\n"), unit.text.split("\n"), "translated English",
                                    "English now", lineterm="", n=1)
        lines += [f"  STALE {unit.where()}: the English changed since it was translated",
                  _indent("\n".join(list(diff)[2:])), "    its old Japanese:", _indent(entry["ja"])]
    for unit, entry in status.todo:
        lines += [f"  TODO {unit.where()} (prepared, not translated yet), English:",
                  _indent(unit.text)]
        if entry.get("en_was"):
            lines += ["    it translated before:", _indent(entry["en_was"])]
    for kind, entry in status.unused:
        lines += [f"  UNUSED {kind} entry {entry['sha']}: no English text has this hash any more; "
                  "--prepare drops it", _indent(entry["en"][:200])]
    return "\n".join(lines)


def prepare(status: Status, folder: Path = TRANSLATIONS) -> Path:
    """Rewrite a translation file in notebook order: current entries unchanged; for a stale cell
    the new English with the old Japanese and `todo`; for a missing one an empty `ja` and `todo`;
    unused entries dropped."""
    path = translation_path(status.stem, folder)
    old = load_translations(path)
    by_sha = {e["sha"]: e for kind in ("cells", "comments") for e in old[kind]}
    stale = {unit.sha: entry for unit, entry in status.stale}
    data = {"cells": [], "comments": []}
    seen = set()
    for unit in status.units:
        if unit.sha in seen:
            continue
        seen.add(unit.sha)
        if unit.sha in by_sha:
            entry = by_sha[unit.sha]
        elif unit.sha in stale:
            previous = stale[unit.sha]
            entry = {"sha": unit.sha, "todo": "the English changed: update ja",
                     "en_was": previous.get("en_was") or previous["en"], "en": unit.text,
                     "ja": previous["ja"]}
        else:
            entry = {"sha": unit.sha, "todo": "new: translate", "en": unit.text, "ja": ""}
        data[unit.kind].append(entry)
    write_atomic(path, dump_translations(status.stem, data))
    return path


def generate(stems: list[str], root: Path = NOTEBOOKS, edition: Path = EDITION,
             folder: Path = TRANSLATIONS, prune: bool = True) -> list[Status]:
    """Write the Japanese notebook pairs of `stems`; with `prune`, remove the pairs whose
    English notebook is gone."""
    statuses = []
    for stem in stems:
        notebook, status = build(stem, root, folder)
        py_text, ipynb_text = render(notebook)
        for path, text in ((edition / f"{stem}.py", py_text), (edition / f"{stem}.ipynb", ipynb_text)):
            if not path.exists() or not same_except_version(path.read_text(encoding="utf-8"), text):
                write_atomic(path, text)
        statuses.append(status)
    wanted = {f"{s}{ext}" for s in stems for ext in (".py", ".ipynb")}
    for path in edition.glob("[0-9][0-9]_*") if prune else ():
        if path.name not in wanted and path.suffix in (".py", ".ipynb"):
            path.unlink()
    return statuses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--status", action="store_true",
                       help="list the cells and comments that need translating, with their English")
    group.add_argument("--prepare", action="store_true",
                       help="add those to the translation files (marked todo) for a translator")
    group.add_argument("--check", action="store_true",
                       help="exit 1 unless all is translated and notebooks/ja/ is up to date")
    parser.add_argument("--only", nargs="*", metavar="NN",
                        help="only the notebooks whose name starts with these numbers")
    args = parser.parse_args(argv)
    stems = english_stems()
    if args.only:
        unknown = [n for n in args.only if not any(s.startswith(n) for s in stems)]
        if unknown:
            print(f"--only: no notebook starts with {', '.join(unknown)}; "
                  f"choose from {', '.join(s[:2] for s in stems)}", file=sys.stderr)
            return 2
        stems = [s for s in stems if any(s.startswith(n) for n in args.only)]
    try:
        if args.prepare:
            for stem in stems:
                status = status_of(stem)
                path = prepare(status)
                print(f"{path.relative_to(REPO)}: {len(status.missing)} new, "
                      f"{len(status.stale)} changed, {len(status.unused)} unused dropped")
            return 0
        if args.status or args.check:
            statuses = [status_of(stem) for stem in stems]
            for status in statuses:
                print(describe(status))
            complete = all(s.complete for s in statuses)
            outdated = outdated_files(stems, strays=not args.only) if args.check else []
            for path in outdated:
                print(f"{path.relative_to(REPO)} is not what the sources give: run `make ja`")
            if not complete:
                print("\nTo translate: `python tools/ja_edition.py --prepare`, edit the `ja` "
                      "texts in notebooks/ja/translations/ and delete their `todo` lines, then "
                      "`make ja`.")
            return 0 if complete and not outdated else 1
        statuses = generate(stems, prune=not args.only)
    except TranslationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    todo = sum(len(s.missing) + len(s.stale) + len(s.todo) for s in statuses)
    print(f"wrote {len(statuses)} Japanese notebooks to {EDITION.relative_to(REPO)}/"
          + (f"; {todo} texts still in English: python tools/ja_edition.py --status" if todo else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
