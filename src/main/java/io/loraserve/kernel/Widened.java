package io.loraserve.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The batched product over weights stored narrower than float32 ({@link Bf16}, {@link Int8}): a
 * block of weight rows is widened to float32 once, into this thread's scratch, and MatMul's float32
 * tiles multiply every token row with it from the cache. A batched product reads each block once
 * per four token rows, so widening it once costs less than widening it in every tile (and widening
 * inside 4x4 tiles exceeds C2's inlining budget, which boxes their vectors: 6x slower).
 */
final class Widened {
    /** Weight rows widened at once: a 256 KiB float32 block, as MatMul's read-ahead. */
    private static final long BLOCK_BYTES = 256 << 10;
    /**
     * Each thread's widened block. Native like the weights, so MatMul's tiles only ever see one kind
     * of segment (a heap segment beside native ones made them polymorphic). Lifetime: the thread's;
     * an automatic arena frees it when the thread and its block are gone.
     */
    private static final ThreadLocal<MemorySegment> SCRATCH = ThreadLocal.withInitial(() -> MemorySegment.NULL);

    /** Writes weight rows {@code [row, row + count)} as float32 {@code [count, k]} into {@code block}. */
    interface Widener {
        void widen(int row, int count, MemorySegment block);
    }

    private Widened() {
    }

    /**
     * {@code y[m, j] = Σ_i x[m, i]·w[j, i]} for the weight rows {@code [j0, j1)} and every token row,
     * {@code w} read through {@code widener}.
     *
     * @param x [rows, k]
     * @param y [rows, n], columns {@code [j0, j1)} overwritten
     */
    static void linearRows(float[] x, int rows, int k, int n, float[] y, int j0, int j1, Widener widener) {
        int blockRows = Math.max(4, (int) (BLOCK_BYTES / ((long) k * Float.BYTES)) / 4 * 4);
        for (int b0 = j0; b0 < j1; b0 += blockRows) {
            int b1 = Math.min(j1, b0 + blockRows);
            MemorySegment block = scratch((long) (b1 - b0) * k);  // [b1 - b0, k] float32
            widener.widen(b0, b1 - b0, block);
            int jb = b0;
            for (; jb + 4 <= b1; jb += 4) {
                int m = 0;
                for (; m + 4 <= rows; m += 4) {
                    MatMul.tile4x4(x, m, k, block, jb - b0, y, n, jb);
                }
                for (; m < rows; m++) {
                    MatMul.tile1x4(x, m, k, block, jb - b0, y, n, jb);
                }
            }
            for (; jb < b1; jb++) {
                for (int m = 0; m < rows; m++) {
                    y[m * n + jb] = MatMul.dot(x, m * k, block, (long) (jb - b0) * k, k);
                }
            }
        }
    }

    /** This thread's scratch as {@code floats} float32 elements, valid until its next call. */
    private static MemorySegment scratch(long floats) {
        MemorySegment block = SCRATCH.get();
        if (block.byteSize() < floats * Float.BYTES) {
            block = Arena.ofAuto().allocate(floats * Float.BYTES, 64);
            SCRATCH.set(block);
        }
        return block.asSlice(0, floats * Float.BYTES);
    }
}
