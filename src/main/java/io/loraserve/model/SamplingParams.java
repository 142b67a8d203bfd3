package io.loraserve.model;

import java.util.Map;

/**
 * How the next token is chosen. Validated at the API edge; the sampler trusts these values.
 *
 * @param temperature       0 = greedy
 * @param topP              (0, 1]; 1 = off
 * @param topK              -1 = off, else keep the k most likely
 * @param minP              [0, 1]; 0 = off
 * @param presencePenalty   [-2, 2]
 * @param frequencyPenalty  [-2, 2]
 * @param repetitionPenalty > 0; 1 = off
 * @param seed              null = a fresh random seed per request
 * @param logprobs          how many top alternatives to report per token; -1 = no logprobs at all
 * @param logitBias         added to the logit of each token id before penalties; empty = off
 */
public record SamplingParams(double temperature, double topP, int topK, double minP,
                             double presencePenalty, double frequencyPenalty, double repetitionPenalty,
                             Long seed, int logprobs, Map<Integer, Double> logitBias) {

    public static final SamplingParams GREEDY = new SamplingParams(0, 1, -1, 0, 0, 0, 1, null, -1);

    public SamplingParams {
        logitBias = Map.copyOf(logitBias);
    }

    /** Without logit bias. */
    public SamplingParams(double temperature, double topP, int topK, double minP, double presencePenalty,
                          double frequencyPenalty, double repetitionPenalty, Long seed, int logprobs) {
        this(temperature, topP, topK, minP, presencePenalty, frequencyPenalty, repetitionPenalty, seed, logprobs,
                Map.of());
    }

    public boolean greedy() {
        return temperature == 0;
    }

    public boolean penalized() {
        return presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1;
    }

    /** These parameters with another seed. */
    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(temperature, topP, topK, minP, presencePenalty, frequencyPenalty, repetitionPenalty,
                newSeed, logprobs, logitBias);
    }

    /** Whether the logits are changed before sampling (bias or penalties), so greedy is not the raw argmax. */
    public boolean adjusted() {
        return penalized() || !logitBias.isEmpty();
    }
}
