package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.TestDevice;
import io.loraserve.tensor.OpCounter;
import io.loraserve.tensor.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.LongFunction;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The device sampler against the host sampler's semantics: greedy choices and logprobs equal to
 * {@link Sampler}'s, and drawn frequencies within 5 standard deviations of the double-precision
 * reference of {@link SamplerTest} (each of these comparisons fails by chance with probability
 * under 6e-7) over 40,000 draws, seeded rows the same whatever the batch, and the allowed-token mask.
 */
class DeviceSamplerTest {
    /** The same twelve logits as SamplerTest's. */
    private static final float[] LOGITS = {0.3f, 2.1f, -1.0f, 1.7f, 0.9f, 2.6f, -0.4f, 1.2f, 0.0f, -2.2f, 1.9f, 0.6f};
    private static final int ROWS = 4000;
    private static final int CALLS = 10;

    /** Samples each row of {@code logits} [rows.size(), vocab] on the test device. */
    @SuppressWarnings("try")
    private static Sampler.Sample[] sample(float[] logits, List<DeviceSampler.Row> rows) {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = Tensors.newFloats(logits, TestDevice.device(), rows.size(), logits.length / rows.size());
            return DeviceSampler.sample(t, rows);
        }
    }

    private static float[] repeat(float[] row, int n) {
        float[] out = new float[row.length * n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(row, 0, out, i * row.length, row.length);
        }
        return out;
    }

    private static DeviceSampler.Row row(SamplingParams p, long seed) {
        return new DeviceSampler.Row(p, seed, new int[0], new int[0], null);
    }

    @Test
    void greedyRowsTakeTheHostSamplersTokenAndReportItsLogprobs() {
        SplittableRandom r = new SplittableRandom(11);
        int vocab = 300;
        List<SamplingParams> params = List.of(
                SamplingParams.GREEDY.withLogprobs(3),
                SamplingParams.GREEDY,
                SamplingParams.GREEDY.withLogprobs(0).withLogitBias(Map.of(17, 3.0, 250, -100.0)),
                SamplingParams.GREEDY.withPresencePenalty(0.4).withFrequencyPenalty(0.3).withLogprobs(5),
                SamplingParams.GREEDY.withRepetitionPenalty(1.3).withLogprobs(2),
                SamplingParams.GREEDY.withPresencePenalty(-0.5).withFrequencyPenalty(0.2).withRepetitionPenalty(0.8)
                        .withLogprobs(1).withLogitBias(Map.of(3, 1.5)));
        for (int trial = 0; trial < 20; trial++) {
            float[] logits = new float[params.size() * vocab];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = r.nextInt(64) / 16f - 2;  // many ties: the first maximum must win
            }
            int[] prompt = r.ints(8, 0, vocab).toArray();
            int[] generated = r.ints(12, 0, 40).toArray();
            List<DeviceSampler.Row> rows = new ArrayList<>();
            for (SamplingParams p : params) {
                rows.add(new DeviceSampler.Row(p, r.nextLong(), prompt, p.penalized() ? generated : new int[0], null));
            }
            Sampler.Sample[] got = sample(logits, rows);
            for (int i = 0; i < params.size(); i++) {
                SamplingParams p = params.get(i);
                Sampler.Sample want = Sampler.sample(logits, i * vocab, vocab, p, new SplittableRandom(1), prompt,
                        p.penalized() ? generated : new int[0]);
                String where = "trial " + trial + " row " + i;
                assertEquals(want.token(), got[i].token(), where);
                if (p.logprobs() < 0) {
                    assertTrue(Float.isNaN(got[i].logprob()) && got[i].top().length == 0, where);
                    continue;
                }
                assertEquals(want.logprob(), got[i].logprob(), 1e-5, where);
                assertEquals(want.top().length, got[i].top().length, where);
                for (int j = 0; j < want.top().length; j++) {
                    assertEquals(want.top()[j].token(), got[i].top()[j].token(), where + " alternative " + j);
                    assertEquals(want.top()[j].logprob(), got[i].top()[j].logprob(), 1e-5, where + " alternative " + j);
                }
            }
        }
    }

    @ParameterizedTest(name = "temperature {0} top_p {1} top_k {2} min_p {3}")
    @CsvSource({"1.0, 1.0, -1, 0", "0.5, 1.0, -1, 0", "1.7, 1.0, -1, 0", "1.0, 1.0, 4, 0", "1.0, 0.6, -1, 0",
            "0.8, 0.9, 5, 0", "1.0, 1.0, -1, 0.3", "1.3, 0.95, 8, 0.1", "1.0, 1.0, 1, 0"})
    void drawsFollowTheTruncatedTemperedDistribution(double temperature, double topP, int topK, double minP) {
        SamplingParams p = SamplingParams.GREEDY.withTemperature(temperature).withTopP(topP).withTopK(topK)
                .withMinP(minP);
        assertFrequencies(LOGITS, SamplerTest.reference(LOGITS, temperature, topP, topK, minP),
                seed -> row(p, seed), 42);
    }

    /** Bias, then repetition, frequency and presence penalties, then the truncations: the host's order. */
    @Test
    void biasAndPenaltiesShapeTheDrawsInTheHostSamplersOrder() {
        SamplingParams p = SamplingParams.GREEDY.withTemperature(0.9).withTopP(0.9).withTopK(8).withMinP(0.05)
                .withPresencePenalty(0.3).withFrequencyPenalty(0.25).withRepetitionPenalty(1.4)
                .withLogitBias(Map.of(2, 2.5, 9, 1.0, 5, -0.7));
        int[] prompt = {1, 7, 9};
        int[] generated = {5, 5, 3, 10};
        float[] x = LOGITS.clone();
        p.logitBias().forEach((t, b) -> x[t] += b.floatValue());
        Set<Integer> seen = new HashSet<>();
        Arrays.stream(prompt).forEach(seen::add);
        Arrays.stream(generated).forEach(seen::add);
        for (int t : seen) {
            x[t] = (float) (x[t] > 0 ? x[t] / p.repetitionPenalty() : x[t] * p.repetitionPenalty());
        }
        int[] counts = new int[x.length];
        Arrays.stream(generated).forEach(t -> counts[t]++);
        for (int t = 0; t < x.length; t++) {
            if (counts[t] > 0) {
                x[t] -= (float) (p.frequencyPenalty() * counts[t] + p.presencePenalty());
            }
        }
        double[] expected = SamplerTest.reference(x, p.temperature(), p.topP(), p.topK(), p.minP());
        assertFrequencies(LOGITS, expected, s -> new DeviceSampler.Row(p, s, prompt, generated, null), 7);
    }

    /** Draws 40,000 tokens of rows {@code rowOfSeed} makes and compares their frequencies with {@code expected}. */
    private static void assertFrequencies(float[] logits, double[] expected, LongFunction<DeviceSampler.Row> rowOfSeed,
                                          long seed) {
        int vocab = logits.length;
        float[] batch = repeat(logits, ROWS);
        SplittableRandom seeds = new SplittableRandom(seed);
        int[] counts = new int[vocab];
        for (int call = 0; call < CALLS; call++) {
            List<DeviceSampler.Row> rows = new ArrayList<>();
            for (int i = 0; i < ROWS; i++) {
                rows.add(rowOfSeed.apply(seeds.nextLong()));
            }
            for (Sampler.Sample s : sample(batch, rows)) {
                counts[s.token()]++;
            }
        }
        int draws = ROWS * CALLS;
        for (int t = 0; t < vocab; t++) {
            if (expected[t] == 0) {
                assertEquals(0, counts[t], "token " + t + " is outside the truncated distribution");
            } else {
                double sd = Math.sqrt(expected[t] * (1 - expected[t]) / draws);
                assertEquals(expected[t], (double) counts[t] / draws, 5 * sd + 1e-9, "frequency of token " + t);
            }
        }
    }

    /** A seeded row's token depends on its seed and logits only, not on its place or neighbours in the batch. */
    @Test
    void aSeededRowDrawsTheSameWhateverTheBatch() {
        SamplingParams p = SamplingParams.GREEDY.withTemperature(1.0).withTopP(0.95).withLogprobs(2);
        SplittableRandom r = new SplittableRandom(3);
        Set<Integer> tokens = new HashSet<>();
        for (int trial = 0; trial < 100; trial++) {
            long seed = r.nextLong();
            int alone = sample(LOGITS, List.of(row(p, seed)))[0].token();
            float[] others = new float[LOGITS.length * 5];
            for (int i = 0; i < others.length; i++) {
                others[i] = (float) r.nextGaussian();
            }
            System.arraycopy(LOGITS, 0, others, 2 * LOGITS.length, LOGITS.length);
            List<DeviceSampler.Row> rows = List.of(row(SamplingParams.GREEDY, r.nextLong()),
                    row(SamplingParams.GREEDY.withTemperature(0.7).withTopK(3), r.nextLong()), row(p, seed),
                    row(SamplingParams.GREEDY.withTemperature(1.5).withTopP(0.5).withMinP(0.2)
                            .withLogprobs(4), r.nextLong()),
                    row(p, r.nextLong()));
            assertEquals(alone, sample(others, rows)[2].token(), "trial " + trial);
            tokens.add(alone);
        }
        assertTrue(tokens.size() > 3, "other seeds draw other tokens: " + tokens);
    }

    /** A row's allowed-token bitset bans everything else, for greedy and drawn rows alike, across 64-bit words. */
    @Test
    void theAllowedTokenMaskKeepsEveryChoiceInsideIt() {
        int vocab = 130;
        SplittableRandom r = new SplittableRandom(9);
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) r.nextGaussian();
        }
        int[] allowedIds = {5, 63, 64, 127, 129};
        long[] allowed = new long[3];
        for (int t : allowedIds) {
            allowed[t / 64] |= 1L << (t % 64);
        }
        logits[128] = 50;  // the unconstrained favourite, banned
        float[] masked = new float[vocab];
        Arrays.fill(masked, Float.NEGATIVE_INFINITY);
        int best = allowedIds[0];
        for (int t : allowedIds) {
            masked[t] = logits[t];
            best = logits[t] > logits[best] ? t : best;
        }
        List<DeviceSampler.Row> rows = List.of(new DeviceSampler.Row(SamplingParams.GREEDY, 1, new int[0], new int[0],
                allowed), new DeviceSampler.Row(SamplingParams.GREEDY, 1, new int[0], new int[0], null));
        Sampler.Sample[] greedy = sample(repeat(logits, 2), rows);
        assertEquals(best, greedy[0].token());
        assertEquals(128, greedy[1].token(), "a row without a mask is not constrained");
        SamplingParams drawn = SamplingParams.GREEDY.withTemperature(1.0);
        assertFrequencies(logits, SamplerTest.reference(masked, 1.0, 1.0, -1, 0),
                seed -> new DeviceSampler.Row(drawn, seed, new int[0], new int[0], allowed), 4);
    }

    /** One host sync a call, carrying only ids and logprobs: [rows, 2 + 2·top] float32, never the logits. */
    @Test
    @SuppressWarnings("try")
    void onlyTheSampledIdsAndRequestedLogprobsLeaveTheDevice() {
        int vocab = 1000;
        float[] logits = new float[3 * vocab];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) r.nextGaussian();
        }
        List<DeviceSampler.Row> rows = List.of(row(SamplingParams.GREEDY, 1),
                row(SamplingParams.GREEDY.withTemperature(0.8).withTopP(0.9).withTopK(40).withPresencePenalty(0.1)
                        .withRepetitionPenalty(1.1).withLogprobs(4).withLogitBias(Map.of(3, 1.0)), 2),
                row(SamplingParams.GREEDY.withTemperature(1).withLogprobs(1), 3));
        try (PointerScope scope = new PointerScope()) {
            Tensor t = Tensors.newFloats(logits, TestDevice.device(), 3, vocab);
            try (OpCounter c = OpCounter.open()) {
                Sampler.Sample[] s = DeviceSampler.sample(t, rows);
                assertEquals(1, c.syncs(), c.byName().toString());
                assertEquals(3 * (2 + 2 * 4) * Float.BYTES, c.syncBytes());
                assertArrayEquals(new int[] {-1, 4, 1}, Arrays.stream(s).mapToInt(x -> Float.isNaN(x.logprob()) ? -1
                        : x.top().length).toArray());
            }
        }
    }
}
