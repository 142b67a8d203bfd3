package io.loraserve.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Int8}: the quantization keeps every weight within half its block's scale, and the int8
 * products equal a naive float64 product of the dequantized weights, read straight from the
 * documented layout (values of a row, then one float32 scale per 32), on random shapes: one to
 * three token rows (the register path), 4×4 tiles and the 64-row block, rows not a multiple of
 * four, one to three threads.
 */
class Int8Test {

    @Test
    void quantizedWeightsStayWithinHalfAScaleOfTheOriginals() {
        Random random = new Random(5);
        int rows = 7;
        int cols = 96;
        float[] w = MatMulTest.randoms(random, rows * cols);
        w[3] = 0;
        for (int i = 32; i < 64; i++) {
            w[i] = 0;  // an all-zero block: scale 0, values 0
        }
        w[cols + 5] = 40f;  // an outlier takes its block's scale, not the row's
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = quantize(arena, w, rows, cols);
            for (int r = 0; r < rows; r++) {
                for (int b = 0; b < cols / Int8.BLOCK; b++) {
                    float max = 0;
                    for (int i = 0; i < Int8.BLOCK; i++) {
                        max = Math.max(max, Math.abs(w[r * cols + b * Int8.BLOCK + i]));
                    }
                    float scale = scale(q, r, cols, b);
                    assertEquals(max / 127f, scale, 1e-7f * max, "block scale, row " + r + " block " + b);
                    for (int i = 0; i < Int8.BLOCK; i++) {
                        int at = b * Int8.BLOCK + i;
                        int value = q.get(ValueLayout.JAVA_BYTE, r * Int8.rowBytes(cols) + at);
                        assertTrue(value >= -127 && value <= 127);
                        assertEquals(w[r * cols + at], value * scale, scale / 2 * 1.0001 + 1e-12,
                                "row " + r + " weight " + at);
                    }
                }
            }
            assertEquals(0f, scale(q, 0, cols, 1));
            assertEquals(40f / 127f, scale(q, 1, cols, 0), 1e-6);
        }
    }

    @Test
    void rowBytesAndColsAreInverses() {
        assertEquals(576 + 18 * 4, Int8.rowBytes(576));
        assertEquals(576, Int8.cols(Int8.rowBytes(576)));
        assertEquals(32, Int8.cols(36));
        assertThrows(IllegalArgumentException.class, () -> Int8.cols(37));
        try (Arena arena = Arena.ofShared()) {
            assertThrows(IllegalArgumentException.class, () -> Int8.quantize(arena.allocate(40 * 4), 1, 40,
                    arena.allocate(100)));
        }
    }

    @ParameterizedTest(name = "rows {0}, k {1}, n {2}, threads {3}")
    @CsvSource({"1, 576, 960, 2", "1, 32, 7, 1", "2, 64, 130, 2", "3, 1536, 37, 3", "4, 96, 64, 3", "5, 32, 129, 2",
        "16, 576, 576, 2", "67, 64, 301, 2", "130, 96, 70, 3"})
    void linearEqualsTheProductOfTheDequantizedWeights(int rows, int k, int n, int threads) {
        Random random = new Random(17L * rows + 3L * k + n);
        float[] x = MatMulTest.randoms(random, rows * k);
        float[] w = MatMulTest.randoms(random, n * k);
        try (Arena arena = Arena.ofShared(); Parallel pool = new Parallel(threads)) {
            MemorySegment q = quantize(arena, w, n, k);
            float[] got = new float[rows * n];
            MatMul.linear(pool, x, rows, new Matrix(q, n, k, Matrix.Precision.INT8), got);
            for (int m = 0; m < rows; m++) {
                for (int j = 0; j < n; j++) {
                    double sum = 0;
                    for (int i = 0; i < k; i++) {
                        int value = q.get(ValueLayout.JAVA_BYTE, j * Int8.rowBytes(k) + i);
                        sum += (double) x[m * k + i] * value * scale(q, j, k, i / Int8.BLOCK);
                    }
                    assertEquals(sum, got[m * n + j], 1e-5 * (1 + Math.abs(sum)) * Math.sqrt(k),
                            "row " + m + " column " + j);
                }
            }
            float[] row = new float[k];
            new Matrix(q, n, k, Matrix.Precision.INT8).row(n - 1, row, 0);
            for (int i = 0; i < k; i++) {
                assertEquals(q.get(ValueLayout.JAVA_BYTE, (n - 1) * Int8.rowBytes(k) + i) * scale(q, n - 1, k,
                        i / Int8.BLOCK), row[i], "dequantized row element " + i);
            }
        }
    }

    private static MemorySegment quantize(Arena arena, float[] w, int rows, int cols) {
        MemorySegment in = arena.allocate((long) w.length * Float.BYTES, 64);
        MemorySegment.copy(w, 0, in, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, w.length);
        MemorySegment q = arena.allocate(rows * Int8.rowBytes(cols), 64);
        Int8.quantize(in, rows, cols, q);
        return q;
    }

    /** Block {@code b}'s scale of row {@code r}, where the layout puts it: after the row's values. */
    private static float scale(MemorySegment q, int r, int cols, int b) {
        return q.get(ValueLayout.JAVA_FLOAT_UNALIGNED, r * Int8.rowBytes(cols) + cols + 4L * b);
    }
}
