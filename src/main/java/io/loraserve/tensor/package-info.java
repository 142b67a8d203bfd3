/**
 * Tensors and their memory: safetensors files, devices, native memory accounting, the libtorch operator counter. Imports no other loraserve package.
 */
package io.loraserve.tensor;
