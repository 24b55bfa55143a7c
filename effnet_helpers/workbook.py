"""Run the whole workbook: execute the numbered notebooks in order and keep what they made.

    python -m effnet_helpers.workbook [--output outputs] [--profile full|ci]
    python -m effnet_helpers.workbook --update-reference     # maintainers: refresh checked outputs

Executed notebooks go to OUTPUT/notebooks/, everything the notebooks write to OUTPUT/ (through
EFFNET_WORK_DIR). `--update-reference` runs the notebooks in the CI profile and stores in
notebooks/*.ipynb the outputs of the cells marked `# NBVAL_CHECK_OUTPUT` (and no other output):
those are what `pytest --nbval-lax` compares against.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import settings

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
CELL_TIMEOUT_S = 1800


def notebook_paths(root: Path | None = None) -> list[Path]:
    """The numbered notebooks (NN_name.ipynb), in order."""
    root = root or settings.repo_root()
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(CHECK_MARK)


def execute(path: Path, work_dir: Path, profile: str):
    """Execute one notebook in its own folder with the given work dir and profile; return it."""
    import nbclient
    import nbformat
    from jupyter_client.manager import KernelManager
    notebook = nbformat.read(path, as_version=4)
    os.environ[settings.WORK_DIR_ENV] = str(work_dir)
    os.environ[settings.PROFILE_ENV] = profile
    # The kernel talks to us over local sockets (ipc), not TCP: a kernel on TCP without keys
    # warns on every start, in the terminal of `make workbook`.
    with tempfile.TemporaryDirectory() as sockets:
        kernel = KernelManager(kernel_name="python3", transport="ipc",
                               ip=os.path.join(sockets, "kernel"))
        client = nbclient.NotebookClient(notebook, km=kernel, timeout=CELL_TIMEOUT_S,
                                         coalesce_streams=True,  # a text bar's last state
                                         resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        finally:
            if kernel.has_kernel:
                kernel.shutdown_kernel(now=False)
    return notebook


def run_workbook(output: Path, profile: str, only: list[str] | None = None) -> None:
    import nbformat
    output = output.resolve()
    (output / "notebooks").mkdir(parents=True, exist_ok=True)
    for path in notebook_paths():
        if only and not any(key in path.name for key in only):
            continue
        started = time.time()
        print(f"Running {path.name} (profile {profile}) ...", flush=True)
        notebook = execute(path, output, profile)
        nbformat.write(notebook, output / "notebooks" / path.name)
        print(f"  done in {time.time() - started:.0f} s -> {output / 'notebooks' / path.name}")
    print(f"\nThe executed notebooks and everything they wrote are in {output}/")


def update_reference(only: list[str] | None = None) -> None:
    """Store the outputs of checked cells (CI profile) in the notebooks; strip all others."""
    import nbformat
    with tempfile.TemporaryDirectory() as work:
        for path in notebook_paths():
            if only and not any(key in path.name for key in only):
                continue
            executed = execute(path, Path(work), "ci")
            stored = nbformat.read(path, as_version=4)
            for cell, ran in zip(stored.cells, executed.cells):
                if cell.cell_type != "code":
                    continue
                # nbval compares only cells that were run (have an execution count)
                cell.execution_count = 1 if is_checked(cell) else None
                cell.outputs = ran.outputs if is_checked(cell) else []
                for output in cell.outputs:
                    if output.get("output_type") == "execute_result":
                        output["execution_count"] = 1
            nbformat.write(stored, path)
            print(f"Updated checked outputs of {path.name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("outputs"),
                        help="folder for executed notebooks and artifacts (default outputs/)")
    parser.add_argument("--profile", default=os.environ.get(settings.PROFILE_ENV, "full"),
                        choices=sorted(settings.PROFILES), help="run profile (default full)")
    parser.add_argument("--only", nargs="*", help="run only notebooks whose name contains these")
    parser.add_argument("--update-reference", action="store_true",
                        help="refresh the checked outputs stored in notebooks/*.ipynb")
    args = parser.parse_args(argv)
    if args.update_reference:
        update_reference(args.only)
    else:
        run_workbook(args.output, args.profile, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
