package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The element-wise steps of a Llama layer on row-major float32 Java arrays, computed as
 * HuggingFace computes them in float32: RMSNorm (of rows, or of each head), rotate-half RoPE,
 * SwiGLU, residual adds.
 */
public final class VectorOps {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorOps() {
    }

    /**
     * {@code out[m] = x[m] / sqrt(mean(x[m]²) + eps) · weight} for each of {@code rows} rows.
     *
     * @param x      [rows, dim]
     * @param weight [dim] float32
     * @param out    [rows, dim]
     */
    public static void rmsNorm(float[] x, int rows, int dim, MemorySegment weight, double eps, float[] out) {
        for (int m = 0; m < rows; m++) {
            rmsNorm(x, m * dim, dim, weight, eps, out, m * dim);
        }
    }

    /**
     * {@link #rmsNorm} of each of {@code heads} vectors of {@code headDim} in each row, in place, all
     * by the same {@code weight} (Qwen3's {@code q_norm} and {@code k_norm}).
     *
     * @param x      [rows, stride]; the heads start at column {@code col0}
     * @param weight [headDim] float32
     */
    public static void rmsNormHeads(float[] x, int rows, int stride, int col0, int heads, int headDim,
                                    MemorySegment weight, double eps) {
        for (int m = 0; m < rows; m++) {
            for (int h = 0; h < heads; h++) {
                int o = m * stride + col0 + h * headDim;
                rmsNorm(x, o, headDim, weight, eps, x, o);
            }
        }
    }

    /** One vector: {@code out[to ..] = x[from .. from+dim) / sqrt(mean(x²) + eps) · weight}. */
    private static void rmsNorm(float[] x, int from, int dim, MemorySegment weight, double eps, float[] out, int to) {
        int bound = S.loopBound(dim);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, from + i);
            acc = v.fma(v, acc);
        }
        float ss = acc.reduceLanes(VectorOperators.ADD);
        for (; i < dim; i++) {
            ss += x[from + i] * x[from + i];
        }
        float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
        i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromArray(S, x, from + i).mul(inv)
                    .mul(FloatVector.fromMemorySegment(S, weight, (long) i * Float.BYTES, LE))
                    .intoArray(out, to + i);
        }
        for (; i < dim; i++) {
            out[to + i] = x[from + i] * inv * weight.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
        }
    }

    /**
     * Rotates {@code heads} vectors of {@code headDim} in each of {@code rows} rows in place,
     * rotate-half style: {@code (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin)} with the tables'
     * row of that row's position.
     *
     * @param x         [rows, stride]; the heads start at column {@code col0}
     * @param positions [rows] position of each row
     * @param cos       [positions, headDim/2]
     * @param sin       [positions, headDim/2]
     */
    public static void rope(float[] x, int rows, int stride, int col0, int heads, int headDim,
                            long[] positions, float[] cos, float[] sin) {
        int half = headDim / 2;
        for (int m = 0; m < rows; m++) {
            int t = (int) positions[m] * half;
            for (int h = 0; h < heads; h++) {
                int o = m * stride + col0 + h * headDim;
                for (int i = 0; i < half; i++) {
                    float x1 = x[o + i];
                    float x2 = x[o + half + i];
                    float c = cos[t + i];
                    float s = sin[t + i];
                    x[o + i] = x1 * c - x2 * s;
                    x[o + half + i] = x2 * c + x1 * s;
                }
            }
        }
    }

    /**
     * SwiGLU: {@code out[m, i] = silu(gateUp[m, i]) · gateUp[m, width + i]}.
     *
     * @param gateUp [rows, 2*width], gate columns first
     * @param out    [rows, width]
     */
    public static void swiglu(float[] gateUp, int rows, int width, float[] out) {
        int bound = S.loopBound(width);
        for (int m = 0; m < rows; m++) {
            int g = m * 2 * width;
            int u = g + width;
            int o = m * width;
            int i = 0;
            for (; i < bound; i += L) {
                FloatVector gv = FloatVector.fromArray(S, gateUp, g + i);
                FloatVector sig = gv.neg().lanewise(VectorOperators.EXP).add(1f);
                gv.div(sig).mul(FloatVector.fromArray(S, gateUp, u + i)).intoArray(out, o + i);
            }
            for (; i < width; i++) {
                float gv = gateUp[g + i];
                out[o + i] = (float) (gv / (1.0 + Math.exp(-gv))) * gateUp[u + i];
            }
        }
    }

    /** {@code x[i] += y[i]} for {@code i < n}. */
    public static void addInPlace(float[] x, float[] y, int n) {
        int bound = S.loopBound(n);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromArray(S, x, i).add(FloatVector.fromArray(S, y, i)).intoArray(x, i);
        }
        for (; i < n; i++) {
            x[i] += y[i];
        }
    }

    /** {@code x[m, i] += bias[i]} for each of {@code rows} rows of {@code dim}. */
    public static void addRows(float[] x, int rows, int dim, MemorySegment bias) {
        int bound = S.loopBound(dim);
        for (int m = 0; m < rows; m++) {
            int o = m * dim;
            int i = 0;
            for (; i < bound; i += L) {
                FloatVector.fromArray(S, x, o + i)
                        .add(FloatVector.fromMemorySegment(S, bias, (long) i * Float.BYTES, LE))
                        .intoArray(x, o + i);
            }
            for (; i < dim; i++) {
                x[o + i] += bias.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            }
        }
    }
}
