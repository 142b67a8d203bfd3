package io.loraserve.model;

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
 */
public record SamplingParams(double temperature, double topP, int topK, double minP,
                             double presencePenalty, double frequencyPenalty, double repetitionPenalty,
                             Long seed, int logprobs) {

    public static final SamplingParams GREEDY = new SamplingParams(0, 1, -1, 0, 0, 0, 1, null, -1);

    public boolean greedy() {
        return temperature == 0;
    }

    public boolean penalized() {
        return presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1;
    }
}
