package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal grouped-query attention of each token over its own sequence's keys and values in the
 * paged KV pool, read in place (no gather, no padding, no repeated KV heads): query head
 * {@code h} reads KV head {@code h / (heads / kvHeads)}, as HF's {@code repeat_kv}. Softmax in
 * float32 with the row maximum subtracted, as {@code scaled_dot_product_attention} on CPU.
 *
 * <p>One unit of work is one token's KV head with all the query heads that share it, run one
 * after another, so a key or value row read from memory for the first head is in cache for the
 * others. Head dimensions go {@link #BLOCK} at a time with the query slice and the output
 * accumulators in registers.
 */
public final class PagedAttention {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final int group;
    private final float scale;

    public PagedAttention(int heads, int kvHeads, int headDim, double scale) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.group = heads / kvHeads;
        this.scale = (float) scale;
    }

    /**
     * @param q        [tokens, qStride]; token {@code t}'s heads from column 0
     * @param keys     the layer's key pool [slots, kvHeads, headDim] float32
     * @param values   the layer's value pool, same shape
     * @param context  per token, the KV slots of its sequence's positions (shared by a sequence's tokens)
     * @param visible  per token, how many of those it attends ({@code position + 1})
     * @param out      [tokens, heads*headDim], overwritten
     */
    public void attend(Parallel pool, float[] q, int qStride, int tokens, MemorySegment keys, MemorySegment values,
                       int[][] context, int[] visible, float[] out) {
        // a unit is a KV head with its query heads; too few units to keep every thread busy (one
        // decoding sequence) split into single query heads, whose shared rows then come from cache
        int perUnit = tokens * kvHeads < 2 * pool.threads() ? 1 : group;
        int units = tokens * heads / perUnit;
        int chunks = Math.min(units, pool.threads() * 4);
        int maxVisible = Arrays.stream(visible, 0, tokens).max().orElse(0);
        pool.run(chunks, c -> {
            float[] scores = new float[maxVisible];
            int to = Parallel.from(units, chunks, 1, c + 1);
            for (int unit = Parallel.from(units, chunks, 1, c); unit < to; unit++) {
                int t = unit * perUnit / heads;
                int firstHead = unit * perUnit % heads;
                for (int h = firstHead; h < firstHead + perUnit; h++) {
                    head(q, t * qStride + h * headDim, keys, values, context[t], visible[t], h / group, scores,
                            out, (t * heads + h) * headDim);
                }
            }
        });
    }

    private void head(float[] q, int qAt, MemorySegment keys, MemorySegment values, int[] slots, int n,
                      int kvHead, float[] scores, float[] out, int o) {
        long rowStride = (long) kvHeads * headDim;
        long kvAt = (long) kvHead * headDim;
        Arrays.fill(scores, 0, n, 0f);
        int d = 0;
        for (; d + BLOCK <= headDim; d += BLOCK) {
            scoreBlock(q, qAt + d, keys, slots, n, rowStride, kvAt + d, scores);
        }
        for (int p = 0; d < headDim && p < n; p++) {
            scores[p] += MatMul.dot(q, qAt + d, keys, slots[p] * rowStride + kvAt + d, headDim - d);
        }
        for (int p = 0; p < n; p++) {
            scores[p] *= scale;
        }
        softmax(scores, n);
        d = 0;
        for (; d + BLOCK <= headDim; d += BLOCK) {
            valueBlock(values, slots, n, rowStride, kvAt + d, scores, out, o + d);
        }
        if (d < headDim) {
            Arrays.fill(out, o + d, o + headDim, 0f);
            for (int p = 0; p < n; p++) {
                long v = slots[p] * rowStride + kvAt;
                for (int i = d; i < headDim; i++) {
                    out[o + i] += scores[p] * values.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, v + i);
                }
            }
        }
    }

    /** Head dimensions handled four vectors at a time, query and output held in registers. */
    private static final int BLOCK = 4 * L;

    /** {@code scores[p] += q[qAt .. qAt+BLOCK) · key_p[kAt .. kAt+BLOCK)} for every position. */
    private static void scoreBlock(float[] q, int qAt, MemorySegment keys, int[] slots, int n, long rowStride,
                                   long kAt, float[] scores) {
        FloatVector q0 = FloatVector.fromArray(S, q, qAt);
        FloatVector q1 = FloatVector.fromArray(S, q, qAt + L);
        FloatVector q2 = FloatVector.fromArray(S, q, qAt + 2 * L);
        FloatVector q3 = FloatVector.fromArray(S, q, qAt + 3 * L);
        for (int p = 0; p < n; p++) {
            long k = (slots[p] * rowStride + kAt) * Float.BYTES;
            FloatVector a = FloatVector.fromMemorySegment(S, keys, k, LE).mul(q0)
                    .add(FloatVector.fromMemorySegment(S, keys, k + L * Float.BYTES, LE).mul(q1));
            FloatVector b = FloatVector.fromMemorySegment(S, keys, k + 2 * L * Float.BYTES, LE).mul(q2)
                    .add(FloatVector.fromMemorySegment(S, keys, k + 3 * L * Float.BYTES, LE).mul(q3));
            scores[p] += a.add(b).reduceLanes(VectorOperators.ADD);
        }
    }

    /** {@code out[o .. o+BLOCK) = Σ_p weights[p] · value_p[vAt .. vAt+BLOCK)}. */
    private static void valueBlock(MemorySegment values, int[] slots, int n, long rowStride, long vAt,
                                   float[] weights, float[] out, int o) {
        FloatVector o0 = FloatVector.zero(S);
        FloatVector o1 = o0;
        FloatVector o2 = o0;
        FloatVector o3 = o0;
        for (int p = 0; p < n; p++) {
            long v = (slots[p] * rowStride + vAt) * Float.BYTES;
            FloatVector w = FloatVector.broadcast(S, weights[p]);
            o0 = FloatVector.fromMemorySegment(S, values, v, LE).fma(w, o0);
            o1 = FloatVector.fromMemorySegment(S, values, v + L * Float.BYTES, LE).fma(w, o1);
            o2 = FloatVector.fromMemorySegment(S, values, v + 2 * L * Float.BYTES, LE).fma(w, o2);
            o3 = FloatVector.fromMemorySegment(S, values, v + 3 * L * Float.BYTES, LE).fma(w, o3);
        }
        o0.intoArray(out, o);
        o1.intoArray(out, o + L);
        o2.intoArray(out, o + 2 * L);
        o3.intoArray(out, o + 3 * L);
    }

    /** {@code s[0 .. n)} ← softmax of itself, the maximum subtracted before exponentiating. */
    private static void softmax(float[] s, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int p = 0; p < n; p++) {
            max = Math.max(max, s[p]);
        }
        int bound = S.loopBound(n);
        FloatVector sum = FloatVector.zero(S);
        int p = 0;
        for (; p < bound; p += L) {
            FloatVector e = FloatVector.fromArray(S, s, p).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(s, p);
            sum = sum.add(e);
        }
        float total = sum.reduceLanes(VectorOperators.ADD);
        for (; p < n; p++) {
            s[p] = (float) Math.exp(s[p] - max);
            total += s[p];
        }
        float inv = 1f / total;
        for (p = 0; p < n; p++) {
            s[p] *= inv;
        }
    }
}
