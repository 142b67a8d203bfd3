package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Weight-only int8 matrices and {@link MatMul} over them: a quarter of float32's bytes to read,
 * computed in float32. Each row is cut into blocks of {@link #BLOCK} weights with one float32 scale
 * each (as llama.cpp's Q8_0, whose scale is a float16): {@code w ≈ q·scale}, {@code q} in [-127, 127],
 * {@code scale = max|w| / 127} of the block, so no weight moves by more than half its block's scale.
 *
 * <p>Layout of a {@code [rows, cols]} matrix ({@code cols} a multiple of {@link #BLOCK}): row after
 * row, each {@code cols} int8 values followed by its {@code cols / BLOCK} scales (float32,
 * little-endian) — {@link #rowBytes} bytes a row, so a row and its scales are read in one stream.
 *
 * <p>The one-token product converts a vector of bytes to floats in registers and multiplies it with
 * the token row, a block's sum scaled once; batched products dequantize a block of rows into
 * float32 once ({@link Widened}). Where the float vector has fewer than eight lanes every product
 * takes the batched path.
 */
public final class Int8 {
    /** Weights sharing one scale. */
    public static final int BLOCK = 32;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /**
     * A float vector's width of bytes, four float vectors' worth of weights: loaded at once and
     * converted a quarter at a time (C2 compiles that well; converting a narrower byte vector
     * to a wider float one is 2-3x slower). Null below eight float lanes: no register path there.
     */
    private static final VectorSpecies<Byte> B = L >= 8 ? VectorSpecies.of(byte.class, S.vectorShape()) : null;
    /** Weights one byte vector holds: a block or two. */
    private static final int GROUP = 4 * L;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Int8() {
    }

    /** Bytes one quantized row of {@code cols} weights takes: the values and the scales. */
    public static long rowBytes(int cols) {
        return cols + (long) cols / BLOCK * Float.BYTES;
    }

    /** The weights a quantized row of {@code rowBytes} bytes holds (inverse of {@link #rowBytes}). */
    public static int cols(long rowBytes) {
        long cols = rowBytes * BLOCK / (BLOCK + Float.BYTES);
        if (cols % BLOCK != 0 || rowBytes(Math.toIntExact(cols)) != rowBytes) {
            throw new IllegalArgumentException(rowBytes + " bytes is not a quantized row");
        }
        return (int) cols;
    }

    /**
     * Quantizes a float32 {@code [rows, cols]} matrix into {@code out} (this class's layout,
     * {@code rows · rowBytes(cols)} bytes).
     */
    public static void quantize(MemorySegment w, int rows, int cols, MemorySegment out) {
        if (cols % BLOCK != 0) {
            throw new IllegalArgumentException("int8 blocks need a width divisible by " + BLOCK + ", not " + cols);
        }
        long stride = rowBytes(cols);
        for (int r = 0; r < rows; r++) {
            long in = (long) r * cols;
            long at = r * stride;
            for (int b = 0; b < cols / BLOCK; b++) {
                float max = 0;
                for (int i = 0; i < BLOCK; i++) {
                    max = Math.max(max, Math.abs(w.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, in + b * BLOCK + i)));
                }
                float scale = max / 127f;
                for (int i = 0; i < BLOCK; i++) {
                    float v = w.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, in + b * BLOCK + i);
                    out.set(ValueLayout.JAVA_BYTE, at + b * BLOCK + i, (byte) (scale == 0 ? 0 : Math.clamp(Math.round(v / scale), -127, 127)));
                }
                out.set(ValueLayout.JAVA_FLOAT_UNALIGNED, at + cols + (long) b * Float.BYTES, scale);
            }
        }
    }

    /** Dequantizes rows {@code [row, row + count)} of a quantized {@code [.., k]} matrix into float32 {@code out} [count, k]. */
    public static void dequantize(MemorySegment w, int row, int count, int k, MemorySegment out) {
        long stride = rowBytes(k);
        for (int r = 0; r < count; r++) {
            long at = (row + r) * stride;
            long to = (long) r * k * Float.BYTES;
            int i = 0;
            if (B != null) {
                for (; i + GROUP <= k; i += GROUP) {
                    ByteVector v = group(w, at + i);
                    for (int part = 0; part < 4; part++) {
                        int j = i + part * L;
                        weights(v, part).mul(scaleOf(w, at + k, j)).intoMemorySegment(out, to + (long) j * Float.BYTES, LE);
                    }
                }
            }
            for (; i < k; i++) {
                out.set(ValueLayout.JAVA_FLOAT_UNALIGNED, to + (long) i * Float.BYTES,
                        w.get(ValueLayout.JAVA_BYTE, at + i) * scaleOf(w, at + k, i));
            }
        }
    }

    /** The scale of weight {@code i}'s block, in the row whose scales start at byte {@code scales}. */
    private static float scaleOf(MemorySegment w, long scales, int i) {
        return w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, scales + (long) (i / BLOCK) * Float.BYTES);
    }

    /** {@link #GROUP} int8 values at byte {@code at}. */
    private static ByteVector group(MemorySegment w, long at) {
        return ByteVector.fromMemorySegment(B, w, at, LE);
    }

    /** Quarter {@code part} of a group, as floats. */
    private static FloatVector weights(ByteVector group, int part) {
        return (FloatVector) group.convert(VectorOperators.B2F, part);
    }

    /** {@link MatMul#linear} on an int8 {@code w}. */
    static void linear(Parallel pool, float[] x, int rows, Matrix w, float[] y) {
        int n = w.rows();
        int chunks = MatMul.chunks(pool, n, w.bytes());
        pool.run(chunks, c -> linearRows(x, rows, w, y, Parallel.from(n, chunks, 8, c),
                Parallel.from(n, chunks, 8, c + 1)));
    }

    /**
     * The weight rows {@code [j0, j1)} of {@link #linear}: one to three token rows stream the weights
     * through {@link #dot}; the rest, and every batched product, go through {@link Widened}.
     */
    private static void linearRows(float[] x, int rows, Matrix w, float[] y, int j0, int j1) {
        int k = w.cols();
        int n = w.rows();
        int j = j0;
        if (rows < 4 && B != null) {
            long stride = rowBytes(k);
            for (; j < j1; j++) {
                for (int m = 0; m < rows; m++) {
                    y[m * n + j] = dot(x, m * k, k, w.memory(), j * stride);
                }
            }
        }
        Widened.linearRows(x, rows, k, n, y, j, j1, (row, count, block) -> dequantize(w.memory(), row, count, k, block));
    }

    /**
     * Weight row {@code j} times token row {@code m}: the one-token product, bound by reading
     * weights. A block's products are summed unscaled, then added times the block's scale, so a
     * weight costs a conversion and one multiply-add. One row, not four as float32's tiles: each
     * byte-to-float conversion weighs so much in C2's node count that a second row's stops the
     * inlining (NodeCountInliningCutoff), which boxes the vectors. The weights past the last whole
     * group are summed one at a time ({@link #tail}).
     */
    private static float dot(float[] x, int x0, int k, MemorySegment w, long row) {
        FloatVector acc = FloatVector.zero(S);
        int bound = k - k % GROUP;
        for (int g = 0; g < bound; g += GROUP) {
            // the first and last two quarters of a group summed apart, each times its block's scale
            // (with eight lanes a group is one block and both scales are the same)
            ByteVector v = group(w, row + g);
            FloatVector first = weights(v, 1).fma(FloatVector.fromArray(S, x, x0 + g + L),
                    weights(v, 0).mul(FloatVector.fromArray(S, x, x0 + g)));
            FloatVector last = weights(v, 3).fma(FloatVector.fromArray(S, x, x0 + g + 3 * L),
                    weights(v, 2).mul(FloatVector.fromArray(S, x, x0 + g + 2 * L)));
            acc = last.fma(scale(w, row + k, g + 2 * L), first.fma(scale(w, row + k, g), acc));
        }
        return acc.reduceLanes(VectorOperators.ADD) + tail(x, x0, k, bound, w, row);
    }

    /** Σ x·w over the weights {@code [from, k)} of the row at byte {@code row}, one at a time. */
    private static float tail(float[] x, int x0, int k, int from, MemorySegment w, long row) {
        float sum = 0;
        for (int i = from; i < k; i++) {
            sum += x[x0 + i] * w.get(ValueLayout.JAVA_BYTE, row + i) * scaleOf(w, row + k, i);
        }
        return sum;
    }

    /** The scale of weight {@code i}'s block, broadcast. */
    private static FloatVector scale(MemorySegment w, long scales, int i) {
        return FloatVector.broadcast(S, w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, scales + (long) (i / BLOCK) * Float.BYTES));
    }
}
