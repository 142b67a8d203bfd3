/**
 * Java Vector API kernels for the CPU forward: float32, bfloat16 and int8 matrix products, paged attention, norms, the fork-join they run on. No libtorch.
 */
package io.loraserve.kernel;
