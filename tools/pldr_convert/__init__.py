"""pldr_convert: PLDR-LLM checkpoint converter using only the Python standard library.

Reads a PyTorch `.pth` zip checkpoint (through a restricted unpickler), or safetensors (single or
sharded), validates the tensors against the config (docs/FORMAT.md), and writes the Hugging Face
folder layout with F32, BF16, q8_0 or q4_0 weights plus `manifest.json`.  Entry point: `cli.main`.
"""

from .errors import ConvertError  # noqa: F401

__all__ = ["ConvertError"]
