package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Decode-shaped matrix products over float32, bfloat16 or int8 weights ({@link Matrix}; the
 * bfloat16 and int8 tiles are {@link Bf16}'s and {@link Int8}'s) in native memory, activations in float32 Java arrays. {@link #linear} is {@code torch.linear(x, w)}: the weight
 * is read row by row, four rows at a time, each loaded vector multiplied into up to four token
 * rows, so one pass over the weights serves four tokens and a decode step (1–32 tokens) streams
 * the weights from memory once per four tokens instead of once per token.
 *
 * <p>Measured against libtorch's OpenBLAS on 2 cores (SmolLM-135M shapes, one token): 3–6 GB/s of
 * weights for {@code torch.linear}, 25–35 GB/s here.
 */
public final class MatMul {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Weight rows a chunk of work takes at least (a chunk is a fork's unit: see {@link Parallel}). */
    private static final int MIN_CHUNK_ROWS = 32;
    /**
     * Token rows multiplied against one weight chunk before the next row block: a prefill's
     * activations would not fit the core's L2 cache whole, a block of this many rows does, so the
     * weight chunk is re-read (from L2) once per block instead of every token row from L3.
     */
    private static final int ROW_BLOCK = 64;
    /** Weights read ahead into the cache per block of a batched product (L2 holds it beside the token rows). */
    private static final long BLOCK_BYTES = 256 << 10;
    /** Floats in a 64-byte cache line. */
    private static final int LINE = 16;
    /** Largest slice of weights a kernel addresses with int offsets (see {@link #load}). */
    private static final long MAX_CHUNK_BYTES = 1L << 30;

    private MatMul() {
    }

    /**
     * {@code y[m, j] = Σ_i x[m, i]·w[j, i]} for {@code m < rows}, {@code j < w.rows()}; a bfloat16
     * or int8 {@code w} is {@link Bf16}'s or {@link Int8}'s.
     *
     * @param x [rows, w.cols()] row-major
     * @param y [rows, w.rows()] row-major, overwritten
     */
    public static void linear(Parallel pool, float[] x, int rows, Matrix w, float[] y) {
        switch (w.precision()) {
            case BFLOAT16 -> Bf16.linear(pool, x, rows, w, y);
            case INT8 -> Int8.linear(pool, x, rows, w, y);
            case FLOAT32 -> linear(pool, x, rows, w.cols(), w.memory(), w.rows(), y);
        }
    }

    /** Chunks a product of {@code n} weight rows of {@code bytes} in all get split into (see {@link Parallel}). */
    static int chunks(Parallel pool, int n, long bytes) {
        return (int) Math.max(Math.max(1, Math.min(pool.threads() * 8, n / MIN_CHUNK_ROWS)),
                bytes / MAX_CHUNK_BYTES + 1);
    }

    /**
     * {@link #linear(Parallel, float[], int, Matrix, float[])} on float32 weights.
     *
     * @param x [rows, k] row-major
     * @param w [n, k] row-major float32, little-endian
     * @param y [rows, n] row-major, overwritten
     */
    private static void linear(Parallel pool, float[] x, int rows, int k, MemorySegment w, int n, float[] y) {
        int chunks = chunks(pool, n, (long) n * k * Float.BYTES);
        pool.run(chunks, c -> linearRows(x, rows, k, w, n, y,
                Parallel.from(n, chunks, 8, c), Parallel.from(n, chunks, 8, c + 1)));
    }

    /** {@link #linear} for the weight rows {@code [j0, j1)} only, on the calling thread. */
    public static void linearRows(float[] x, int rows, int k, MemorySegment w, int n, float[] y, int j0, int j1) {
        MemorySegment chunk = rows(w, j0, j1 - j0, k);  // tiles address it with int offsets
        int j = j0;
        if (rows < 4) {  // decode-shaped: eight weight rows in flight per token row
            for (; j + 8 <= j1; j += 8) {
                for (int m = 0; m < rows; m++) {
                    tile1x8(x, m, k, w, j, y, n);
                }
            }
        }
        // Batched: a block of weight rows is read from memory once at full speed, then multiplied
        // from the cache into every token row; the tiles alone fetch weights too slowly to keep
        // the FMA units fed (16 rows of SmolLM-135M on 2 cores: 38.5 -> 32 ms of products a step).
        int blockRows = Math.max(4, (int) (BLOCK_BYTES / ((long) k * Float.BYTES)) / 4 * 4);
        for (int b0 = j; b0 < j1; b0 += blockRows) {
            int b1 = Math.min(j1, b0 + blockRows);
            if (rows >= 4) {
                touch(chunk, (b0 - j0) * k, (b1 - j0) * k);
            }
            for (int m0 = 0; m0 < rows; m0 += ROW_BLOCK) {
                int m1 = Math.min(rows, m0 + ROW_BLOCK);
                int jb = b0;
                for (; jb + 4 <= b1; jb += 4) {
                    int m = m0;
                    for (; m + 4 <= m1; m += 4) {
                        tile4x4(x, m, k, chunk, jb - j0, y, n, jb);
                    }
                    for (; m < m1; m++) {
                        tile1x4(x, m, k, chunk, jb - j0, y, n, jb);
                    }
                }
                for (; jb < b1; jb++) {
                    for (int m = m0; m < m1; m++) {
                        y[m * n + jb] = dot(x, m * k, w, (long) jb * k, k);
                    }
                }
            }
        }
    }

    /** Where {@link #touch} leaves its sum, so the JIT keeps the loads that bring a block into the cache. */
    @SuppressWarnings("unused")
    private static float touched;

    /** Reads elements {@code [from, to)} of {@code chunk}, one vector a cache line, so they are cached. */
    private static void touch(MemorySegment chunk, int from, int to) {
        FloatVector a = FloatVector.zero(S);
        FloatVector b = a;
        int i = from;
        for (; i + 2 * LINE <= to; i += 2 * LINE) {
            a = a.add(load(chunk, i));
            b = b.add(load(chunk, i + LINE));
        }
        touched = a.add(b).lane(0);
    }

    /**
     * A vector at {@code element} of a chunk of rows. Kernels address weights with int offsets into
     * a slice no larger than {@link #MAX_CHUNK_BYTES}: with long offsets the JIT keeps a bounds check
     * on every load, which halved the compute-bound tile's speed (67 vs 137 GFLOP/s on one core).
     */
    private static FloatVector load(MemorySegment chunk, int element) {
        return FloatVector.fromMemorySegment(S, chunk, element * Float.BYTES, LE);
    }

    /** Rows {@code [row, row + rows)} of a {@code [.., k]} float32 matrix. */
    private static MemorySegment rows(MemorySegment w, int row, int rows, int k) {
        return w.asSlice((long) row * k * Float.BYTES, (long) rows * k * Float.BYTES);
    }

    private static float weight(MemorySegment w, int element) {
        return w.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, element);
    }

    /** Four weight rows {@code j..j+3} times four token rows {@code m..m+3}: sixteen accumulators. */
    static void tile4x4(float[] x, int m, int k, MemorySegment w, int row, float[] y, int n, int j) {
        int w0 = row * k;
        int w1 = w0 + k;
        int w2 = w1 + k;
        int w3 = w2 + k;
        int x0 = m * k;
        int x1 = x0 + k;
        int x2 = x1 + k;
        int x3 = x2 + k;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int bound = S.loopBound(k);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector v0 = load(w, w0 + i);
            FloatVector v1 = load(w, w1 + i);
            FloatVector v2 = load(w, w2 + i);
            FloatVector v3 = load(w, w3 + i);
            FloatVector r = FloatVector.fromArray(S, x, x0 + i);
            a00 = v0.fma(r, a00);
            a01 = v1.fma(r, a01);
            a02 = v2.fma(r, a02);
            a03 = v3.fma(r, a03);
            r = FloatVector.fromArray(S, x, x1 + i);
            a10 = v0.fma(r, a10);
            a11 = v1.fma(r, a11);
            a12 = v2.fma(r, a12);
            a13 = v3.fma(r, a13);
            r = FloatVector.fromArray(S, x, x2 + i);
            a20 = v0.fma(r, a20);
            a21 = v1.fma(r, a21);
            a22 = v2.fma(r, a22);
            a23 = v3.fma(r, a23);
            r = FloatVector.fromArray(S, x, x3 + i);
            a30 = v0.fma(r, a30);
            a31 = v1.fma(r, a31);
            a32 = v2.fma(r, a32);
            a33 = v3.fma(r, a33);
        }
        store4(y, m * n + j, a00, a01, a02, a03, x, x0 + i, w, w0 + i, w1 + i, w2 + i, w3 + i, k - i);
        store4(y, (m + 1) * n + j, a10, a11, a12, a13, x, x1 + i, w, w0 + i, w1 + i, w2 + i, w3 + i, k - i);
        store4(y, (m + 2) * n + j, a20, a21, a22, a23, x, x2 + i, w, w0 + i, w1 + i, w2 + i, w3 + i, k - i);
        store4(y, (m + 3) * n + j, a30, a31, a32, a33, x, x3 + i, w, w0 + i, w1 + i, w2 + i, w3 + i, k - i);
    }

    /** Four weight rows {@code j..j+3} times one token row {@code m}, two accumulators a row to hide FMA latency. */
    static void tile1x4(float[] x, int m, int k, MemorySegment w, int row, float[] y, int n, int j) {
        int w0 = row * k;
        int w1 = w0 + k;
        int w2 = w1 + k;
        int w3 = w2 + k;
        int x0 = m * k;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int bound2 = k - k % (2 * L);
        int i = 0;
        for (; i < bound2; i += 2 * L) {
            FloatVector r = FloatVector.fromArray(S, x, x0 + i);
            FloatVector s = FloatVector.fromArray(S, x, x0 + i + L);
            a0 = load(w, w0 + i).fma(r, a0);
            a1 = load(w, w1 + i).fma(r, a1);
            a2 = load(w, w2 + i).fma(r, a2);
            a3 = load(w, w3 + i).fma(r, a3);
            b0 = load(w, w0 + i + L).fma(s, b0);
            b1 = load(w, w1 + i + L).fma(s, b1);
            b2 = load(w, w2 + i + L).fma(s, b2);
            b3 = load(w, w3 + i + L).fma(s, b3);
        }
        for (; i < S.loopBound(k); i += L) {
            FloatVector r = FloatVector.fromArray(S, x, x0 + i);
            a0 = load(w, w0 + i).fma(r, a0);
            a1 = load(w, w1 + i).fma(r, a1);
            a2 = load(w, w2 + i).fma(r, a2);
            a3 = load(w, w3 + i).fma(r, a3);
        }
        store4(y, m * n + j, a0.add(b0), a1.add(b1), a2.add(b2), a3.add(b3),
                x, x0 + i, w, w0 + i, w1 + i, w2 + i, w3 + i, k - i);
    }

    /**
     * Eight weight rows {@code j..j+7} times one token row {@code m}: with one token the product
     * is bound by reading weights, and eight concurrent row streams read faster than four
     * (measured 12–13 % on 2 cores over a SmolLM-135M-sized set of matrices).
     */
    private static void tile1x8(float[] x, int m, int k, MemorySegment w, int j, float[] y, int n) {
        long w0 = (long) j * k;
        int x0 = m * k;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int bound = S.loopBound(k);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector r = FloatVector.fromArray(S, x, x0 + i);
            a0 = stream(w, w0 + i).fma(r, a0);
            a1 = stream(w, w0 + k + i).fma(r, a1);
            a2 = stream(w, w0 + 2L * k + i).fma(r, a2);
            a3 = stream(w, w0 + 3L * k + i).fma(r, a3);
            a4 = stream(w, w0 + 4L * k + i).fma(r, a4);
            a5 = stream(w, w0 + 5L * k + i).fma(r, a5);
            a6 = stream(w, w0 + 6L * k + i).fma(r, a6);
            a7 = stream(w, w0 + 7L * k + i).fma(r, a7);
        }
        float[] sums = {a0.reduceLanes(VectorOperators.ADD), a1.reduceLanes(VectorOperators.ADD),
            a2.reduceLanes(VectorOperators.ADD), a3.reduceLanes(VectorOperators.ADD),
            a4.reduceLanes(VectorOperators.ADD), a5.reduceLanes(VectorOperators.ADD),
            a6.reduceLanes(VectorOperators.ADD), a7.reduceLanes(VectorOperators.ADD)};
        for (int r = 0; r < 8; r++) {
            for (int t = i; t < k; t++) {
                sums[r] += x[x0 + t] * w.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, w0 + (long) r * k + t);
            }
            y[m * n + j + r] = sums[r];
        }
    }

    /**
     * A vector at {@code element} of the whole matrix. The memory-bound one-token kernel reads with
     * long offsets: there the int-offset form of {@link #load} measured slower (13.3 vs 11.2 ms for a
     * SmolLM-135M step of products on 2 cores).
     */
    private static FloatVector stream(MemorySegment w, long element) {
        return FloatVector.fromMemorySegment(S, w, element * Float.BYTES, LE);
    }

    /** Reduces four accumulators into {@code y[at..at+3]}, adding the scalar tail of {@code tail} elements. */
    private static void store4(float[] y, int at, FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3,
                               float[] x, int xi, MemorySegment w, int w0, int w1, int w2, int w3, int tail) {
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int t = 0; t < tail; t++) {
            float xv = x[xi + t];
            s0 += xv * weight(w, w0 + t);
            s1 += xv * weight(w, w1 + t);
            s2 += xv * weight(w, w2 + t);
            s3 += xv * weight(w, w3 + t);
        }
        y[at] = s0;
        y[at + 1] = s1;
        y[at + 2] = s2;
        y[at + 3] = s3;
    }

    /** {@code Σ_i x[xi + i]·w[wi + i]} for {@code i < k}. */
    static float dot(float[] x, int xi, MemorySegment matrix, long wi, int k) {
        MemorySegment w = matrix.asSlice(wi * Float.BYTES, (long) k * Float.BYTES);  // int offsets: see load
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < S.loopBound(k); i += L) {
            acc = load(w, i).fma(FloatVector.fromArray(S, x, xi + i), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            s += x[xi + i] * weight(w, i);
        }
        return s;
    }

    /**
     * {@code out[m, c0 + j] += Σ_r a[m, r]·b[r, c0 + j]} for {@code m < rows}, {@code j < cols}: the
     * second GEMM of a LoRA bypass, restricted to the columns one projection owns. Four token rows
     * at a time keep their output slice in registers while the rank runs, so each loaded vector of
     * {@code b} serves four rows. Trailing ranks whose coefficients are all zero (a rank padded to
     * the slot's maximum) are not read.
     *
     * @param a   [rows, aStride], columns {@code [r0, r0 + rank)} used
     * @param b   [.., bStride] float32; rows {@code [r0, r0 + rank)} used
     * @param out [outRow0 + rows, outStride]; rows from {@code outRow0} are added into
     */
    public static void addProduct(float[] a, int rows, int aStride, int r0, int rank,
                                  MemorySegment matrix, int bStride, int c0, int cols,
                                  float[] out, int outRow0, int outStride) {
        MemorySegment b = matrix.asSlice((long) r0 * bStride * Float.BYTES, (long) rank * bStride * Float.BYTES);
        int m = 0;
        for (; m + 4 <= rows; m += 4) {
            addProduct4(a, m, aStride, r0, usedRank(a, m, 4, aStride, r0, rank), b, bStride, c0, cols, out,
                    (outRow0 + m) * outStride + c0, outStride);
        }
        for (; m < rows; m++) {
            int used = usedRank(a, m, 1, aStride, r0, rank);
            int o = (outRow0 + m) * outStride + c0;
            int j = 0;
            for (; j < S.loopBound(cols); j += L) {
                FloatVector acc = FloatVector.fromArray(S, out, o + j);
                for (int r = r0; r < r0 + used; r++) {
                    acc = load(b, (r - r0) * bStride + c0 + j).fma(FloatVector.broadcast(S, a[m * aStride + r]), acc);
                }
                acc.intoArray(out, o + j);
            }
            for (; j < cols; j++) {
                for (int r = r0; r < r0 + used; r++) {
                    out[o + j] += a[m * aStride + r] * weight(b, (r - r0) * bStride + c0 + j);
                }
            }
        }
    }

    /** How many of the ranks from {@code r0} are left once trailing all-zero coefficients of these rows are dropped. */
    private static int usedRank(float[] a, int m, int rows, int aStride, int r0, int rank) {
        int used = rank;
        while (used > 0) {
            boolean zero = true;
            for (int i = m; i < m + rows; i++) {
                zero &= a[i * aStride + r0 + used - 1] == 0f;
            }
            if (!zero) {
                break;
            }
            used--;
        }
        return used;
    }

    private static void addProduct4(float[] a, int m, int aStride, int r0, int rank, MemorySegment b, int bStride,
                                    int c0, int cols, float[] out, int o, int outStride) {
        int a0 = m * aStride;
        int a1 = a0 + aStride;
        int a2 = a1 + aStride;
        int a3 = a2 + aStride;
        int j = 0;
        for (; j < S.loopBound(cols); j += L) {
            FloatVector s0 = FloatVector.fromArray(S, out, o + j);
            FloatVector s1 = FloatVector.fromArray(S, out, o + outStride + j);
            FloatVector s2 = FloatVector.fromArray(S, out, o + 2 * outStride + j);
            FloatVector s3 = FloatVector.fromArray(S, out, o + 3 * outStride + j);
            for (int r = r0; r < r0 + rank; r++) {
                FloatVector bv = load(b, (r - r0) * bStride + c0 + j);
                s0 = bv.fma(FloatVector.broadcast(S, a[a0 + r]), s0);
                s1 = bv.fma(FloatVector.broadcast(S, a[a1 + r]), s1);
                s2 = bv.fma(FloatVector.broadcast(S, a[a2 + r]), s2);
                s3 = bv.fma(FloatVector.broadcast(S, a[a3 + r]), s3);
            }
            s0.intoArray(out, o + j);
            s1.intoArray(out, o + outStride + j);
            s2.intoArray(out, o + 2 * outStride + j);
            s3.intoArray(out, o + 3 * outStride + j);
        }
        for (; j < cols; j++) {
            for (int r = r0; r < r0 + rank; r++) {
                float bv = weight(b, (r - r0) * bStride + c0 + j);
                out[o + j] += a[a0 + r] * bv;
                out[o + outStride + j] += a[a1 + r] * bv;
                out[o + 2 * outStride + j] += a[a2 + r] * bv;
                out[o + 3 * outStride + j] += a[a3 + r] * bv;
            }
        }
    }
}
