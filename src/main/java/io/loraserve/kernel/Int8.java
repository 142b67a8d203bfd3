package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
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
    /** Bytes the width of a float vector's lanes (none below 64-bit byte vectors: then no register path). */
    private static final VectorSpecies<Byte> B = L >= 8 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8))
            : null;
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
            for (int b = 0; b < k; b += BLOCK) {
                float scale = scale(w, at + k, b);
                int i = b;
                if (B != null) {
                    for (; i < b + BLOCK; i += L) {
                        values(w, at + i).mul(scale).intoMemorySegment(out, to + (long) i * Float.BYTES, LE);
                    }
                }
                for (; i < b + BLOCK; i++) {
                    out.set(ValueLayout.JAVA_FLOAT_UNALIGNED, to + (long) i * Float.BYTES,
                            w.get(ValueLayout.JAVA_BYTE, at + i) * scale);
                }
            }
        }
    }

    /** The scale of the block at weight {@code b} of the row whose scales start at {@code scales}. */
    private static float scale(MemorySegment w, long scales, int b) {
        return w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, scales + (long) (b / BLOCK) * Float.BYTES);
    }

    /** {@link #L} int8 values at byte {@code at}, as floats. */
    private static FloatVector values(MemorySegment w, long at) {
        return (FloatVector) ByteVector.fromMemorySegment(B, w, at, LE).convertShape(VectorOperators.B2F, S, 0);
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
     * through {@link #tile1x4}; the rest, and every batched product, go through {@link Widened}.
     */
    private static void linearRows(float[] x, int rows, Matrix w, float[] y, int j0, int j1) {
        int k = w.cols();
        int n = w.rows();
        int j = j0;
        if (rows < 4 && B != null) {
            for (; j + 4 <= j1; j += 4) {
                for (int m = 0; m < rows; m++) {
                    tile1x4(x, m, k, w.memory(), j, y, n);
                }
            }
        }
        Widened.linearRows(x, rows, k, n, y, j, j1, (row, count, block) -> dequantize(w.memory(), row, count, k, block));
    }

    /**
     * Four weight rows {@code j..j+3} times one token row {@code m}: the one-token product, bound by
     * reading weights. Each block's products are summed unscaled, then added times the block's
     * scale, so a weight costs a conversion and one multiply-add.
     */
    private static void tile1x4(float[] x, int m, int k, MemorySegment w, int j, float[] y, int n) {
        long stride = rowBytes(k);
        long r0 = j * stride;
        long r1 = r0 + stride;
        long r2 = r1 + stride;
        long r3 = r2 + stride;
        int x0 = m * k;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int b = 0; b < k; b += BLOCK) {
            FloatVector p0 = FloatVector.zero(S), p1 = p0, p2 = p0, p3 = p0;
            for (int i = b; i < b + BLOCK; i += L) {
                FloatVector xv = FloatVector.fromArray(S, x, x0 + i);
                p0 = values(w, r0 + i).fma(xv, p0);
                p1 = values(w, r1 + i).fma(xv, p1);
                p2 = values(w, r2 + i).fma(xv, p2);
                p3 = values(w, r3 + i).fma(xv, p3);
            }
            a0 = p0.fma(FloatVector.broadcast(S, scale(w, r0 + k, b)), a0);
            a1 = p1.fma(FloatVector.broadcast(S, scale(w, r1 + k, b)), a1);
            a2 = p2.fma(FloatVector.broadcast(S, scale(w, r2 + k, b)), a2);
            a3 = p3.fma(FloatVector.broadcast(S, scale(w, r3 + k, b)), a3);
        }
        y[m * n + j] = a0.reduceLanes(VectorOperators.ADD);
        y[m * n + j + 1] = a1.reduceLanes(VectorOperators.ADD);
        y[m * n + j + 2] = a2.reduceLanes(VectorOperators.ADD);
        y[m * n + j + 3] = a3.reduceLanes(VectorOperators.ADD);
    }
}
