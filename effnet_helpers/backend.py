"""TensorFlow, imported on first use: the one place the package's modules get it from.

The layout stage, `effnet --help` and every module's import do without TensorFlow (a few seconds
to import); a function that needs it calls `tensorflow()`. Modules whose classes are Keras layers
(`hub`, `architecture`) import it at the top instead, and are imported only where a model is
built (docs/DESIGN.md, section "Module structure").
"""
from __future__ import annotations


def tensorflow():
    """The `tensorflow` module (imported now if it was not yet)."""
    import tensorflow as tf
    return tf
