"""The session: the TPU install order (run for real with pip against dummy tensorflow /
tensorflow-tpu wheels that ship the same module with different content), later installs that
cannot replace the TPU build, PJRT set before TensorFlow is imported on v5e/v6e only, the
strategy and XLA for each machine, the number format, TPU error messages, and Google Drive as
Colab's work directory."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from effnet_helpers import runtime, settings

ROOT = Path(__file__).resolve().parent.parent


# --- dummy wheels -----------------------------------------------------------------------------

def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(folder: Path, name: str, version: str, files: dict, requires=()) -> Path:
    """A minimal pure-Python wheel (PEP 427) holding FILES {path: text}, with its RECORD."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{info}/METADATA"] = ("Metadata-Version: 2.1\n"
                                    f"Name: {name}\nVersion: {version}\n"
                                    + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode()
    contents[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                 b"Tag: py3-none-any\n")
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in contents.items():
        writer.writerow([path, _record_hash(data), len(data)])
    writer.writerow([f"{info}/RECORD", "", ""])
    contents[f"{info}/RECORD"] = record.getvalue().encode()
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name_, data in contents.items():
            wheel.writestr(name_, data)
    return path


def _tensorflow(build: str) -> dict:
    """The files both TensorFlow wheels ship: the same paths, different content."""
    return {"tensorflow/__init__.py": f"BUILD = {build!r}\n",
            "tensorflow/python/_pywrap.py": f"# the {build} kernels\n"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """A local index: tensorflow and tensorflow-tpu 2.20.0 (the pair), a newer plain tensorflow
    2.21.0, and tensorflow-hub whose newest tf-keras wants that newer tensorflow."""
    folder = tmp_path_factory.mktemp("wheels")
    build_wheel(folder, "tensorflow", "2.20.0", _tensorflow("plain 2.20.0"))
    build_wheel(folder, "tensorflow", "2.21.0", _tensorflow("plain 2.21.0"))
    build_wheel(folder, "tensorflow-tpu", "2.20.0", _tensorflow("tpu 2.20.0"),
                requires=["libtpu==2.20.0"])
    build_wheel(folder, "libtpu", "2.20.0", {"libtpu/__init__.py": "", "libtpu/libtpu.so": ""})
    build_wheel(folder, "tf-keras", "2.20.0", {"tf_keras/__init__.py": ""},
                requires=["tensorflow<2.21,>=2.20"])
    build_wheel(folder, "tf-keras", "2.21.0", {"tf_keras/__init__.py": ""},
                requires=["tensorflow<2.22,>=2.21"])
    build_wheel(folder, "tensorflow-hub", "0.16.1", {"tensorflow_hub/__init__.py": ""},
                requires=["tf-keras>=2.14.1"])
    return folder


class Venv:
    """An empty virtual environment, driven by this interpreter's pip (`pip --python`)."""

    def __init__(self, folder: Path):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
        self.python = str(folder / "bin" / "python")
        self.pip = [sys.executable, "-m", "pip", "--python", self.python,
                    "--disable-pip-version-check"]
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        self.site = [str(folder / "lib" / version / "site-packages")]

    def build(self) -> str:
        """Which TensorFlow build `import tensorflow` gives in this environment."""
        return subprocess.run([self.python, "-c", "import tensorflow; print(tensorflow.BUILD)"],
                              capture_output=True, text=True, check=True).stdout.strip()

    def version(self, name: str) -> str | None:
        return runtime._version(name, self.site)


@pytest.fixture
def on_tpu(monkeypatch):
    monkeypatch.setattr(runtime, "on_tpu_host", lambda: True)


def test_the_tpu_install_leaves_the_tpu_build_importable(wheels, tmp_path, on_tpu):
    """The real install code against the local index: TensorFlow first, tensorflow-tpu second;
    the TPU build is what imports, the session is told to restart, and a rerun installs nothing."""
    env = Venv(tmp_path / "venv")
    options = {"pip": env.pip, "find_links": str(wheels), "options": ["--no-index"],
               "site": env.site}
    with pytest.raises(runtime.RestartRequired, match="Restart the session"):
        runtime.ensure_tensorflow(**options)
    assert env.build() == "tpu 2.20.0"
    assert env.version("tensorflow") == env.version("tensorflow-tpu") == "2.20.0"
    assert env.version("libtpu") == "2.20.0"
    assert runtime.tpu_build_intact(env.site)
    runtime.ensure_tensorflow(**options)  # nothing to do: no RestartRequired


def test_one_command_order_is_repaired(wheels, tmp_path, on_tpu):
    """Plain TensorFlow written over the TPU build (what one `pip install tensorflow==V
    tensorflow-tpu==V` does) is detected from the package records and repaired."""
    env = Venv(tmp_path / "venv")
    where = ["--no-index", "-f", str(wheels), "-q"]
    subprocess.run([*env.pip, "install", *where, "tensorflow-tpu==2.20.0"], check=True)
    subprocess.run([*env.pip, "install", *where, "--force-reinstall", "--no-deps",
                    "tensorflow==2.20.0"], check=True)
    assert env.build() == "plain 2.20.0"
    assert not runtime.tpu_build_intact(env.site)
    with pytest.raises(runtime.RestartRequired):
        runtime.ensure_tensorflow(env.pip, str(wheels), ["--no-index"], env.site)
    assert env.build() == "tpu 2.20.0"


def test_later_installs_cannot_replace_the_tpu_build(wheels, tmp_path):
    """tensorflow-hub after the TPU install: pinned, pip picks the tf-keras that fits the installed
    TensorFlow; unpinned (the control), the newest tf-keras pulls plain TensorFlow over it."""
    env = Venv(tmp_path / "venv")
    runtime.install_tpu_tensorflow("2.20.0", env.pip, str(wheels), ["--no-index"], env.site)
    assert env.build() == "tpu 2.20.0"
    runtime.pip_install(["tensorflow-hub"], env.pip, ["--no-index", "-f", str(wheels)], env.site)
    assert env.version("tensorflow-hub") == "0.16.1" and env.version("tf-keras") == "2.20.0"
    assert env.build() == "tpu 2.20.0"
    with pytest.raises(runtime.InstallError, match="tf-keras"):  # cannot fit: refused, unchanged
        runtime.pip_install(["tf-keras==2.21.0"], env.pip, ["--no-index", "-f", str(wheels)],
                            env.site)
    assert env.build() == "tpu 2.20.0"
    subprocess.run([*env.pip, "install", "-q", "--no-index", "-f", str(wheels), "--upgrade",
                    "tf-keras"], check=True)
    assert env.build() == "plain 2.21.0"  # what an unguarded install does


def test_the_workbook_installs_with_the_installed_tensorflow_pinned(monkeypatch, tmp_path):
    run = []
    monkeypatch.setattr(runtime, "_run", lambda command: run.append(
        (command, Path(command[command.index("-c") + 1]).read_text().split())))
    runtime.install_workbook("effnet-workbook")
    (command, pins), = run
    assert command[:3] == [sys.executable, "-m", "pip"] and "-e" in command
    assert command[command.index("-e") + 1] == "effnet-workbook"
    assert f"tensorflow=={runtime._version('tensorflow')}" in pins
    assert f"numpy=={runtime._version('numpy')}" in pins
    assert not any(p.startswith("tensorflow-tpu") for p in pins)  # not installed here


# --- before TensorFlow is imported: PJRT on v5e/v6e, the log level ----------------------------

@pytest.mark.parametrize("accelerator, pci, generation, pjrt", [
    ("v2-8", [], "v2", False), ("v3-8", [], "v3", False), ("v4-8", [], "v4", False),
    ("v5litepod-1", [], "v5e", True), ("v5e-1", [], "v5e", True), ("v5p-8", [], "v5p", True),
    ("v6e-1", [], "v6e", True), (None, ["0x0063"], "v5e", True), (None, ["0x006f"], "v6e", True),
    (None, ["0x005e"], "v4", False), (None, ["0x0027"], "v3", False), ("", [], None, False),
    ("v5-8", ["0x0062"], "v5p", True)])
def test_pjrt_is_for_v5e_and_later_chips(accelerator, pci, generation, pjrt):
    assert runtime.tpu_generation(accelerator, pci) == generation
    env = runtime.pjrt_environment(generation, "/x/libtpu/libtpu.so")
    if pjrt:
        assert env == {"PJRT_DEVICE": "TPU", "NEXT_PLUGGABLE_DEVICE_USE_C_API": "true",
                       "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": "/x/libtpu/libtpu.so"}
    else:
        assert env == {}
    assert runtime.pjrt_environment(generation, None) == {}  # libtpu not installed yet


def test_tpu_chips_are_read_from_pci(tmp_path):
    for slot, vendor, device in (("0000:00:04.0", "0x1ae0", "0x0063"),
                                 ("0000:00:05.0", "0x10de", "0x0063"),  # not Google's
                                 ("0000:00:06.0", "0x1ae0", "0x0001")):  # not a TPU
        (tmp_path / slot).mkdir()
        (tmp_path / slot / "vendor").write_text(vendor + "\n")
        (tmp_path / slot / "device").write_text(device + "\n")
    assert runtime.tpu_pci_device_ids(str(tmp_path)) == ["0x0063"]


def _import_environment(tmp_path, **variables) -> dict:
    """The environment after `import effnet_helpers` in a fresh interpreter (with a fake libtpu
    package on its path), and whether TensorFlow had been imported by then."""
    fake = tmp_path / "site"
    (fake / "libtpu").mkdir(parents=True, exist_ok=True)
    (fake / "libtpu" / "__init__.py").write_text("")
    (fake / "libtpu" / "libtpu.so").write_text("")
    code = ("import json, os, sys; import effnet_helpers\n"
            "keys = ['PJRT_DEVICE', 'NEXT_PLUGGABLE_DEVICE_USE_C_API',"
            " 'TF_PLUGGABLE_DEVICE_LIBRARY_PATH', 'TF_CPP_MIN_LOG_LEVEL']\n"
            "print(json.dumps({**{k: os.environ.get(k) for k in keys},"
            " 'tensorflow_imported': 'tensorflow' in sys.modules}))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TPU_ACCELERATOR_TYPE", "TPU_NAME", "PJRT_DEVICE", "TF_CPP_MIN_LOG_LEVEL")}
    env.update(variables, PYTHONPATH=f"{fake}{os.pathsep}{ROOT}")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    import json
    return json.loads(out)


def test_pjrt_is_set_when_the_package_is_imported_before_tensorflow(tmp_path):
    v5e = _import_environment(tmp_path, TPU_ACCELERATOR_TYPE="v5litepod-1")
    assert v5e["PJRT_DEVICE"] == "TPU" and v5e["NEXT_PLUGGABLE_DEVICE_USE_C_API"] == "true"
    assert v5e["TF_PLUGGABLE_DEVICE_LIBRARY_PATH"] == str(tmp_path / "site/libtpu/libtpu.so")
    assert v5e["TF_CPP_MIN_LOG_LEVEL"] == "2"  # a TPU runtime's start-up errors stay visible
    assert not v5e["tensorflow_imported"]
    v4 = _import_environment(tmp_path, TPU_ACCELERATOR_TYPE="v4-8")
    assert v4["PJRT_DEVICE"] is None and v4["TF_PLUGGABLE_DEVICE_LIBRARY_PATH"] is None
    assert v4["TF_CPP_MIN_LOG_LEVEL"] == "2"
    mine = _import_environment(tmp_path, TPU_ACCELERATOR_TYPE="v6e-1", PJRT_DEVICE="CPU")
    assert mine["PJRT_DEVICE"] == "CPU"  # a value the user set is kept
    if not runtime.on_tpu_host():
        assert _import_environment(tmp_path)["TF_CPP_MIN_LOG_LEVEL"] == "3"


# --- quiet imports: TensorFlow's native start-up lines, errors kept --------------------------

def _child(code: str, tmp_path, pythonpath=(), **variables) -> subprocess.CompletedProcess:
    """CODE run in a fresh interpreter with the checkout (and PYTHONPATH) first on its path."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(variables, PYTHONPATH=os.pathsep.join([*map(str, pythonpath), str(ROOT)]))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)


def test_importing_tensorflow_after_the_package_prints_nothing(tmp_path):
    """What a notebook does: `import effnet_helpers`, later `import tensorflow as tf`, which on
    TF 2.21 writes absl, oneDNN and CUDA-probe lines to descriptor 2 before its log level
    applies."""
    done = _child("import effnet_helpers\nimport tensorflow as tf\n"
                  "print(tf.constant(2) * 3)", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tf.Tensor(6" in done.stdout
    assert done.stderr == ""


def _fake_tensorflow(tmp_path, body: str) -> Path:
    site = tmp_path / "fake"
    (site / "tensorflow").mkdir(parents=True)
    (site / "tensorflow" / "__init__.py").write_text(body)
    return site


NOISY = ("import os\n"
         "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are "
         "written to STDERR\\n')\n"
         "os.write(2, b'I0000 00:00:1 1 port.cc:153] oneDNN custom operations are on.\\n')\n"
         "os.write(2, b'E0000 00:00:2 1 cuda_fft.cc:467] Unable to register cuFFT factory\\n')\n"
         "os.write(2, b'E0000 00:00:3 1 kernel.cc:9] Genuine failure: libfoo.so not found\\n')\n"
         "import sys; print('a Python warning', file=sys.stderr)\n")


def test_errors_during_the_quiet_import_are_written_out(tmp_path):
    """A stand-in `tensorflow` that writes known noise and a genuine error to descriptor 2: the
    error and Python's own stderr come out, the noise does not, and the module loads normally
    (its loader the real one again, the finder gone)."""
    code = ("import sys, effnet_helpers, tensorflow\n"
            "from effnet_helpers import runtime\n"
            "print(type(tensorflow.__loader__).__name__, type(tensorflow.__spec__.loader).__name__,"
            " any(isinstance(f, runtime._QuietImportFinder) for f in sys.meta_path))")
    done = _child(code, tmp_path, [_fake_tensorflow(tmp_path, NOISY + "VALUE = 1\n")])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SourceFileLoader", "SourceFileLoader", "False"]
    assert sorted(done.stderr.splitlines()) == [
        "E0000 00:00:3 1 kernel.cc:9] Genuine failure: libfoo.so not found", "a Python warning"]
    loud = _child("import tensorflow", tmp_path, [tmp_path / "fake"])  # the control: no package
    assert "InitializeLog" in loud.stderr and "oneDNN" in loud.stderr


def test_a_failing_import_still_shows_its_error_and_traceback(tmp_path):
    site = _fake_tensorflow(tmp_path, NOISY + "raise ImportError('libtensorflow_cc.so.2: cannot "
                                              "open shared object file')\n")
    done = _child("import effnet_helpers\nimport tensorflow", tmp_path, [site])
    assert done.returncode == 1
    assert "Genuine failure" in done.stderr and "InitializeLog" not in done.stderr
    assert "ImportError: libtensorflow_cc.so.2: cannot open shared object file" in done.stderr


def test_every_log_line_when_the_user_asks_for_them(tmp_path):
    """TF_CPP_MIN_LOG_LEVEL=0 set by the user: nothing is captured."""
    site = _fake_tensorflow(tmp_path, NOISY)
    done = _child("import effnet_helpers\nimport tensorflow", tmp_path, [site],
                  TF_CPP_MIN_LOG_LEVEL="0")
    assert "InitializeLog" in done.stderr and "Genuine failure" in done.stderr


def test_quiet_native_logs_keeps_what_is_not_noise(capfd):
    with runtime.quiet_native_logs():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something the user must see\n")
    assert capfd.readouterr().err == "ERROR: something the user must see\n"
    with runtime.quiet_native_logs(runtime.IMAGE_DECODER_NOISE):  # where files are reported
        os.write(2, b"Unsupported marker type 0x78\nCorrupt JPEG data: 3 extraneous bytes\n")
    assert capfd.readouterr().err == ""
    with runtime.quiet_native_logs():  # elsewhere a decoder's complaint is kept
        os.write(2, b"Unsupported marker type 0x78\n")
    assert capfd.readouterr().err == "Unsupported marker type 0x78\n"


def test_the_command_line_help_does_not_import_tensorflow(tmp_path):
    """`effnet --help` stays fast: neither the package nor the CLI's parser imports TensorFlow."""
    code = ("import sys\nfrom effnet_helpers import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = _child(code, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "False"]
    assert "usage: effnet" in done.stdout


def test_in_colab_is_false_without_any_google_package(tmp_path):
    """Without site-packages (-S) there is no `google` namespace (protobuf's) to look in."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from effnet_helpers import runtime\n"
            "import importlib.util; print(importlib.util.find_spec('google') is None, "
            "runtime.in_colab())" % str(ROOT))
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


# --- connecting: strategy and XLA, precision, errors -----------------------------------------

@pytest.mark.parametrize("gpus, tpu, cpu_replicas, jit, plan", [
    (1, False, 1, None, runtime.Plan("GPU", "default", True)),   # Keras' auto XLA stays on
    (1, False, 1, False, runtime.Plan("GPU", "default", False)),
    (2, False, 1, None, runtime.Plan("GPU", "mirrored", False)),
    (4, False, 1, True, runtime.Plan("GPU", "mirrored", True)),
    (0, True, 1, None, runtime.Plan("TPU", "tpu", "auto")),
    (1, True, 1, False, runtime.Plan("TPU", "tpu", "auto")),      # TPUs always compile
    (0, False, 1, None, runtime.Plan("CPU", "default", False)),
    (0, False, 2, None, runtime.Plan("CPU", "mirrored", False)),
    (1, False, 2, None, runtime.Plan("CPU", "mirrored", False)),  # asked for: the CPU
    (0, False, 1, True, runtime.Plan("CPU", "default", True))])
def test_strategy_and_xla_for_each_machine(gpus, tpu, cpu_replicas, jit, plan):
    assert runtime.plan_devices(gpus, tpu, cpu_replicas, jit) == plan


def test_precision_by_device_or_as_asked():
    assert [runtime.choose_precision(k) for k in ("TPU", "GPU", "CPU")] == \
        ["mixed_bfloat16", "mixed_float16", "float32"]
    assert runtime.choose_precision("GPU", mixed_precision=False) == "float32"
    assert runtime.choose_precision("CPU", "mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(runtime.AcceleratorError, match="choose one of"):
        runtime.choose_precision("CPU", "float8")


FACTS = {"tensorflow": "2.20.0", "tensorflow-tpu": "2.20.0", "libtpu": "2.20.0", "chip": "v5e",
         "pjrt_needed": True, "pjrt_set": True, "tpu_build": True}


@pytest.mark.parametrize("changes, error, advice", [
    ({"tpu_build": False, "tensorflow-tpu": None}, "No OpKernel was registered to support Op "
     "'ConfigureDistributedTPU'", "pip install tensorflow-tpu==2.20.0"),
    ({"tpu_build": False}, "TPUs not found", "--force-reinstall --no-deps tensorflow-tpu==2.20.0"),
    ({"pjrt_set": False}, "NotFoundError: TPUs not found", "Import effnet_helpers first"),
    ({"tensorflow-tpu": "2.19.0"}, "Graph execution error", "pip install tensorflow==2.19.0"),
    ({}, "The TPU is already in use by process 12", "Another process holds the TPU"),
    ({}, "Something else", "reinstall the pair")])
def test_a_failed_tpu_connection_says_what_to_try(changes, error, advice):
    text = runtime.tpu_error_message(error, {**FACTS, **changes})
    assert text.startswith("Could not connect to the TPU 'local': " + error.splitlines()[0])
    assert f"tensorflow {FACTS['tensorflow']}" in text and "libtpu 2.20.0" in text
    assert advice in text
    assert "Restart session" in text


def test_connecting_to_a_missing_tpu_is_one_clear_error():
    """On this machine (no TPU) TensorFlow's error becomes one AcceleratorError without a chained
    traceback, with the versions and the install recipe (this TensorFlow has no TPU build). In a
    fresh interpreter: connecting changes TensorFlow's process-wide state."""
    code = ("from effnet_helpers import runtime\n"
            "try:\n    runtime.connect(tpu='local', verbose=False)\n"
            "except runtime.AcceleratorError as error:\n"
            "    assert error.__cause__ is None and error.__suppress_context__\n"
            "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("Could not connect to the TPU 'local': ")
    assert f"tensorflow {runtime._version('tensorflow')}" in result.stdout
    assert f"pip install tensorflow-tpu=={runtime._version('tensorflow')}" in result.stdout


def test_compile_takes_the_runtimes_xla_decision(tf):
    import keras

    from effnet_helpers import training
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    config = training.TrainConfig(model="B0", image_size=32, weights=None)
    for jit in (True, False):
        training._compile(model, config, "head", 32, 10, jit_compile=jit)
        assert model.jit_compile is jit


# --- Google Drive as Colab's work directory -------------------------------------------------

@pytest.fixture
def colab(monkeypatch, tmp_path):
    """A Colab session whose Drive mounts at tmp_path/drive (or refuses, when told)."""
    monkeypatch.delenv(settings.WORK_DIR_ENV, raising=False)
    monkeypatch.setenv(settings.DRIVE_ENV, "1")  # the default; restored after the test
    monkeypatch.setattr(runtime, "in_colab", lambda: True)
    state = {"refuse": False, "mounts": 0}

    def mount(mount_point):
        state["mounts"] += 1
        if state["refuse"]:
            return None
        (tmp_path / "drive" / "MyDrive").mkdir(parents=True, exist_ok=True)
        return str(tmp_path / "drive" / "MyDrive")

    monkeypatch.setattr(runtime, "mount_drive", mount)
    return state


def test_colab_outputs_go_to_google_drive(colab, tmp_path):
    assert settings.work_dir() == tmp_path / "drive" / "MyDrive" / settings.DRIVE_WORK_FOLDER
    assert settings.work_dir().is_dir()
    local = settings.work_dir(drive=False)  # the one switch to stay in the VM
    assert local == settings.repo_root() / "outputs"
    assert settings.work_dir() == local  # the choice holds for the session
    assert settings.work_dir(drive=True).parent == tmp_path / "drive" / "MyDrive"


def test_a_refused_drive_leaves_outputs_local_and_asks_once(colab, capsys):
    colab["refuse"] = True
    assert settings.work_dir() == settings.repo_root() / "outputs"
    assert "loses them when it is recycled" in capsys.readouterr().out
    settings.work_dir()
    assert colab["mounts"] == 1


def test_outside_colab_nothing_is_mounted(monkeypatch):
    monkeypatch.delenv(settings.WORK_DIR_ENV, raising=False)
    monkeypatch.setenv(settings.DRIVE_ENV, "1")
    monkeypatch.setattr(runtime, "in_colab", lambda: False)
    monkeypatch.setattr(runtime, "mount_drive", lambda *a: pytest.fail("mounted outside Colab"))
    assert settings.work_dir(drive=True) == settings.repo_root() / "outputs"


def test_the_estimate_for_a_model_trained_on_demand():
    """stages.ensure_model's rough duration: more epochs and bigger images take longer, a GPU is
    faster than 2 CPU cores on 20,000 images (its compile time counts for more on few), and the
    cached head phase runs the backbone once."""
    from effnet_helpers import stages, training
    none = {"flip": False, "rotate90": False, "zoom": 0.0, "randaugment": False,
            "mixup_alpha": 0.0}
    base = dict(model="B0", image_size=64, weights=None, head_epochs=2, total_epochs=6,
                augment=none)

    def estimate(kind="CPU", **changes):
        config = training.TrainConfig(**{**base, **changes})
        return stages.estimate_training_seconds(config, 20_000, 5_000, kind, cores=2)
    assert estimate(total_epochs=12) > estimate() > estimate(total_epochs=2)
    assert estimate(image_size=128) > estimate()
    assert estimate("GPU") < estimate()
    assert estimate(augment={**none, "flip": True}) > estimate()  # no cache: the backbone runs every head epoch
    assert stages._duration(38) == "40 seconds" and stages._duration(125) == "2 minutes"
    assert stages._duration(3 * 3600) == "3.0 hours"
