package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The sampler against a naive statement of vLLM's semantics written here in double precision:
 * logit bias, then penalties, then temperature, top-k, top-p (on the top-k distribution), min-p
 * (relative to the most likely token); logprobs always from the raw logits.
 */
class SamplerTest {
    /** Twelve tokens with distinct logits, not in sorted order. */
    private static final float[] LOGITS = {0.3f, 2.1f, -1.0f, 1.7f, 0.9f, 2.6f, -0.4f, 1.2f, 0.0f, -2.2f, 1.9f, 0.6f};
    private static final int DRAWS = 200_000;

    private static SamplingParams params(double temperature, double topP, int topK, double minP) {
        return SamplingParams.GREEDY.withTemperature(temperature).withTopP(topP).withTopK(topK).withMinP(minP);
    }

    @Test
    void greedyTakesTheFirstMaximum() {
        float[] logits = {1f, 3f, 3f, 2f};
        assertEquals(1, Sampler.sample(logits, 0, 4, SamplingParams.GREEDY, new SplittableRandom(1), new int[0],
                new int[0]).token());
        float[] twoRows = {9f, 9f, 9f, 9f, 1f, 3f, 3f, 2f};
        assertEquals(1, Sampler.sample(twoRows, 4, 4, SamplingParams.GREEDY, new SplittableRandom(1), new int[0],
                new int[0]).token(), "reads its own row");
    }

    /**
     * An allowed-token mask (structured output): draws only among the allowed tokens, in the
     * proportions of their tempered probabilities renormalised, greedy takes the best allowed one,
     * and the reported logprob is still the raw log-softmax over the whole row.
     */
    @Test
    void allowedMaskRestrictsTheDrawAndLeavesLogprobsRaw() {
        long[] allowed = {(1L << 0) | (1L << 4) | (1L << 9)};  // logits 0.3, 0.9, -2.2
        SamplingParams greedy = SamplingParams.GREEDY.withLogprobs(0);
        Sampler.Sample best = Sampler.sample(LOGITS, 0, LOGITS.length, greedy, new SplittableRandom(1), new int[0],
                new int[0], allowed);
        assertEquals(4, best.token());
        assertEquals(0.9 - Sampler.logSumExp(LOGITS, 0, LOGITS.length), best.logprob(), 1e-6);
        SamplingParams sampled = SamplingParams.GREEDY.withTemperature(1).withTopK(5);
        int[] counts = new int[LOGITS.length];
        SplittableRandom rng = new SplittableRandom(5);
        int draws = DRAWS / 10;
        for (int i = 0; i < draws; i++) {
            counts[Sampler.sample(LOGITS, 0, LOGITS.length, sampled, rng, new int[0], new int[0], allowed).token()]++;
        }
        double z = Math.exp(0.3) + Math.exp(0.9) + Math.exp(-2.2);
        for (int t = 0; t < LOGITS.length; t++) {
            double expected = (t == 0 ? Math.exp(0.3) : t == 4 ? Math.exp(0.9) : t == 9 ? Math.exp(-2.2) : 0) / z;
            double sd = Math.sqrt(expected * (1 - expected) / draws);
            assertEquals(expected, (double) counts[t] / draws, 5 * sd + 1e-9, "frequency of token " + t);
        }
    }

    /** Every draw lands where the reference distribution allows, with the reference's frequency. */
    @ParameterizedTest(name = "temperature {0} top_p {1} top_k {2} min_p {3}")
    @CsvSource({"1.0, 1.0, -1, 0", "0.5, 1.0, -1, 0", "1.7, 1.0, -1, 0", "1.0, 1.0, 4, 0", "1.0, 0.6, -1, 0",
            "0.8, 0.9, 5, 0", "1.0, 1.0, -1, 0.3", "1.3, 0.95, 8, 0.1", "1.0, 1.0, 1, 0"})
    void drawsFollowTheTruncatedTemperedDistribution(double temperature, double topP, int topK, double minP) {
        SamplingParams p = params(temperature, topP, topK, minP);
        double[] expected = reference(LOGITS, temperature, topP, topK, minP);
        int[] counts = new int[LOGITS.length];
        SplittableRandom rng = new SplittableRandom(42);
        for (int i = 0; i < DRAWS; i++) {
            counts[Sampler.sample(LOGITS, 0, LOGITS.length, p, rng, new int[0], new int[0]).token()]++;
        }
        for (int t = 0; t < LOGITS.length; t++) {
            double f = (double) counts[t] / DRAWS;
            if (expected[t] == 0) {
                assertEquals(0, counts[t], "token " + t + " is outside the truncated distribution");
            } else {
                double sd = Math.sqrt(expected[t] * (1 - expected[t]) / DRAWS);
                assertEquals(expected[t], f, 5 * sd + 1e-9, "frequency of token " + t);
            }
        }
    }

    /** presence and frequency subtract per generated occurrence; repetition divides (x > 0) or multiplies seen tokens. */
    @Test
    void penaltiesChangeTheGreedyChoiceAsVllmDefinesThem() {
        float[] logits = {2.0f, 1.8f, 1.0f};
        int[] generated = {0, 0};
        assertEquals(0, greedy(logits, penalties(0, 0, 1), new int[0], generated));
        assertEquals(1, greedy(logits, penalties(0.3, 0, 1), new int[0], generated), "2.0 - 0.3 < 1.8");
        assertEquals(0, greedy(logits, penalties(0.1, 0, 1), new int[0], generated), "2.0 - 0.1 > 1.8");
        assertEquals(1, greedy(logits, penalties(0, 0.15, 1), new int[0], generated), "2.0 - 2 * 0.15 < 1.8");
        assertEquals(1, greedy(logits, penalties(0, 0, 1.2), new int[0], new int[] {0}), "2.0 / 1.2 < 1.8");
        assertEquals(1, greedy(logits, penalties(0, 0, 1.2), new int[] {0}, new int[0]), "the prompt counts too");
        float[] negative = {-1.0f, -1.1f, -3.0f};
        assertEquals(1, greedy(negative, penalties(0, 0, 1.2), new int[] {0}, new int[0]), "-1.0 * 1.2 < -1.1");
    }

    @Test
    void logitBiasIsAddedBeforePenaltiesAndCanForceOrBanATokenForever() {
        float[] logits = {2.0f, 2.5f, 0.0f};
        SamplingParams biasAndRepetition = SamplingParams.GREEDY.withRepetitionPenalty(2).withLogitBias(Map.of(0, 2.0));
        assertEquals(1, greedy(logits, biasAndRepetition, new int[] {0}, new int[0]),
                "(2.0 + 2) / 2 < 2.5, where bias after the penalty would give 2.0 / 2 + 2 > 2.5");
        SamplingParams force = SamplingParams.GREEDY.withTemperature(1.5).withLogitBias(Map.of(2, 100.0));
        SamplingParams ban = SamplingParams.GREEDY.withLogitBias(Map.of(1, -100.0));
        SplittableRandom rng = new SplittableRandom(5);
        for (int i = 0; i < 1000; i++) {
            assertEquals(2, Sampler.sample(logits, 0, 3, force, rng, new int[0], new int[0]).token());
        }
        assertEquals(0, greedy(logits, ban, new int[0], new int[0]));
    }

    /** Reported logprobs are the raw log-softmax, whatever bias, penalty, temperature or truncation chose the token. */
    @Test
    void logprobsAreTheRawLogSoftmax() {
        SamplingParams p = SamplingParams.GREEDY.withTemperature(0.7).withTopP(0.8).withTopK(5).withMinP(0.05)
                .withPresencePenalty(0.5).withFrequencyPenalty(0.2).withRepetitionPenalty(1.3).withLogprobs(3)
                .withLogitBias(Map.of(9, 50.0));
        Sampler.Sample s = Sampler.sample(LOGITS, 0, LOGITS.length, p, new SplittableRandom(3), new int[] {5},
                new int[] {1, 1});
        double[] raw = logSoftmax(LOGITS);
        assertEquals(9, s.token(), "the bias of 50 wins");
        assertEquals(raw[9], s.logprob(), 1e-6);
        Integer[] order = IntStream.range(0, LOGITS.length).boxed().sorted(Comparator.comparingDouble(t -> -raw[t]))
                .toArray(Integer[]::new);
        assertEquals(3, s.top().length);
        for (int i = 0; i < 3; i++) {
            assertEquals(order[i], s.top()[i].token());
            assertEquals(raw[order[i]], s.top()[i].logprob(), 1e-6);
        }
    }

    @Test
    void aSeedGivesTheSameDrawsAndAnotherSeedOtherDraws() {
        SamplingParams p = params(1.0, 1.0, -1, 0);
        int[] first = draws(p, 7);
        assertArrayEquals(first, draws(p, 7));
        assertTrue(!Arrays.equals(first, draws(p, 8)), "another seed, other draws");
    }

    private static int[] draws(SamplingParams p, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        return IntStream.range(0, 50).map(i -> Sampler.sample(LOGITS, 0, LOGITS.length, p, rng, new int[0],
                new int[0]).token()).toArray();
    }

    private static SamplingParams penalties(double presence, double frequency, double repetition) {
        return SamplingParams.GREEDY.withPresencePenalty(presence).withFrequencyPenalty(frequency)
                .withRepetitionPenalty(repetition);
    }

    private static int greedy(float[] logits, SamplingParams p, int[] prompt, int[] generated) {
        return Sampler.sample(logits, 0, logits.length, p, new SplittableRandom(1), prompt, generated).token();
    }

    static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        double logZ = max + Math.log(sum);
        double[] out = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            out[i] = logits[i] - logZ;
        }
        return out;
    }

    /** The probability of each token under temperature, then top-k, top-p and min-p, renormalized. */
    static double[] reference(float[] logits, double temperature, double topP, int topK, double minP) {
        int vocab = logits.length;
        List<Integer> order = new ArrayList<>(IntStream.range(0, vocab).boxed().toList());
        order.sort(Comparator.comparingDouble(t -> -logits[t]));
        int keep = topK > 0 ? Math.min(topK, vocab) : vocab;
        double[] p = new double[vocab];
        double z = 0;
        for (int i = 0; i < keep; i++) {
            z += Math.exp(logits[order.get(i)] / temperature);
        }
        for (int i = 0; i < keep; i++) {
            p[order.get(i)] = Math.exp(logits[order.get(i)] / temperature) / z;
        }
        double cumulative = 0;
        int cut = keep;
        for (int i = 0; i < keep; i++) {
            cumulative += p[order.get(i)];
            if (cumulative >= topP) {
                cut = i + 1;
                break;
            }
        }
        double top = p[order.get(0)];
        double total = 0;
        for (int i = 0; i < vocab; i++) {
            int t = order.get(i);
            if (i >= cut || p[t] < minP * top) {
                p[t] = 0;
            }
            total += p[t];
        }
        for (int t = 0; t < vocab; t++) {
            p[t] /= total;
        }
        return p;
    }

    /** The lazily sorted candidate order is a full sort's prefix, ties broken by the lower id, at any depth asked. */
    @Test
    void descendingOrderIsTheFullSortsPrefix() {
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[5000];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextInt(400) / 8f - 25;  // many ties
        }
        x[17] = Float.NEGATIVE_INFINITY;  // a token banned by logit bias
        Integer[] sorted = IntStream.range(0, x.length).boxed().toArray(Integer[]::new);
        Arrays.sort(sorted, (a, b) -> Float.compare(x[b], x[a]));  // stable: lower id first among ties
        float[] row = new float[x.length + 9];  // the row inside a batch's logits, other rows around it
        Arrays.fill(row, 100f);
        System.arraycopy(x, 0, row, 7, x.length);
        for (int limit : new int[] {1, 50, 64, 65, 300, 4999, 5000}) {
            Sampler.Descending order = new Sampler.Descending(row, 7, x.length, limit);
            for (int i = 0; i < limit; i++) {
                assertEquals(sorted[i], order.get(i), "limit " + limit + " rank " + i);
            }
        }
    }
}
