"""Progress bars are text, so that a saved notebook shows the finished bar (a widget bar is saved
in its first state, "0%", in every viewer that does not run widgets)."""
import io
from pathlib import Path

from effnet_helpers import progress

PACKAGE = Path(__file__).resolve().parent.parent / "effnet_helpers"


def test_the_bar_is_text_and_ends_at_100_percent():
    out = io.StringIO()
    for _ in progress.tqdm(range(40), desc="Converting", unit="img", file=out, mininterval=0):
        pass
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("Converting: 100%") and "40/40" in last, last
    assert len(last.rstrip("\n")) <= progress.BAR_COLUMNS


def test_no_module_draws_widget_bars():
    users = [p.name for p in PACKAGE.glob("*.py") if "tqdm.auto" in p.read_text(encoding="utf-8")
             and p.name != "progress.py"]
    assert users == []
