package io.loraserve.model;

import io.loraserve.kernel.Parallel;
import org.bytedeco.pytorch.Tensor;

/**
 * A low-rank term added to a fused projection group's output during one forward:
 * {@code out += f(x)}. The LoRA package implements it; the model only calls it after each base GEMM,
 * on libtorch tensors or, on the CPU kernels' path, on Java arrays.
 */
public interface Bypass {
    Bypass NONE = new Bypass() {
        @Override
        public void apply(int layer, Fused group, Tensor x, Tensor out) {
        }

        @Override
        public void apply(int layer, Fused group, float[] x, float[] out, Parallel pool) {
        }
    };

    /**
     * @param x   [tokens, in] the group's input
     * @param out [tokens, group.out] the group's fused output, to add into (columns of each projection
     *            at {@link LayerWeights#rowOffset})
     */
    void apply(int layer, Fused group, Tensor x, Tensor out);

    /** {@link #apply(int, Fused, Tensor, Tensor)} on row-major float32 arrays of the pass's tokens, on {@code pool}. */
    void apply(int layer, Fused group, float[] x, float[] out, Parallel pool);
}
