package io.loraserve.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link PagedAttention} against a naive float64 causal attention with HF's {@code repeat_kv}: several
 * sequences of several tokens each, their keys and values in shuffled slots of the pool, head
 * dimensions on the four-vector block path (64, 128), with a tail (80) and below a vector (8).
 */
class PagedAttentionTest {
    @ParameterizedTest(name = "heads {0}, kvHeads {1}, headDim {2}, threads {3}")
    @CsvSource({"9, 3, 64, 2", "4, 4, 128, 1", "6, 2, 80, 2", "2, 1, 8, 3", "8, 2, 64, 1"})
    void attendEqualsNaiveCausalAttentionOverShuffledSlots(int heads, int kvHeads, int headDim, int threads) {
        Random random = new Random(heads * 1000L + headDim);
        int slots = 200;
        int[] contexts = {1, 37, 5, 120};
        int[] queries = {1, 3, 5, 1};  // each sequence's last tokens are the pass's queries
        List<Integer> free = new ArrayList<>();
        for (int s = 0; s < slots; s++) {
            free.add(s);
        }
        Collections.shuffle(free, random);
        float[] k = MatMulTest.randoms(random, slots * kvHeads * headDim);  // [slots, kvHeads, headDim]
        float[] v = MatMulTest.randoms(random, slots * kvHeads * headDim);
        int tokens = 0;
        for (int n : queries) {
            tokens += n;
        }
        int qStride = heads * headDim + 5;  // the query heads lead a wider row, as in the fused qkv output
        float[] q = MatMulTest.randoms(random, tokens * qStride);
        int[][] context = new int[tokens][];
        int[] visible = new int[tokens];
        int t = 0;
        int taken = 0;
        for (int s = 0; s < contexts.length; s++) {
            int[] ctx = new int[contexts[s]];
            for (int p = 0; p < ctx.length; p++) {
                ctx[p] = free.get(taken++);
            }
            for (int i = 0; i < queries[s]; i++, t++) {
                context[t] = ctx;
                visible[t] = contexts[s] - queries[s] + i + 1;
            }
        }
        double scale = 1 / Math.sqrt(headDim);
        float[] out = new float[tokens * heads * headDim];
        try (Parallel pool = new Parallel(threads)) {
            new PagedAttention(heads, kvHeads, headDim, scale).attend(pool, q, qStride, tokens,
                    MemorySegment.ofArray(k), MemorySegment.ofArray(v), context, visible, out);
        }
        for (t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int kvHead = h / (heads / kvHeads);
                double[] w = new double[visible[t]];
                double max = Double.NEGATIVE_INFINITY;
                for (int p = 0; p < w.length; p++) {
                    int at = (context[t][p] * kvHeads + kvHead) * headDim;
                    for (int d = 0; d < headDim; d++) {
                        w[p] += (double) q[t * qStride + h * headDim + d] * k[at + d];
                    }
                    w[p] *= scale;
                    max = Math.max(max, w[p]);
                }
                double sum = 0;
                for (int p = 0; p < w.length; p++) {
                    w[p] = Math.exp(w[p] - max);
                    sum += w[p];
                }
                for (int d = 0; d < headDim; d++) {
                    double expected = 0;
                    for (int p = 0; p < w.length; p++) {
                        expected += w[p] / sum * v[(context[t][p] * kvHeads + kvHead) * headDim + d];
                    }
                    assertEquals(expected, out[(t * heads + h) * headDim + d], 1e-5,
                            "token " + t + " head " + h + " dim " + d);
                }
            }
        }
    }
}
