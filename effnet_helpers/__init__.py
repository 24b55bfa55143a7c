"""effnet_helpers: the functions behind the EfficientNet transfer-learning workbook.

Stages, one module each: `layout` (dataset folders, problems, label map), `records` (TFRecord
conversion and reading), `pipeline` (tf.data input), `models` and `training` (transfer training),
`evaluation` (metrics, confusion matrix), `inference` (predicting files), `explain` (Grad-CAM),
`export` (TensorFlow Lite, SavedModel), `architecture` (EfficientNet from scratch, notebook 06).
Shared pieces: `images` (checking and converting one image), `stages` (where each stage's
outputs live), `hub`, `runtime`, `plots`, `storage` (local and gs:// paths), `settings`
(constants and run profiles), `cli` (the `effnet` command).
"""
import os

# TensorFlow's C++ log lines (one per corrupt JPEG, CUDA probes on CPU machines) drown the
# messages a learner can act on; errors still arrive as Python exceptions. Set it before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
