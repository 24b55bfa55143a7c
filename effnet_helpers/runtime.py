"""The session the notebooks run in: Colab or not, TensorFlow present or not, the accelerator.

Three moments, in this order (docs/colab.md explains each decision and where it comes from):

1. Before TensorFlow is imported (`prepare_environment`, run when `effnet_helpers` is imported):
   the log level, and on TPU v5e/v6e/v5p chips the PJRT variables TensorFlow reads at import;
   and the first `import tensorflow` made quiet (`quiet_tensorflow_import`): the lines its
   native libraries print before the log level applies (absl, oneDNN, CUDA probes) are dropped,
   anything else they print is written out after the import.
2. Installing (`ensure_tensorflow`, `install_workbook`, `pip_install`): on a TPU runtime
   `tensorflow==V` first and `tensorflow-tpu==V` in a second command (one command lets plain
   TensorFlow overwrite the TPU build), then a restart; later installs are pinned to the
   TensorFlow that is there, so none of them can replace the TPU build.
3. Connecting (`connect`): the distribution strategy, XLA and the number format for the device.

This module imports only the standard library at its top, so it can run before TensorFlow and
numpy are imported (and before they are installed).
"""
from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import importlib.abc
import importlib.util
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass


def in_colab() -> bool:
    """True in a Colab session (its `google.colab` package is there). False elsewhere, also on a
    machine without any `google` package (where asking for `google.colab` raises)."""
    if "google.colab" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):  # no `google` package, or a broken one
        return False


# Distributions whose version `versions()` reports; TensorFlow comes under several names.
_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-tpu"),
                  "tensorflow-tpu": ("tensorflow-tpu",), "libtpu": ("libtpu",),
                  "keras": ("keras",), "numpy": ("numpy",), "pandas": ("pandas",),
                  "matplotlib": ("matplotlib",), "pillow": ("pillow",)}


def versions() -> dict:
    """Versions of the packages the workbook uses (None when not installed)."""
    found = {"python": platform.python_version()}
    for name, candidates in _DISTRIBUTIONS.items():
        found[name] = next((v for d in candidates if (v := _version(d))), None)
    return found


def print_versions() -> None:
    print("  ".join(f"{k} {v}" for k, v in versions().items() if v) +
          ("  (Colab)" if in_colab() else ""))


def _distribution(name: str, site=None):
    """The installed distribution NAME (in the folders SITE, default sys.path), or None."""
    from importlib import metadata
    found = list(metadata.distributions(name=name, path=list(site) if site else sys.path))
    return found[0] if found else None


def _version(name: str, site=None) -> str | None:
    dist = _distribution(name, site)
    return dist.version if dist is not None else None


# --- 1. before TensorFlow is imported ---------------------------------------------------------

def on_tpu_host() -> bool:
    """True on a TPU VM (Colab's TPU runtimes are TPU VMs): TPU chips appear as devices (v2-v4
    as /dev/accel*, v5e and later through VFIO), or the VM says what it is in its environment."""
    return bool(glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*")
                or os.environ.get("TPU_ACCELERATOR_TYPE") or os.environ.get("TPU_NAME")
                or tpu_pci_device_ids())


# PCI device ids of Google's TPU chips (vendor 0x1ae0), as JAX's hardware_utils lists them.
GOOGLE_PCI_VENDOR = "0x1ae0"
TPU_PCI_DEVICES = {"0x0027": "v3", "0x005e": "v4", "0x0062": "v5p", "0x0063": "v5e",
                   "0x006f": "v6e", "0x0076": "tpu7x"}
# TensorFlow runs these chips through PJRT (Cloud TPU's tpu-vm-tf-X-pjrt software versions);
# v2, v3 and v4 use the older stream-executor runtime, which the PJRT variables break.
PJRT_GENERATIONS = ("v5e", "v5p", "v6e", "tpu7x")


def tpu_pci_device_ids(root: str = "/sys/bus/pci/devices") -> list[str]:
    """The PCI device ids of the TPU chips attached to this machine (empty elsewhere)."""
    ids = []
    for vendor in sorted(glob.glob(os.path.join(root, "*", "vendor"))):
        try:
            with open(vendor) as f:
                if f.read().strip() != GOOGLE_PCI_VENDOR:
                    continue
            with open(os.path.join(os.path.dirname(vendor), "device")) as f:
                device = f.read().strip()
        except OSError:
            continue
        if device in TPU_PCI_DEVICES:
            ids.append(device)
    return ids


def tpu_generation(accelerator_type: str | None = None, pci_device_ids=()) -> str | None:
    """"v2", "v3", "v4", "v5e", "v5p", "v6e", "tpu7x" or None, from TPU_ACCELERATOR_TYPE
    ("v2-8", "v4-8", "v5litepod-1", "v5e-1", "v5p-8", "v6e-1", ...) or else from the chips'
    PCI device ids. (PCI cannot tell v2 from v3: both are reported as "v3", a pre-PJRT chip.)"""
    text = (accelerator_type or "").strip().lower()
    match = re.match(r"^(?:tpu)?v?(\d+)(litepod|lite|e|p|x)?(?:-|$)", text)
    if match:
        number, suffix = int(match.group(1)), match.group(2) or ""
        if number <= 4:
            return f"v{number}"
        if number >= 6:
            return f"tpu{number}x" if number >= 7 else f"v{number}e"
        if suffix:  # "v5" alone could be either v5 chip: ask PCI
            return "v5p" if suffix == "p" else "v5e"
    for device in pci_device_ids:
        if device in TPU_PCI_DEVICES:
            return TPU_PCI_DEVICES[device]
    return None


def uses_pjrt(generation: str | None) -> bool:
    """Whether TensorFlow must run this TPU generation through PJRT."""
    return generation in PJRT_GENERATIONS


def pjrt_environment(generation: str | None, library_path: str | None) -> dict:
    """The variables TensorFlow reads when it is imported, to run TPU chips through PJRT:
    {} for chips that do not use it (v2-v4, or unknown) or when libtpu is not installed."""
    if not uses_pjrt(generation) or not library_path:
        return {}
    return {"PJRT_DEVICE": "TPU", "NEXT_PLUGGABLE_DEVICE_USE_C_API": "true",
            "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": library_path}


def libtpu_library_path() -> str | None:
    """libtpu.so of the installed libtpu package (what `libtpu.get_library_path()` returns),
    found without importing it; None when libtpu is not installed."""
    spec = importlib.util.find_spec("libtpu")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "libtpu.so")
        if os.path.exists(path):
            return path
    return None


def log_level(tpu_host: bool) -> str:
    """TF_CPP_MIN_LOG_LEVEL: "3" hides TensorFlow's C++ log lines (one per corrupt JPEG, CUDA
    probes on CPU machines), whose errors also arrive as Python exceptions; on a TPU runtime
    "2", so that errors logged while the TPU runtime starts stay visible."""
    return "2" if tpu_host else "3"


def prepare_environment(environ=None) -> dict:
    """Set what TensorFlow reads when it is imported (variables already set are kept): the log
    level, and on v5e/v6e/v5p chips the PJRT variables. Returns what was set. Run when
    `effnet_helpers` is imported; it has no effect once TensorFlow is imported. For this process
    (no ENVIRON given) it also makes the first `import tensorflow` quiet
    (`quiet_tensorflow_import`), unless TF_CPP_MIN_LOG_LEVEL is "0": every log line was asked for."""
    if environ is None and os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() != "0":
        quiet_tensorflow_import()
    environ = os.environ if environ is None else environ
    tpu = on_tpu_host()
    wanted = {"TF_CPP_MIN_LOG_LEVEL": log_level(tpu)}
    if tpu:
        generation = tpu_generation(environ.get("TPU_ACCELERATOR_TYPE"), tpu_pci_device_ids())
        wanted.update(pjrt_environment(generation, libtpu_library_path()))
    done = {}
    for key, value in wanted.items():
        if key not in environ:
            environ[key] = done[key] = value
    return done


# Lines that TensorFlow's native libraries write straight to the process's stderr (file
# descriptor 2) on machines where nothing is wrong, most of them while `import tensorflow` runs and
# before its log level applies (absl's logging starts at INFO until TensorFlow initialises it):
# absl's notice that it does so, oneDNN's note on round-off, the CUDA probes of a CPU machine and
# of the pip build's duplicate CUDA plugins, CPU-instruction and TensorRT notes, TFLite's XNNPACK
# delegate, and tf.data's buffer-size note. Errors and anything not listed here stay visible.
NATIVE_NOISE = re.compile("|".join((
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"failed call to cuInit",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"rebuild TensorFlow with the appropriate compiler flags",
    r"TF-TRT Warning: Could not find TensorRT",
    r"Created TensorFlow Lite XNNPACK delegate for CPU",
    r"tf_record_dataset_op\.cc:\d+\] The default buffer size is",
)))
# What libjpeg writes to descriptor 2 by itself (whatever the log level) when TensorFlow decodes
# a broken file, before the error reaches Python. Noise only where the workbook reports each such
# file with its reason anyway (layout.check_images, the converter's skipped.csv, predict's table):
# `quiet_native_logs(IMAGE_DECODER_NOISE)` there.
IMAGE_DECODER_NOISE = re.compile(NATIVE_NOISE.pattern + "|" + "|".join((
    r"^Unsupported marker type 0x", r"^Corrupt JPEG data", r"^Premature end of JPEG file",
    r"^Not a JPEG file: starts with", r"^Invalid JPEG file structure", r"^Bogus marker length",
    r"^Bogus Huffman table definition", r"^Unsupported JPEG process")))


def _flush(stream) -> None:
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


def _writes_to_descriptor_2(stream) -> bool:
    """Whether STREAM (a plain process's sys.stderr; not a notebook kernel's) writes to fd 2."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def quiet_native_logs(noise: re.Pattern = NATIVE_NOISE):
    """Inside the block, file descriptor 2 (where C++ code logs) goes to a temporary file; at the
    end every captured line that NOISE does not match is written to `sys.stderr`, so errors are
    never hidden, only the known harmless lines are. Python's own `sys.stderr` (warnings,
    progress bars) keeps writing to the terminal as it goes. Does nothing where descriptor 2
    cannot be redirected."""
    _flush(sys.stderr)
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    capture = tempfile.TemporaryFile()
    previous, live = sys.stderr, None
    try:
        os.dup2(capture.fileno(), 2)
        if _writes_to_descriptor_2(previous):
            live = open(saved, "w", buffering=1, encoding=getattr(previous, "encoding", None),
                        errors="backslashreplace", closefd=False)
            sys.stderr = live
        try:
            yield
        finally:
            if live is not None:
                _flush(live)
                if sys.stderr is live:
                    sys.stderr = previous
            os.dup2(saved, 2)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if line.strip() and not noise.search(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                _flush(sys.stderr)
    finally:
        os.close(saved)
        capture.close()


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's `exec_module` inside `quiet_native_logs`, then puts it back in place
    on the module (so nothing later sees this wrapper) and uninstalls its finder."""

    def __init__(self, loader, finder):
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        try:
            with quiet_native_logs():
                self.loader.exec_module(module)
        finally:
            self.finder.uninstall()
            module.__loader__ = self.loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self.loader


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """A `sys.meta_path` entry for one top-level module: finds it as the finders after it would,
    and hands back its spec with the loader wrapped in `_QuietLoader`."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        for finder in [f for f in sys.meta_path if f is not self]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None  # not installed: the import fails as usual; stay for a later install
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _QuietLoader(spec.loader, self)
        return spec

    def uninstall(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def quiet_tensorflow_import(name: str = "tensorflow") -> bool:
    """Make the first import of NAME in this process (by the package, by Keras or by a notebook's
    `import tensorflow as tf`) run inside `quiet_native_logs`. Returns whether it was set up:
    not when NAME is imported already, or set up already."""
    if name in sys.modules or any(isinstance(f, _QuietImportFinder) and f.name == name
                                  for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _QuietImportFinder(name))
    return True


# --- 2. installing ----------------------------------------------------------------------------

# TensorFlow publishes its TPU builds (tensorflow-tpu, matching libtpu) on this wheel index.
LIBTPU_INDEX = "https://storage.googleapis.com/libtpu-tf-releases/index.html"
# The newest tensorflow-tpu release seen on PyPI (it lags tensorflow by a release there); the
# libtpu index may have newer pairs.
TPU_TENSORFLOW_VERSION = "2.20.0"
# What later installs must leave as it is: the TensorFlow build, its TPU library, and numpy,
# whose binary interface TensorFlow was built against.
PINNED = ("tensorflow", "tensorflow-cpu", "tensorflow-tpu", "libtpu", "numpy")


class InstallError(RuntimeError):
    """A pip command failed; the message holds the command and pip's last lines."""


class RestartRequired(SystemExit):
    """Raised after installing into a running session: its Python keeps the old modules, so the
    session must restart before it can import what was installed. A SystemExit: a notebook
    shows the message without a traceback and stops running cells."""


def pip_command(python: str | None = None) -> list[str]:
    """The pip of this interpreter (or of PYTHON)."""
    return [python or sys.executable, "-m", "pip"]


def tpu_install_commands(version: str, pip=None, find_links: str = LIBTPU_INDEX,
                         options=()) -> list[list[str]]:
    """The two pip commands that install TensorFlow with its TPU build: `tensorflow==V` first,
    then `tensorflow-tpu==V`, which overwrites the shared `tensorflow/` files with the TPU build.
    In one command pip installs tensorflow-tpu first and plain tensorflow over it."""
    pip = list(pip or pip_command())
    where = ["-f", find_links, *options]
    return [[*pip, "install", "-q", f"tensorflow=={version}", *where],
            [*pip, "install", "-q", f"tensorflow-tpu=={version}", *where]]


def tpu_repair_command(version: str, pip=None, find_links: str = LIBTPU_INDEX,
                       options=()) -> list[str]:
    """Puts the TPU build's files back over plain TensorFlow's (both already installed, so a
    plain install answers "already satisfied")."""
    pip = list(pip or pip_command())
    return [*pip, "install", "-q", "--force-reinstall", "--no-deps",
            f"tensorflow-tpu=={version}", "-f", find_links, *options]


def tpu_recipe(version: str | None = None) -> str:
    """The install, as shell lines for a message."""
    version = version or _version("tensorflow") or TPU_TENSORFLOW_VERSION
    return (f"  pip install tensorflow=={version} -f {LIBTPU_INDEX}\n"
            f"  pip install tensorflow-tpu=={version} -f {LIBTPU_INDEX}\n"
            "and when tensorflow-tpu was installed already (pip says \"already satisfied\"):\n"
            f"  {' '.join(tpu_repair_command(version, ['pip']))}")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def tpu_build_intact(site=None) -> bool:
    """True when tensorflow-tpu is installed and its files are the ones on disk: of the files
    that the tensorflow and tensorflow-tpu wheels both ship with different content, the smallest
    is checked against tensorflow-tpu's record (the wheel installed last wrote all of them).
    Reads package metadata only; nothing is imported. SITE: the folders to look in."""
    tpu = _distribution("tensorflow-tpu", site)
    if tpu is None:
        return False
    plain = _distribution("tensorflow", site)
    if plain is None:
        return True
    ours = {str(f): f for f in (tpu.files or []) if f.hash}
    differing = [f for f in (plain.files or []) if f.hash and str(f) in ours
                 and ours[str(f)].hash.value != f.hash.value]
    if not differing:
        return True
    present = [f for f in differing if os.path.exists(tpu.locate_file(f))]
    if not present:
        return False
    smallest = min(present, key=lambda f: os.path.getsize(tpu.locate_file(f)))
    return _sha256(str(tpu.locate_file(smallest))) == ours[str(smallest)].hash.value


def pinned_requirements(site=None) -> list[str]:
    """"name==version" for each PINNED distribution installed (in SITE, default sys.path)."""
    return [f"{name}=={version}" for name in PINNED if (version := _version(name, site))]


def _run(command: list[str]) -> None:
    print("  " + " ".join(command[2:] if command[1:2] == ["-m"] else command))
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        tail = "\n".join(result.stdout.strip().splitlines()[-8:])
        raise InstallError(f"This pip command failed (exit {result.returncode}):\n  "
                           f"{' '.join(command)}\n{tail}")


def pip_install(arguments, pip=None, options=(), site=None) -> None:
    """`pip install ARGUMENTS` with every PINNED distribution that is installed held at its
    version (a pip constraints file): whatever ARGUMENTS need, pip may not replace TensorFlow
    (its TPU build included) or numpy; it picks versions that fit them, or fails saying why."""
    pins = pinned_requirements(site)
    handle, constraints = tempfile.mkstemp(suffix=".txt", prefix="effnet-pins-")
    try:
        with os.fdopen(handle, "w") as f:
            f.write("\n".join(pins) + "\n")
        _run([*(pip or pip_command()), "install", "-q", *arguments, "-c", constraints, *options])
    finally:
        os.remove(constraints)


def install_workbook(path: str = "effnet-workbook", **kwargs) -> None:
    """Install the workbook's checkout at PATH (editable) without touching TensorFlow."""
    print(f"Installing the workbook from {path} ...")
    pip_install(["-e", path], **kwargs)


def install_tpu_tensorflow(version: str = TPU_TENSORFLOW_VERSION, pip=None,
                           find_links: str = LIBTPU_INDEX, options=(), site=None) -> None:
    """Install TensorFlow VERSION with its TPU build so that the TPU build is what imports
    (`tpu_install_commands`), repairing an install where plain TensorFlow overwrote it."""
    for command in tpu_install_commands(version, pip, find_links, options):
        _run(command)
    if not tpu_build_intact(site):
        _run(tpu_repair_command(version, pip, find_links, options))
    if not tpu_build_intact(site):
        raise InstallError("tensorflow-tpu is installed, but plain TensorFlow's files are what "
                           f"imports. Install it this way, then restart:\n{tpu_recipe(version)}")


def ensure_tensorflow(pip=None, find_links: str = LIBTPU_INDEX, options=(), site=None) -> None:
    """Make sure the session can import the right TensorFlow; never replace a working install.

    Colab's CPU and GPU runtimes ship TensorFlow: nothing happens. Its TPU runtimes (TPU VMs) do
    not since 2025: there TensorFlow and tensorflow-tpu of the same version are installed (the
    version already installed, if any), or the TPU build is put back when plain TensorFlow
    overwrote it. After any install it raises RestartRequired: restart the session, then run the
    notebook again from the top (the second time, nothing is installed)."""
    if on_tpu_host():
        if tpu_build_intact(site):
            return
        version = _version("tensorflow", site) or TPU_TENSORFLOW_VERSION
        print(f"TPU runtime without TensorFlow's TPU build: installing TensorFlow {version} and "
              "tensorflow-tpu (a few minutes):")
        install_tpu_tensorflow(version, pip, find_links, options, site)
    elif importlib.util.find_spec("tensorflow") is not None:
        return
    else:
        print("TensorFlow is missing: installing it (a minute or two):")
        pip_install(["tensorflow"], pip, options, site)
    raise RestartRequired(
        "TensorFlow is installed. Restart the session now (Colab: Runtime > Restart session), "
        "then run this notebook again from the top; nothing is installed the second time.")


# --- 3. connecting ----------------------------------------------------------------------------

class AcceleratorError(RuntimeError):
    """The session's accelerator cannot be used as it is; the message says what to run."""


@dataclass
class Runtime:
    """What `connect` found: the distribution strategy and the facts that follow from it."""

    strategy: object
    kind: str               # "TPU", "GPU" or "CPU"
    replicas: int
    precision: str          # the Keras mixed-precision policy for this device
    jit_compile: bool | str = "auto"   # what Keras' compile gets: XLA on or off ("auto": Keras)

    def global_batch(self, per_replica: int) -> int:
        """The batch one training step sees across all replicas."""
        return per_replica * self.replicas

    def describe(self) -> str:
        xla = {True: ", XLA on", False: ", XLA off"}.get(self.jit_compile, "")
        return (f"{self.kind} with {self.replicas} replica{'s' if self.replicas > 1 else ''}, "
                f"precision {self.precision}{xla}")


PRECISION = {"TPU": "mixed_bfloat16", "GPU": "mixed_float16", "CPU": "float32"}
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Plan:
    """How to run on what the machine has: the device kind, the strategy and XLA."""

    kind: str           # "TPU", "GPU" or "CPU"
    strategy: str       # "tpu", "mirrored" (several replicas) or "default" (one device)
    jit_compile: bool | str


def plan_devices(gpus: int = 0, tpu: bool = False, cpu_replicas: int = 1,
                 jit: bool | None = None) -> Plan:
    """The strategy and XLA for a machine (a pure decision, unit-tested).

    Keras' automatic `jit_compile` is off under any tf.distribute strategy (OneDeviceStrategy
    too) and on CPU-only machines, so: one GPU runs under the default strategy with XLA on; several
    GPUs under MirroredStrategy (XLA off, as Keras decides, unless `jit=True`); TPUs compile with
    XLA whatever the flag ("auto"); the CPU runs without XLA (much slower there) unless asked.
    `cpu_replicas` > 1: the CPU split into that many logical devices under MirroredStrategy, a
    stand-in for a multi-core TPU."""
    if tpu:
        return Plan("TPU", "tpu", "auto")
    if cpu_replicas > 1:
        return Plan("CPU", "mirrored", bool(jit))
    if gpus == 1:
        return Plan("GPU", "default", jit is not False)
    if gpus > 1:
        return Plan("GPU", "mirrored", bool(jit))
    return Plan("CPU", "default", bool(jit))


def choose_precision(kind: str, precision: str = "auto", mixed_precision: bool = True) -> str:
    """The Keras dtype policy: "auto" is bfloat16 on TPUs, float16 on GPUs, float32 on CPUs
    (float32 everywhere when mixed_precision is False)."""
    if precision not in PRECISIONS:
        raise AcceleratorError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}.")
    if precision != "auto":
        return precision
    return PRECISION[kind] if mixed_precision else "float32"


def tpu_facts() -> dict:
    """What a TPU problem report needs: versions, the chip, and whether PJRT is set up."""
    found = versions()
    generation = tpu_generation(os.environ.get("TPU_ACCELERATOR_TYPE"), tpu_pci_device_ids())
    return {"tensorflow": found["tensorflow"], "tensorflow-tpu": found["tensorflow-tpu"],
            "libtpu": found["libtpu"], "chip": generation, "pjrt_needed": uses_pjrt(generation),
            "pjrt_set": os.environ.get("PJRT_DEVICE") == "TPU",
            "tpu_build": tpu_build_intact()}


def tpu_error_message(error: str, facts: dict, tpu: str = "local") -> str:
    """One message for a failed TPU connection: what happened, the versions, what to try."""
    first = (error.strip().splitlines() or ["(no message)"])[0][:300]
    version = facts.get("tensorflow") or TPU_TENSORFLOW_VERSION
    status = (f"tensorflow {facts.get('tensorflow')}, tensorflow-tpu {facts.get('tensorflow-tpu')}"
              f", libtpu {facts.get('libtpu')}, chip {facts.get('chip') or 'unknown'}"
              f", PJRT {'set' if facts.get('pjrt_set') else 'not set'}")
    restart = ("restart the session (Colab: Runtime > Restart session) and run the notebook "
               "from the top")
    if not facts.get("tpu_build"):
        advice = (f"This TensorFlow has no TPU support (its TPU build is missing or plain "
                  f"TensorFlow overwrote it). Install it this way, then {restart}:\n"
                  f"{tpu_recipe(version)}")
    elif facts.get("pjrt_needed") and not facts.get("pjrt_set"):
        advice = (f"{facts.get('chip')} chips need TensorFlow's PJRT runtime, set up when "
                  "effnet_helpers is imported before TensorFlow. "
                  f"Import effnet_helpers first: {restart}.")
    elif facts.get("tensorflow-tpu") and facts.get("tensorflow") != facts.get("tensorflow-tpu"):
        advice = f"TensorFlow and tensorflow-tpu differ in version. Reinstall the pair:\n" \
                 f"{tpu_recipe(facts.get('tensorflow-tpu'))}"
        advice += f"\nthen {restart}."
    elif "in use" in error.lower() or "busy" in error.lower():
        advice = (f"Another process holds the TPU (another notebook, or an earlier run in this "
                  f"session): {restart}.")
    else:
        advice = (f"First {restart}. If it fails again, the TensorFlow and libtpu versions may "
                  f"not fit each other; reinstall the pair:\n{tpu_recipe(version)}")
    return f"Could not connect to the TPU {tpu!r}: {first}\n({status})\n{advice}"


def _connect_tpu(tpu: str):
    import tensorflow as tf
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except Exception as error:  # any failure: one message with the versions and what to try
        raise AcceleratorError(tpu_error_message(str(error), tpu_facts(), tpu)) from None


def _cpu_strategy(replicas: int):
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:  # possible only before TensorFlow initialises its devices (listing logical ones does)
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        pass  # already initialised: fine if it was split before, checked below
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:replicas]
    if len(devices) < replicas:
        raise AcceleratorError(f"cpu_replicas={replicas} must be set before TensorFlow starts: "
                               "call connect() first in a fresh session.")
    return tf.distribute.MirroredStrategy(devices)


def connect(tpu: str | None = None, cpu_replicas: int = 1, mixed_precision: bool = True,
            verbose: bool = True, precision: str = "auto", jit: bool | None = None) -> Runtime:
    """Find the accelerator and return a Runtime with its distribution strategy.

    Order: the TPU named by `tpu` (a name, a grpc:// address, or "local"), else `cpu_replicas`
    > 1 (the CPU split into that many logical devices under MirroredStrategy, to try
    multi-replica code without an accelerator; call it before TensorFlow starts), else a TPU
    VM's own chips (Colab's TPU runtimes), else the GPUs, else the CPU. `plan_devices` decides
    the strategy and XLA (`jit`: None for the default, True or False to force it);
    `choose_precision` the number format (`precision`: "auto", "float32", "mixed_float16" or
    "mixed_bfloat16"), which becomes Keras' global policy.
    """
    import keras
    import tensorflow as tf
    on_tpu = bool(tpu) or (cpu_replicas <= 1 and on_tpu_host())
    gpus = [] if on_tpu or cpu_replicas > 1 else tf.config.list_physical_devices("GPU")
    plan = plan_devices(len(gpus), on_tpu, cpu_replicas, jit)
    chosen = choose_precision(plan.kind, precision, mixed_precision)
    if plan.strategy == "tpu":
        strategy = _connect_tpu(tpu or "local")
    elif plan.kind == "CPU" and plan.strategy == "mirrored":
        strategy = _cpu_strategy(cpu_replicas)
    elif plan.strategy == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    keras.mixed_precision.set_global_policy(chosen)
    found = Runtime(strategy, plan.kind, strategy.num_replicas_in_sync, chosen, plan.jit_compile)
    if verbose:
        print(f"Running on {found.describe()}.")
    return found


# --- Google Drive (Colab) ---------------------------------------------------------------------

def mount_drive(mount_point: str = "/content/drive") -> str | None:
    """Mount Google Drive in Colab (it asks for permission once) and return MyDrive's path, or
    None when it cannot be mounted (not in Colab, or permission refused)."""
    my_drive = os.path.join(mount_point, "MyDrive")
    if os.path.isdir(my_drive):
        return my_drive
    try:
        from google.colab import drive
        drive.mount(mount_point)
    except Exception as error:  # ImportError outside Colab; a refusal inside it
        print(f"Google Drive could not be mounted ({str(error).splitlines()[0][:200]}).")
        return None
    return my_drive if os.path.isdir(my_drive) else None
