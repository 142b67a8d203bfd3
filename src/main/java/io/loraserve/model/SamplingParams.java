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

    /**
     * The defaults every other value is made from by its withers: greedy, no top-p, top-k or min-p cut, no
     * penalties or bias, a fresh seed, no logprobs.
     */
    public static final SamplingParams GREEDY = new SamplingParams(0, 1, -1, 0, 0, 0, 1, null, -1, Map.of());

    public SamplingParams {
        logitBias = Map.copyOf(logitBias);
    }

    public boolean greedy() {
        return temperature == 0;
    }

    public boolean penalized() {
        return presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1;
    }

    /** Whether the logits are changed before sampling (bias or penalties), so greedy is not the raw argmax. */
    public boolean adjusted() {
        return penalized() || !logitBias.isEmpty();
    }

    public SamplingParams withTemperature(double v) {
        return new SamplingParams(v, topP, topK, minP, presencePenalty, frequencyPenalty,
                repetitionPenalty, seed, logprobs, logitBias);
    }

    public SamplingParams withTopP(double v) {
        return new SamplingParams(temperature, v, topK, minP, presencePenalty, frequencyPenalty,
                repetitionPenalty, seed, logprobs, logitBias);
    }

    public SamplingParams withTopK(int v) {
        return new SamplingParams(temperature, topP, v, minP, presencePenalty, frequencyPenalty,
                repetitionPenalty, seed, logprobs, logitBias);
    }

    public SamplingParams withMinP(double v) {
        return new SamplingParams(temperature, topP, topK, v, presencePenalty, frequencyPenalty,
                repetitionPenalty, seed, logprobs, logitBias);
    }

    public SamplingParams withPresencePenalty(double v) {
        return new SamplingParams(temperature, topP, topK, minP, v, frequencyPenalty,
                repetitionPenalty, seed, logprobs, logitBias);
    }

    public SamplingParams withFrequencyPenalty(double v) {
        return new SamplingParams(temperature, topP, topK, minP, presencePenalty, v,
                repetitionPenalty, seed, logprobs, logitBias);
    }

    public SamplingParams withRepetitionPenalty(double v) {
        return new SamplingParams(temperature, topP, topK, minP, presencePenalty, frequencyPenalty,
                v, seed, logprobs, logitBias);
    }

    public SamplingParams withSeed(Long v) {
        return new SamplingParams(temperature, topP, topK, minP, presencePenalty, frequencyPenalty,
                repetitionPenalty, v, logprobs, logitBias);
    }

    public SamplingParams withLogprobs(int v) {
        return new SamplingParams(temperature, topP, topK, minP, presencePenalty, frequencyPenalty,
                repetitionPenalty, seed, v, logitBias);
    }

    public SamplingParams withLogitBias(Map<Integer, Double> v) {
        return new SamplingParams(temperature, topP, topK, minP, presencePenalty, frequencyPenalty,
                repetitionPenalty, seed, logprobs, v);
    }
}
