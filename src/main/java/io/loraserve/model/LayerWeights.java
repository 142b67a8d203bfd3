package io.loraserve.model;

import org.bytedeco.pytorch.Tensor;

/**
 * The tensors of one decoder layer. q, k and v are stored fused as one {@code [qkvWidth, hidden]}
 * matrix and gate/up as one {@code [2*intermediate, hidden]} matrix, so a layer runs three
 * GEMMs fewer per step. Owned by whoever built it ({@link LlamaWeights} for the base; a merged
 * copy shares the base's tensors for every projection it did not change).
 *
 * @param attnNorm [hidden]
 * @param qkv      [qkvWidth, hidden]
 * @param qkvBias  [qkvWidth] or null
 * @param qNorm    [headDim] RMSNorm weight of every query head (Qwen3), or null
 * @param kNorm    [headDim] RMSNorm weight of every key head (Qwen3), or null
 * @param o        [hidden, heads*headDim]
 * @param mlpNorm  [hidden]
 * @param gateUp   [2*intermediate, hidden]
 * @param down     [hidden, intermediate]
 */
public record LayerWeights(Tensor attnNorm, Tensor qkv, Tensor qkvBias, Tensor qNorm, Tensor kNorm, Tensor o,
                           Tensor mlpNorm, Tensor gateUp, Tensor down) {

    /** The matrix that holds {@code p}'s rows (fused for q/k/v and gate/up). */
    public Tensor matrixOf(Proj p) {
        return switch (p) {
            case Q, K, V -> qkv;
            case O -> o;
            case GATE, UP -> gateUp;
            case DOWN -> down;
        };
    }

    /** First row of {@code p} inside {@link #matrixOf}. */
    public static long rowOffset(ModelConfig c, Proj p) {
        return switch (p) {
            case K -> (long) c.heads() * c.headDim();
            case V -> (long) (c.heads() + c.kvHeads()) * c.headDim();
            case UP -> c.intermediate();
            default -> 0;
        };
    }
}
