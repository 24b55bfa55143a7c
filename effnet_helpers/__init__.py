"""effnet_helpers: the functions behind the EfficientNet transfer-learning workbook.

Stages, one module each: `layout` (dataset folders, problems, label map), `records` (TFRecord
conversion and reading), `pipeline` (tf.data input), `models` and `training` (transfer training),
`evaluation` (metrics, confusion matrix), `inference` (predicting files), `explain` (Grad-CAM),
`export` (TensorFlow Lite, SavedModel), `architecture` (EfficientNet from scratch, notebook 06).
Shared pieces: `images` (checking and converting one image), `stages` (where each stage's
outputs live), `hub`, `runtime`, `plots`, `storage` (local and gs:// paths), `settings`
(constants and run profiles), `cli` (the `effnet` command).
"""
from . import runtime as _runtime

# What TensorFlow reads when it is imported, so set before it is: its C++ log level (quiet,
# except for errors on a TPU runtime) and, on TPU v5e/v6e/v5p chips, the PJRT runtime. Importing
# effnet_helpers before TensorFlow is enough (runtime imports only the standard library).
_runtime.prepare_environment()

__version__ = "0.1.0"
