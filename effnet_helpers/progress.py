"""Progress bars: text bars everywhere (a terminal, Jupyter, Colab).

`tqdm.auto` draws a widget in a notebook, and a saved notebook keeps only the widget's first state:
GitHub, nbviewer and every viewer that does not run widgets show "0%" for work that finished. A
text bar updates in place with carriage returns, and a notebook saved by `make workbook` (whose
executor folds those, `coalesce_streams`) shows the finished bar: "100%|#####| 1797/1797".
"""
from __future__ import annotations

from tqdm.std import tqdm as _text_tqdm

BAR_COLUMNS = 90  # a notebook has no terminal width to read; this fits a projector's cell


class tqdm(_text_tqdm):  # noqa: N801 (the name every tqdm user knows)
    """tqdm's text bar, BAR_COLUMNS wide unless `ncols` says otherwise."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("ncols", BAR_COLUMNS)
        super().__init__(*args, **kwargs)
