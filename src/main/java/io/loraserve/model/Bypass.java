package io.loraserve.model;

import org.bytedeco.pytorch.Tensor;

/**
 * A low-rank term added to a projection's output during one forward: {@code out += f(x)}.
 * The LoRA package implements it; the model only calls it after each base GEMM.
 */
@FunctionalInterface
public interface Bypass {
    Bypass NONE = (layer, proj, x, out) -> { };

    /**
     * @param x   [tokens, in] the projection's input
     * @param out [tokens, outFeatures(proj)] a view of the projection's output, to add into
     */
    void apply(int layer, Proj proj, Tensor x, Tensor out);
}
