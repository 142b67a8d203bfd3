#!/usr/bin/env python3
"""Writes a Q8_0 GGUF of a HF Llama dir, for llama.cpp's side of a `--quantization int8` comparison.

usage: python3 loadtest/peer/q8_gguf.py PEER_DIR MODEL_DIR OUT.gguf [to_gguf.py options]

Runs the peer converter (PEER_DIR/to_gguf.py, e.g. ../shared/peer) with every 2-D weight whose
width is a multiple of 32 stored as Q8_0 (llama.cpp's 8-bit blocks of 32 with a float16 scale;
loraserve's int8 has a float32 scale), norms as F32. compare.py converts a model once into
MODEL_DIR.gguf/model-f32.gguf and reuses that file: point it at a copy of the model whose cache
holds this Q8_0 file under that name (see the README's performance section).
"""
import os
import sys

peer = sys.argv.pop(1)
sys.path.insert(0, peer)
import to_gguf  # noqa: E402  (the peer converter)

gguf = to_gguf.import_gguf(None)
from gguf import quants  # noqa: E402

add_tensor = gguf.GGUFWriter.add_tensor


def add_q8_tensor(self, name, tensor, raw_shape=None, raw_dtype=None):
    if tensor.ndim == 2 and tensor.shape[1] % 32 == 0 and raw_dtype is None:
        return add_tensor(self, name, quants.quantize(tensor, gguf.GGMLQuantizationType.Q8_0),
                          raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    return add_tensor(self, name, tensor, raw_shape=raw_shape, raw_dtype=raw_dtype)


gguf.GGUFWriter.add_tensor = add_q8_tensor
add_file_type = gguf.GGUFWriter.add_file_type
gguf.GGUFWriter.add_file_type = lambda self, ftype: add_file_type(self, int(gguf.LlamaFileType.MOSTLY_Q8_0))
to_gguf.main()
