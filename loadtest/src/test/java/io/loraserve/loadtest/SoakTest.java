package io.loraserve.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The soak's memory verdict: the least-squares RSS slope it compares with its bound. */
class SoakTest {

    @Test
    void slopeIsTheLeastSquaresRssGrowthPerMinute() {
        List<double[]> samples = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            double minute = i / 6.0;
            samples.add(new double[] {minute, 400 + 3 * minute + (i % 2 == 0 ? 0.5 : -0.5), 120, 40, 0, 300});
        }
        assertEquals(3.0, Soak.slope(samples), 0.2);
        List<double[]> flat = samples.stream().map(s -> new double[] {s[0], 400, 0, 0, 0, 0}).toList();
        assertEquals(0.0, Soak.slope(flat), 1e-9);
    }

    @Test
    void slopeIsUnknownWithoutTwoSamplesOrWithoutRss() {
        assertTrue(Double.isNaN(Soak.slope(List.of(new double[] {0, 400, 0, 0, 0, 0}))));
        assertTrue(Double.isNaN(Soak.slope(List.of(new double[] {0, Double.NaN, 0, 0, 0, 0},
                new double[] {1, Double.NaN, 0, 0, 0, 0}))));
    }
}
