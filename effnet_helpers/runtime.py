"""The session the notebooks run in: Colab or not, TensorFlow present or not, versions."""
from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys


def in_colab() -> bool:
    return "google.colab" in sys.modules or importlib.util.find_spec("google.colab") is not None


def ensure_tensorflow() -> None:
    """Install TensorFlow when the session has none (Colab's CPU and GPU runtimes ship it; its TPU
    runtimes do not, and notebook 03 installs the TPU build there). Never replaces an install."""
    if importlib.util.find_spec("tensorflow") is None:
        print("TensorFlow is missing: installing it (a minute or two) ...")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tensorflow"], check=True)


def versions() -> dict:
    """Versions of the packages the workbook uses (None when not installed)."""
    from importlib import metadata
    found = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "pandas", "matplotlib", "pillow"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def print_versions() -> None:
    print("  ".join(f"{k} {v}" for k, v in versions().items() if v) +
          ("  (Colab)" if in_colab() else ""))
