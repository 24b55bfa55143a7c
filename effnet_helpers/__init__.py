"""effnet_helpers: the functions behind the EfficientNet transfer-learning workbook.

Stages, one module each: `layout` (dataset folders, problems, label map), `records` (TFRecord
conversion and reading). Shared pieces: `images` (checking and converting one image), `plots`,
`storage` (local and gs:// paths), `settings` (constants and run profiles), `cli` (the `effnet`
command).
"""
import os

# TensorFlow's C++ log lines (one per corrupt JPEG, CUDA probes on CPU machines) drown the
# messages a learner can act on; errors still arrive as Python exceptions. Set it before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
