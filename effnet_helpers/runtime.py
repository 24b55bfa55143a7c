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
    distributions = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-tpu"),
                     "keras": ("keras",), "numpy": ("numpy",), "pandas": ("pandas",),
                     "matplotlib": ("matplotlib",), "pillow": ("pillow",)}
    for name, candidates in distributions.items():
        found[name] = None
        for distribution in candidates:  # TensorFlow comes under several names
            try:
                found[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def print_versions() -> None:
    print("  ".join(f"{k} {v}" for k, v in versions().items() if v) +
          ("  (Colab)" if in_colab() else ""))


# --- accelerators -----------------------------------------------------------------------------

# TensorFlow publishes its TPU builds (tensorflow-tpu, matching libtpu) on this wheel index.
LIBTPU_INDEX = "https://storage.googleapis.com/libtpu-tf-releases/index.html"


def on_tpu_host() -> bool:
    """True on a TPU VM (Colab's TPU runtimes are TPU VMs): TPU chips appear as devices."""
    import glob
    import os
    return bool(glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*")
                or os.environ.get("TPU_ACCELERATOR_TYPE") or os.environ.get("TPU_NAME"))


def tpu_install_command(version: str | None = None) -> str:
    """The pip command that installs TensorFlow with its TPU build as a matching pair."""
    version = version or versions().get("tensorflow") or "2.18.0"
    return (f'pip install "tensorflow=={version}" "tensorflow-tpu=={version}" '
            f"-f {LIBTPU_INDEX}")
