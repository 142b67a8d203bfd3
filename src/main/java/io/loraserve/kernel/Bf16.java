package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link MatMul} over bfloat16 weights: half the bytes of float32 to read, computed in float32. A
 * bfloat16 is the upper half of a float32, so widening is exact. The one-token tile reads a vector
 * of ints as two weights a lane: shifted left 16 bits the lane is the even weight, masked to its
 * upper half the odd one, and the token row is read in the same order ({@link #pairOrder}).
 * Batched products widen a block of weights into float32 once ({@link Widened}) and multiply it with
 * the float32 tiles. Sums are taken in another order than {@code torch.linear}'s, so results agree
 * within float32 rounding, not bit for bit.
 */
final class Bf16 {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = S.withLanes(int.class).check(int.class);
    private static final int L = S.length();
    /** Weights one int vector holds. */
    private static final int PAIR = 2 * L;
    /** Shorts the width of a float vector's lanes: one load widens to one float vector. */
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Bf16() {
    }

    static float widen(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /**
     * {@code x} [rows, k] with each whole block of {@link #PAIR} elements of a row reordered to its
     * even elements, then its odd ones; a row's tail past the last whole block stays in place.
     */
    static float[] pairOrder(float[] x, int rows, int k) {
        float[] out = new float[rows * k];
        int bound = k - k % PAIR;
        for (int m = 0; m < rows; m++) {
            int o = m * k;
            for (int b = o; b < o + bound; b += PAIR) {
                for (int i = 0; i < L; i++) {
                    out[b + i] = x[b + 2 * i];
                    out[b + L + i] = x[b + 2 * i + 1];
                }
            }
            System.arraycopy(x, o + bound, out, o + bound, k - bound);
        }
        return out;
    }

    private static FloatVector even(IntVector pair) {
        return pair.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odd(IntVector pair) {
        return pair.and(0xFFFF0000).reinterpretAsFloats();
    }

    /** The int vector at weight {@code element} of a whole matrix (long offsets: see {@link MatMul}'s stream). */
    private static IntVector stream(MemorySegment w, long element) {
        return IntVector.fromMemorySegment(I, w, element * 2, LE);
    }

    private static float weight(MemorySegment w, long element) {
        return widen(w.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, element));
    }

    /**
     * Four weight rows {@code j..j+3} times one token row {@code m}, {@code x} in {@link #pairOrder}:
     * the one-token product, bound by reading weights. Four rows, not float32's eight: eight
     * widening row streams exceed C2's inlining budget and box their vectors.
     */
    static void tile1x4(float[] x, int m, int k, MemorySegment w, int j, float[] y, int n) {
        long w0 = (long) j * k;
        int x0 = m * k;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int bound = k - k % PAIR;
        for (int i = 0; i < bound; i += PAIR) {
            FloatVector r = FloatVector.fromArray(S, x, x0 + i);
            FloatVector s = FloatVector.fromArray(S, x, x0 + i + L);
            IntVector p0 = stream(w, w0 + i);
            IntVector p1 = stream(w, w0 + k + i);
            IntVector p2 = stream(w, w0 + 2L * k + i);
            IntVector p3 = stream(w, w0 + 3L * k + i);
            a0 = odd(p0).fma(s, even(p0).fma(r, a0));
            a1 = odd(p1).fma(s, even(p1).fma(r, a1));
            a2 = odd(p2).fma(s, even(p2).fma(r, a2));
            a3 = odd(p3).fma(s, even(p3).fma(r, a3));
        }
        float[] sums = {a0.reduceLanes(VectorOperators.ADD), a1.reduceLanes(VectorOperators.ADD),
            a2.reduceLanes(VectorOperators.ADD), a3.reduceLanes(VectorOperators.ADD)};  // no vector leaves registers
        for (int r = 0; r < 4; r++) {
            float sum = sums[r];
            for (int t = bound; t < k; t++) {
                sum += x[x0 + t] * weight(w, w0 + (long) r * k + t);
            }
            y[m * n + j + r] = sum;
        }
    }

    /** {@link MatMul#linear} on a bfloat16 {@code w}. */
    static void linear(Parallel pool, float[] x, int rows, Matrix w, float[] y) {
        int n = w.rows();
        float[] pairs = rows < 4 ? pairOrder(x, rows, w.cols()) : null;
        int chunks = MatMul.chunks(pool, n, w.bytes());
        pool.run(chunks, c -> linearRows(x, pairs, rows, w, y, Parallel.from(n, chunks, 8, c),
                Parallel.from(n, chunks, 8, c + 1)));
    }

    /**
     * The weight rows {@code [j0, j1)} of {@link #linear}: one or a few token rows stream the
     * weights through {@link #tile1x4} ({@code pairs} is {@code x} in {@link #pairOrder}); the rest,
     * and every batched product, go through {@link Widened}.
     */
    private static void linearRows(float[] x, float[] pairs, int rows, Matrix w, float[] y, int j0, int j1) {
        int k = w.cols();
        int n = w.rows();
        int j = j0;
        if (rows < 4) {
            for (; j + 4 <= j1; j += 4) {
                for (int m = 0; m < rows; m++) {
                    tile1x4(pairs, m, k, w.memory(), j, y, n);
                }
            }
        }
        Widened.linearRows(x, rows, k, n, y, j, j1, (row, count, block) -> widen(w.memory(), row, count, k, block));
    }

    /** Widens rows {@code [row, row + count)} of a bfloat16 {@code [.., k]} matrix into {@code block}. */
    private static void widen(MemorySegment w, int row, int count, int k, MemorySegment block) {
        int size = count * k;
        long from = (long) row * k;
        int i = 0;
        for (; i < H.loopBound(size); i += L) {
            ((IntVector) ShortVector.fromMemorySegment(H, w, (from + i) * 2, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoMemorySegment(block, (long) i * Float.BYTES, LE);
        }
        for (; i < size; i++) {
            block.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, weight(w, from + i));
        }
    }
}
