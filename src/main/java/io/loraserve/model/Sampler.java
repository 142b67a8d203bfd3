package io.loraserve.model;

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
        double logZ = p.logprobs() >= 0 ? logSumExp(logits, offset, vocab) : Double.NaN;
        int token = p.greedy() && !p.adjusted()
                ? argmax(logits, offset, vocab)
                : draw(processed(logits, offset, vocab, p, prompt, generated), p, rng);
        if (p.logprobs() < 0) {
            return new Sample(token, Float.NaN, new Candidate[0]);
        }
        float lp = (float) (logits[offset + token] - logZ);
        return new Sample(token, lp, top(logits, offset, vocab, p.logprobs(), logZ));
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

    static int argmax(float[] logits, int offset, int vocab) {
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

    private static int draw(float[] x, SamplingParams p, SplittableRandom rng) {
        int vocab = x.length;
        if (p.greedy()) {
            return argmax(x, 0, vocab);
        }
        // Sort token ids by descending logit, once; top-k/top-p/min-p are prefixes of this order.
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(x[b], x[a]));
        int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        double max = x[order[0]] / p.temperature();
        double[] prob = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            prob[i] = Math.exp(x[order[i]] / p.temperature() - max);
            sum += prob[i];
        }
        int cut = keep;
        if (p.topP() < 1) {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += prob[i] / sum;
                if (cumulative >= p.topP()) {
                    cut = i + 1;
                    break;
                }
            }
        }
        if (p.minP() > 0) {
            double threshold = p.minP() * prob[0];
            int i = 1;
            while (i < cut && prob[i] >= threshold) {
                i++;
            }
            cut = i;
        }
        double total = 0;
        for (int i = 0; i < cut; i++) {
            total += prob[i];
        }
        double u = rng.nextDouble() * total;
        for (int i = 0; i < cut; i++) {
            u -= prob[i];
            if (u < 0) {
                return order[i];
            }
        }
        return order[cut - 1];
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
