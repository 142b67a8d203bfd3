/**
 * The Llama-family model: its configuration, weights, the forward on libtorch or the kernels, the paged KV cache, sampling on the host and on the device.
 */
package io.loraserve.model;
