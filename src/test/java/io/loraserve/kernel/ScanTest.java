package io.loraserve.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link Scan} against plain loops on random rows, every start and end, vector tails included. */
class ScanTest {
    @Test
    void maxAndNextAtLeastEqualPlainLoops() {
        Random random = new Random(3);
        float[] x = new float[101];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextInt(40) - 20;
        }
        x[50] = Float.NaN;
        for (int from = 0; from < x.length; from += 7) {
            for (int to = from; to <= x.length; to += 5) {
                float max = Float.NEGATIVE_INFINITY;
                for (int i = from; i < to; i++) {
                    max = x[i] > max ? x[i] : max;
                }
                assertEquals(max, Scan.max(x, from, to), "max of [" + from + ", " + to + ")");
                for (float t : new float[] {-25, 0, 7.5f, 19, 30}) {
                    int first = from;
                    while (first < to && !(x[first] >= t)) {
                        first++;
                    }
                    assertEquals(first, Scan.nextAtLeast(x, from, to, t), "first >= " + t + " in [" + from + ", " + to + ")");
                }
            }
        }
    }
}
