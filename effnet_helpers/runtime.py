"""The session the notebooks run in: Colab or not, TensorFlow present or not, versions."""
from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
from dataclasses import dataclass


def in_colab() -> bool:
    return "google.colab" in sys.modules or importlib.util.find_spec("google.colab") is not None


def ensure_tensorflow() -> None:
    """Install TensorFlow when the session has none; never replace an install. Colab's CPU and GPU
    runtimes ship it. Its TPU runtimes (TPU VMs) do not since 2025: there the TensorFlow and
    tensorflow-tpu pair of the same version is installed from TensorFlow's libtpu wheel index."""
    if importlib.util.find_spec("tensorflow") is not None:
        return
    if on_tpu_host():
        command = tpu_install_command(TPU_TENSORFLOW_VERSION)
        print(f"TPU runtime without TensorFlow: installing the TPU pair (a few minutes):\n"
              f"  {command}")
        subprocess.run([sys.executable, "-m", *command.split()[0:2], "-q",
                        *command.split()[2:]], check=True)
    else:
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


# The newest tensorflow-tpu release seen on PyPI (it lags tensorflow by a release there); the
# libtpu index may have newer pairs.
TPU_TENSORFLOW_VERSION = "2.20.0"


def tpu_install_command(version: str | None = None) -> str:
    """The pip command that installs TensorFlow with its TPU build as a matching pair (the version
    of the TensorFlow already installed, when there is one)."""
    version = version or versions().get("tensorflow") or TPU_TENSORFLOW_VERSION
    return f"pip install tensorflow=={version} tensorflow-tpu=={version} -f {LIBTPU_INDEX}"


class AcceleratorError(RuntimeError):
    """The session's accelerator cannot be used as it is; the message says what to run."""


@dataclass
class Runtime:
    """What `connect` found: the distribution strategy and the facts that follow from it."""

    strategy: object
    kind: str               # "TPU", "GPU" or "CPU"
    replicas: int
    precision: str          # the Keras mixed-precision policy for this device

    def global_batch(self, per_replica: int) -> int:
        """The batch one training step sees across all replicas."""
        return per_replica * self.replicas

    def describe(self) -> str:
        return (f"{self.kind} with {self.replicas} replica{'s' if self.replicas > 1 else ''}, "
                f"precision {self.precision}")


PRECISION = {"TPU": "mixed_bfloat16", "GPU": "mixed_float16", "CPU": "float32"}


def _connect_tpu(tpu: str):
    import tensorflow as tf
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError, ValueError) as error:
        text = str(error)
        if "OpKernel" in text or "ConfigureDistributedTPU" in text or "TPUs not found" in text:
            raise AcceleratorError(
                "This is a TPU runtime, but this TensorFlow has no TPU support. Install the "
                f"matching TPU build, then restart the session:\n  {tpu_install_command()}"
            ) from None
        raise AcceleratorError(f"Could not connect to the TPU {tpu!r}: {text.splitlines()[0]}. "
                               "If the TensorFlow and libtpu versions differ, reinstall with:\n  "
                               f"{tpu_install_command()}") from None
    return tf.distribute.TPUStrategy(resolver)


def connect(tpu: str | None = None, cpu_replicas: int = 1, mixed_precision: bool = True,
            verbose: bool = True) -> Runtime:
    """Find the accelerator and return a Runtime with its distribution strategy.

    Order: the TPU named by `tpu` (a name, a grpc:// address, or "local"), else a TPU VM's own
    chips (Colab's TPU runtimes), else the GPUs (MirroredStrategy across several), else the CPU.
    `cpu_replicas` > 1 splits the CPU into that many logical devices under MirroredStrategy, to try
    multi-replica code without an accelerator (it must be called before TensorFlow starts).
    Mixed precision: bfloat16 on TPU, float16 on GPU, float32 on CPU.
    """
    import keras
    import tensorflow as tf
    if tpu or on_tpu_host():
        strategy, kind = _connect_tpu(tpu or "local"), "TPU"
    elif tf.config.list_physical_devices("GPU"):
        gpus = tf.config.list_physical_devices("GPU")
        strategy = (tf.distribute.MirroredStrategy() if len(gpus) > 1
                    else tf.distribute.OneDeviceStrategy("/gpu:0"))
        kind = "GPU"
    elif cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:  # possible only before TensorFlow initialises its devices (listing logical ones does)
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
        except RuntimeError:
            pass  # already initialised: fine if it was split before, checked below
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:cpu_replicas]
        if len(devices) < cpu_replicas:
            raise AcceleratorError(f"cpu_replicas={cpu_replicas} must be set before TensorFlow "
                                   "starts: call connect() first in a fresh session.")
        strategy, kind = tf.distribute.MirroredStrategy(devices), "CPU"
    else:
        strategy, kind = tf.distribute.get_strategy(), "CPU"
    precision = PRECISION[kind] if mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(precision)
    found = Runtime(strategy, kind, strategy.num_replicas_in_sync, precision)
    if verbose:
        print(f"Running on {found.describe()}.")
    return found
