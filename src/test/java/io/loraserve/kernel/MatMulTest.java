package io.loraserve.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.tensor.Tensors;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link MatMul} against libtorch on random shapes, float32 and bfloat16 weights: token rows below,
 * at and past the 4×4 tile and the 64-row block, inner sizes with and without a vector tail, weight
 * rows not a multiple of four, one to three threads.
 */
class MatMulTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);

    @ParameterizedTest(name = "rows {0}, k {1}, n {2}, threads {3}")
    @CsvSource({
        "1, 576, 960, 2", "1, 17, 7, 1", "3, 64, 130, 2", "1, 40, 29, 2", "2, 576, 1000, 3", "4, 100, 64, 3", "5, 33, 129, 2",
        "16, 576, 576, 2", "16, 1536, 37, 1", "67, 48, 301, 2", "130, 96, 70, 3", "2, 1, 1, 2"})
    @SuppressWarnings("try")  // the PointerScope owns the tensors; the body need not name it
    void linearEqualsTorchLinear(int rows, int k, int n, int threads) {
        Random random = new Random(31L * rows + 7L * k + n);
        float[] x = randoms(random, rows * k);
        float[] w = randoms(random, n * k);
        try (PointerScope scope = new PointerScope(); Parallel pool = new Parallel(threads)) {
            Tensor wt = Tensors.newFloats(w, CPU, n, k);                                          // [n, k]
            float[] expected = Tensors.toFloats(torch.linear(Tensors.newFloats(x, CPU, rows, k), wt));  // [rows, n]
            assertLinear(expected, pool, x, rows, new Matrix(Tensors.memory(wt), n, k, Matrix.Precision.FLOAT32));

            // bfloat16 weights: the product of the rounded weights, widened exactly, in float32
            Tensor bf = wt.to(ScalarType.BFloat16);
            float[] roundedExpected = Tensors.toFloats(torch.linear(Tensors.newFloats(x, CPU, rows, k),
                    bf.to(ScalarType.Float)));
            assertLinear(roundedExpected, pool, x, rows, new Matrix(Tensors.memory(bf), n, k, Matrix.Precision.BFLOAT16));
        }
    }

    private static void assertLinear(float[] expected, Parallel pool, float[] x, int rows, Matrix w) {
        int n = w.rows();
        float[] got = new float[rows * n];
        MatMul.linear(pool, x, rows, w, got);
        for (int i = 0; i < got.length; i++) {
            assertEquals(expected[i], got[i], 1e-5 * (1 + Math.abs(expected[i])) * Math.sqrt(w.cols()),
                    w.precision() + " row " + i / n + " column " + i % n);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(ints = {1, 2, 3, 4, 5, 6})
    void addProductEqualsNaiveSumAndSkipsNothingButZeros(int seed) {
        Random random = new Random(seed);
        int rows = 1 + random.nextInt(9);
        int aStride = 8 + random.nextInt(40);
        int r0 = random.nextInt(4);
        int rank = 1 + random.nextInt(aStride - r0 - 1);
        int bStride = 20 + random.nextInt(60);
        int c0 = random.nextInt(10);
        int cols = 1 + random.nextInt(bStride - c0);
        int outRow0 = random.nextInt(3);
        float[] a = randoms(random, rows * aStride);
        a[r0] = 0f;  // zero coefficients, in the middle and trailing (a padded rank), change nothing
        for (int m = 0; m < rows; m++) {
            a[m * aStride + r0 + rank - 1] = 0f;
        }
        float[] b = randoms(random, (r0 + rank) * bStride);
        float[] out = randoms(random, (outRow0 + rows) * bStride);
        float[] expected = out.clone();
        for (int m = 0; m < rows; m++) {
            for (int j = 0; j < cols; j++) {
                double s = expected[(outRow0 + m) * bStride + c0 + j];
                for (int r = r0; r < r0 + rank; r++) {
                    s += (double) a[m * aStride + r] * b[r * bStride + c0 + j];
                }
                expected[(outRow0 + m) * bStride + c0 + j] = (float) s;
            }
        }
        MatMul.addProduct(a, rows, aStride, r0, rank, MemorySegment.ofArray(b), bStride, c0, cols, out, outRow0,
                bStride);
        for (int i = 0; i < out.length; i++) {
            assertEquals(expected[i], out[i], 1e-5 * (1 + Math.abs(expected[i])), "element " + i);
        }
    }

    static float[] randoms(Random random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian());
        }
        return v;
    }
}
