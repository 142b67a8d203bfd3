package io.loraserve.server.openai;

import io.loraserve.model.SamplingParams;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Params;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The request fields {@code /v1/completions} and {@code /v1/chat/completions} share, validated:
 * which model or adapter, how many tokens, sampling, stops, choices per prompt, streaming. Each
 * API parses its own prompt and logprobs fields and hands the latter in.
 *
 * @param maxTokens      null when the client gave none (each API has its own default)
 * @param maxTokensParam the field name the client used, for error messages
 * @param structured     the structured-output constraint asked for, or null ({@link StructuredOutput})
 */
record GenerationOptions(String model, String adapter, Integer maxTokens, String maxTokensParam,
                         SamplingParams sampling, List<String> stop, Set<Integer> stopTokenIds, boolean ignoreEos,
                         int n, boolean returnTokenIds, boolean stream, boolean includeUsage,
                         StructuredOutput.Field structured) {

    static final int MAX_STOP = 4;

    static final double MAX_LOGIT_BIAS = 100;

    /**
     * @param logprobs     how many top alternatives to report per token, -1 for no logprobs
     * @param minMaxTokens the smallest {@code maxTokensParam} accepted: 1, or 0 where it means "score only"
     */
    static GenerationOptions parse(Params p, int vocab, int maxN, int logprobs, String maxTokensParam,
                                   int minMaxTokens) {
        int n = p.integer("n", 1, 1, maxN);
        if (p.has("best_of") && p.integer("best_of", n, 1, maxN) != n) {
            throw ApiException.badRequest("best_of", "'best_of' must equal 'n' (no server-side best-of selection)");
        }
        p.string("user", null);
        SamplingParams sampling = SamplingParams.GREEDY
                .withTemperature(p.number("temperature", 1.0, 0, false, 2))
                .withTopP(p.number("top_p", 1.0, 0, true, 1))
                .withTopK(p.integer("top_k", -1, -1, Integer.MAX_VALUE))
                .withMinP(p.number("min_p", 0, 0, false, 1))
                .withPresencePenalty(p.number("presence_penalty", 0, -2, false, 2))
                .withFrequencyPenalty(p.number("frequency_penalty", 0, -2, false, 2))
                .withRepetitionPenalty(p.number("repetition_penalty", 1, 0, true, Double.MAX_VALUE))
                .withSeed(p.longValue("seed"))
                .withLogprobs(logprobs)
                .withLogitBias(logitBias(p, vocab));
        if (sampling.topK() == 0) {
            throw ApiException.badRequest("top_k", "'top_k' must be -1 (off) or >= 1, got 0");
        }
        Set<Integer> stopIds = new LinkedHashSet<>();
        if (p.has("stop_token_ids")) {
            if (!(p.raw("stop_token_ids") instanceof JsonArray a)) {
                throw ApiException.badRequest("stop_token_ids", "'stop_token_ids' must be a list of token ids");
            }
            for (int id : Params.tokenIds("stop_token_ids", a, vocab)) {
                stopIds.add(id);
            }
        }
        boolean stream = p.bool("stream", false);
        boolean includeUsage = false;
        if (p.has("stream_options")) {
            if (!stream) {
                throw ApiException.badRequest("stream_options", "'stream_options' is only allowed when 'stream' is true");
            }
            includeUsage = new Params(p.object("stream_options"), "stream_options.").bool("include_usage", false);
        }
        Integer maxTokens = p.has(maxTokensParam) ? p.integer(maxTokensParam, 0, minMaxTokens, Integer.MAX_VALUE) : null;
        return new GenerationOptions(
                p.string("model", null),
                p.string("adapter", null),
                maxTokens,
                maxTokensParam,
                sampling,
                p.strings("stop", MAX_STOP),
                Set.copyOf(stopIds),
                p.bool("ignore_eos", false),
                n,
                p.bool("return_token_ids", false),
                stream,
                includeUsage,
                StructuredOutput.parse(p));
    }

    /** {@code logit_bias}, as OpenAI's: an object from token ids (as strings) to biases in [-100, 100]. */
    private static Map<Integer, Double> logitBias(Params p, int vocab) {
        if (!p.has("logit_bias")) {
            return Map.of();
        }
        JsonObject o = p.object("logit_bias");
        Params biases = new Params(o, "logit_bias.");
        Map<Integer, Double> bias = new HashMap<>();
        for (String key : o.keySet()) {
            if (!key.matches("[0-9]{1,10}") || Long.parseLong(key) >= vocab) {
                throw p.bad("logit_bias", "keys must be token ids in [0, " + vocab + "), got " + Params.shown(
                        jakarta.json.Json.createValue(key)));
            }
            bias.put(Integer.parseInt(key), biases.number(key, 0, -MAX_LOGIT_BIAS, false, MAX_LOGIT_BIAS));
        }
        return bias;
    }
}
