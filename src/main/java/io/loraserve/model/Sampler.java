package io.loraserve.model;

import io.loraserve.kernel.Scan;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Chooses the next token from one row of logits, in plain Java on a host copy.
 *
 * <p>Semantics (as vLLM): reported logprobs are the log-softmax of the raw logits, before
 * logit bias, penalties, temperature or truncation. Sampling applies the logit bias, then
 * penalties, then temperature, then top-k, top-p and min-p, and draws with the request's own
 * random stream, so a seeded request gives the same tokens whatever else is in the batch. Greedy
 * takes the first maximum.
 *
 * <p>Structured output: an {@code allowed} bitset (bit {@code id % 64} of word {@code id / 64},
 * from the request's constraint) sets every other token's logit to -infinity before anything
 * else, so only allowed tokens can be drawn; the reported logprobs stay those of the raw logits,
 * as vLLM reports them.
 */
public final class Sampler {
    private Sampler() {
    }

    /** One alternative token and its logprob. */
    public record Candidate(int token, float logprob) {
    }

    /** The chosen token, its logprob and the requested top alternatives (most likely first). */
    public record Sample(int token, float logprob, Candidate[] top) {
    }

    /**
     * @param logits    row-major logits; the row is {@code [offset, offset+vocab)}
     * @param generated tokens generated so far (for penalties); may be empty
     * @param prompt    prompt tokens (repetition penalty also looks at them, as vLLM does)
     */
    public static Sample sample(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng,
                                int[] prompt, int[] generated) {
        return sample(logits, offset, vocab, p, rng, prompt, generated, null);
    }

    /** As above, choosing only among the {@code allowed} tokens (null: all; else never empty). */
    public static Sample sample(float[] logits, int offset, int vocab, SamplingParams p, SplittableRandom rng,
                                int[] prompt, int[] generated, long[] allowed) {
        double logZ = p.logprobs() >= 0 ? logSumExp(logits, offset, vocab) : Double.NaN;
        float[] x = allowed == null ? logits : masked(logits, offset, vocab, allowed);
        int from = allowed == null ? offset : 0;
        int token = p.greedy() && !p.adjusted()
                ? argmax(x, from, vocab)
                : p.logitBias().isEmpty() && !p.penalized() ? draw(x, from, vocab, p, rng)
                : draw(processed(x, from, vocab, p, prompt, generated), 0, vocab, p, rng);
        if (p.logprobs() < 0) {
            return new Sample(token, Float.NaN, new Candidate[0]);
        }
        float lp = (float) (logits[offset + token] - logZ);
        return new Sample(token, lp, top(logits, offset, vocab, p.logprobs(), logZ));
    }

    /** A copy of the row with every token outside {@code allowed} at -infinity. */
    private static float[] masked(float[] logits, int offset, int vocab, long[] allowed) {
        float[] x = new float[vocab];
        java.util.Arrays.fill(x, Float.NEGATIVE_INFINITY);
        for (int w = 0; w < allowed.length; w++) {
            for (long bits = allowed[w]; bits != 0; bits &= bits - 1) {
                int id = (w << 6) + Long.numberOfTrailingZeros(bits);
                if (id < vocab) {
                    x[id] = logits[offset + id];
                }
            }
        }
        return x;
    }

    /** log p of every token of the row under the raw logits. */
    public static double logSumExp(float[] logits, int offset, int vocab) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return max + Math.log(sum);
    }

    /** The first id of the largest logit. */
    static int argmax(float[] logits, int offset, int vocab) {
        if (Kernels.vectorApi()) {
            float max = Scan.max(logits, offset, offset + vocab);
            int at = Scan.nextAtLeast(logits, offset, offset + vocab, max) - offset;
            return at < vocab ? at : 0;  // a row of NaN only: id 0, as the loop below gives
        }
        int best = 0;
        for (int i = 1; i < vocab; i++) {
            if (logits[offset + i] > logits[offset + best]) {
                best = i;
            }
        }
        return best;
    }

    private static float[] processed(float[] logits, int offset, int vocab, SamplingParams p,
                                     int[] prompt, int[] generated) {
        float[] x = Arrays.copyOfRange(logits, offset, offset + vocab);
        p.logitBias().forEach((token, bias) -> x[token] += bias.floatValue());
        if (!p.penalized()) {
            return x;
        }
        int[] counts = new int[vocab];
        for (int t : generated) {
            counts[t]++;
        }
        if (p.repetitionPenalty() != 1) {
            boolean[] seen = new boolean[vocab];
            for (int t : prompt) {
                seen[t] = true;
            }
            for (int t : generated) {
                seen[t] = true;
            }
            for (int i = 0; i < vocab; i++) {
                if (seen[i]) {
                    x[i] = (float) (x[i] > 0 ? x[i] / p.repetitionPenalty() : x[i] * p.repetitionPenalty());
                }
            }
        }
        for (int i = 0; i < vocab; i++) {
            if (counts[i] > 0) {
                x[i] -= (float) (p.frequencyPenalty() * counts[i] + p.presencePenalty());
            }
        }
        return x;
    }

    /**
     * Draws from the tempered distribution truncated by top-k, top-p and min-p. Candidates are
     * visited in descending logit order (ties: lower id first), but only as far as the draw needs:
     * {@link Descending} sorts a growing prefix, so a top-k of 50 or a peaked distribution never
     * sorts the vocabulary.
     */
    private static int draw(float[] x, int offset, int vocab, SamplingParams p, SplittableRandom rng) {
        if (p.greedy()) {
            return argmax(x, offset, vocab);
        }
        int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        Descending order = new Descending(x, offset, vocab, keep);
        double invT = 1.0 / p.temperature();
        double max = x[offset + order.get(0)] * invT;
        double sum = 0;  // over the kept tokens
        if (keep < vocab) {
            for (int i = 0; i < keep; i++) {
                sum += Math.exp(x[offset + order.get(i)] * invT - max);
            }
        } else {
            for (int i = offset; i < offset + vocab; i++) {
                sum += Math.exp(x[i] * invT - max);
            }
        }
        int cut = keep;
        double cutMass = sum;
        if (p.topP() < 1) {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                double prob = Math.exp(x[offset + order.get(i)] * invT - max);
                cumulative += prob / sum;
                if (cumulative >= p.topP()) {
                    cut = i + 1;
                    break;
                }
            }
        }
        if (p.minP() > 0) {
            double threshold = p.minP();  // the first candidate's probability is exp(0) = 1
            int i = 1;
            while (i < cut && Math.exp(x[offset + order.get(i)] * invT - max) >= threshold) {
                i++;
            }
            cut = i;
        }
        if (cut < keep) {
            cutMass = 0;
            for (int i = 0; i < cut; i++) {
                cutMass += Math.exp(x[offset + order.get(i)] * invT - max);
            }
        }
        double u = rng.nextDouble() * cutMass;
        for (int i = 0; i < cut; i++) {
            u -= Math.exp(x[offset + order.get(i)] * invT - max);
            if (u < 0) {
                return order.get(i);
            }
        }
        int last = cut - 1;  // rounding left u >= 0: the last candidate that has any weight (masked ones have none)
        while (last > 0 && x[offset + order.get(last)] == Float.NEGATIVE_INFINITY) {
            last--;
        }
        return order.get(last);
    }

    /**
     * The ids of the {@code limit} largest values of a row in descending order (ties: lower id
     * first), sorted lazily: asking for rank {@code i} sorts a prefix that covers it, four times
     * larger than the last, by selecting the prefix's members in one pass over the row.
     */
    static final class Descending {
        private static final int FIRST = 64;
        private final float[] x;
        private final int offset;
        private final int vocab;
        private final int limit;
        private int[] sorted = new int[0];

        /** Over the row {@code x[offset .. offset+vocab)}; ids are positions in the row. */
        Descending(float[] x, int offset, int vocab, int limit) {
            this.x = x;
            this.offset = offset;
            this.vocab = vocab;
            this.limit = limit;
        }

        int get(int rank) {
            if (rank >= sorted.length) {
                int size = sorted.length == 0 ? FIRST : sorted.length * 4;
                sorted = largest(Math.min(limit, Math.max(size, rank + 1)));
            }
            return sorted[rank];
        }

        /**
         * The {@code m} largest, in order: a bounded heap finds the m-th value, one pass collects
         * every value at least that large, a primitive sort orders them and ties beyond the m-th
         * fall off (lower ids first, as a stable sort keeps them).
         */
        private int[] largest(int m) {
            float threshold = m == vocab ? Float.NEGATIVE_INFINITY : mthLargest(m);
            long[] keys = new long[m];
            int n = 0;
            for (int id = next(0, threshold); id < vocab; id = next(id + 1, threshold)) {
                if (n == keys.length) {
                    keys = Arrays.copyOf(keys, 2 * n);
                }
                keys[n++] = key(id);
            }
            Arrays.sort(keys, 0, n);
            int[] ids = new int[Math.min(m, n)];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = (int) keys[i];
            }
            return ids;
        }

        /** The first id from {@code id} whose value is at least {@code t}, or {@code vocab}. */
        private int next(int id, float t) {
            if (Kernels.vectorApi()) {
                return Scan.nextAtLeast(x, offset + id, offset + vocab, t) - offset;
            }
            while (id < vocab && !(x[offset + id] >= t)) {
                id++;
            }
            return id;
        }

        /** Sorts ascending by (descending value, ascending id). */
        private long key(int id) {
            int bits = Float.floatToIntBits(-x[offset + id]);
            int ordered = bits ^ ((bits >> 31) & 0x7fffffff);  // signed-int order of the float's order
            return ((long) ordered << 32) | id;
        }

        private float mthLargest(int m) {
            float[] heap = new float[m];  // min-heap of the m largest seen
            for (int i = 0; i < m; i++) {
                heap[i] = x[offset + i];
                for (int c = i; c > 0 && heap[(c - 1) / 2] > heap[c]; c = (c - 1) / 2) {
                    float t = heap[c];
                    heap[c] = heap[(c - 1) / 2];
                    heap[(c - 1) / 2] = t;
                }
            }
            // only a value above the heap's least can enter; most of the row is skipped a vector at a time
            for (int id = next(m, Math.nextUp(heap[0])); id < vocab; id = next(id + 1, Math.nextUp(heap[0]))) {
                heap[0] = x[offset + id];
                for (int c = 0; ; ) {
                    int l = 2 * c + 1;
                    int r = l + 1;
                    int smallest = c;
                    if (l < m && heap[l] < heap[smallest]) {
                        smallest = l;
                    }
                    if (r < m && heap[r] < heap[smallest]) {
                        smallest = r;
                    }
                    if (smallest == c) {
                        break;
                    }
                    float t = heap[c];
                    heap[c] = heap[smallest];
                    heap[smallest] = t;
                    c = smallest;
                }
            }
            return heap[0];
        }
    }

    private static Candidate[] top(float[] logits, int offset, int vocab, int n, double logZ) {
        int k = Math.min(n, vocab);
        if (k == 0) {
            return new Candidate[0];
        }
        int[] best = new int[k];
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (size < k) {
                best[size++] = i;
            } else if (v > logits[offset + best[k - 1]]) {
                best[k - 1] = i;
            } else {
                continue;
            }
            for (int j = size - 1; j > 0 && logits[offset + best[j]] > logits[offset + best[j - 1]]; j--) {
                int tmp = best[j];
                best[j] = best[j - 1];
                best[j - 1] = tmp;
            }
        }
        Candidate[] out = new Candidate[k];
        for (int i = 0; i < k; i++) {
            out[i] = new Candidate(best[i], (float) (logits[offset + best[i]] - logZ));
        }
        return out;
    }
}
