package io.loraserve.server;

import io.loraserve.model.SamplingParams;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A validated {@code /v1/completions} body. Parsing checks every field's type and range and
 * throws a 400 naming the field; unknown fields are ignored, as OpenAI does.
 *
 * @param prompts each prompt either as text (tokenized later) or as token ids
 */
record CompletionRequest(String model, String adapter, List<Prompt> prompts, int maxTokens, SamplingParams sampling,
                         List<String> stop, Set<Integer> stopTokenIds, boolean ignoreEos, int n, boolean echo,
                         boolean returnTokenIds, boolean stream, boolean includeUsage) {

    /** A prompt as the client gave it: text, or ids. */
    record Prompt(String text, int[] ids) {
    }

    static final int MAX_STOP = 4;
    static final int MAX_LOGPROBS = 5;

    static CompletionRequest parse(JsonObject body, int vocab, int maxN) {
        Params p = new Params(body);
        if (p.has("suffix")) {
            throw ApiException.badRequest("suffix", "'suffix' is not supported");
        }
        int n = p.integer("n", 1, 1, maxN);
        if (p.has("best_of") && p.integer("best_of", n, 1, maxN) != n) {
            throw ApiException.badRequest("best_of", "'best_of' must equal 'n' (no server-side best-of selection)");
        }
        int logprobs = p.has("logprobs") ? p.integer("logprobs", 0, 0, MAX_LOGPROBS) : -1;
        SamplingParams sampling = new SamplingParams(
                p.number("temperature", 1.0, 0, false, 2),
                p.number("top_p", 1.0, 0, true, 1),
                p.integer("top_k", -1, -1, Integer.MAX_VALUE),
                p.number("min_p", 0, 0, false, 1),
                p.number("presence_penalty", 0, -2, false, 2),
                p.number("frequency_penalty", 0, -2, false, 2),
                p.number("repetition_penalty", 1, 0, true, Double.MAX_VALUE),
                p.longValue("seed"),
                logprobs);
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
            if (!(p.raw("stream_options") instanceof JsonObject so)) {
                throw ApiException.badRequest("stream_options", "'stream_options' must be an object");
            }
            includeUsage = new Params(so).bool("include_usage", false);
        }
        return new CompletionRequest(
                p.string("model", null),
                p.string("adapter", null),
                prompts(p, vocab),
                p.integer("max_tokens", 16, 1, Integer.MAX_VALUE),
                sampling,
                p.strings("stop", MAX_STOP),
                Set.copyOf(stopIds),
                p.bool("ignore_eos", false),
                n,
                p.bool("echo", false),
                p.bool("return_token_ids", false),
                stream,
                includeUsage);
    }

    private static List<Prompt> prompts(Params p, int vocab) {
        if (!p.has("prompt")) {
            throw ApiException.badRequest("prompt", "'prompt' is required");
        }
        JsonValue v = p.raw("prompt");
        List<Prompt> out = new ArrayList<>();
        if (v instanceof JsonString s) {
            out.add(new Prompt(s.getString(), null));
        } else if (v instanceof JsonArray a && !a.isEmpty() && a.get(0) instanceof JsonString) {
            for (JsonValue e : a) {
                if (!(e instanceof JsonString s)) {
                    throw ApiException.badRequest("prompt", "'prompt' lists must hold only strings or only token ids");
                }
                out.add(new Prompt(s.getString(), null));
            }
        } else if (v instanceof JsonArray a && !a.isEmpty() && a.get(0) instanceof JsonArray) {
            for (JsonValue e : a) {
                if (!(e instanceof JsonArray ids)) {
                    throw ApiException.badRequest("prompt", "'prompt' lists must hold only strings or only token id lists");
                }
                out.add(new Prompt(null, Params.tokenIds("prompt", ids, vocab)));
            }
        } else if (v instanceof JsonArray a) {
            out.add(new Prompt(null, Params.tokenIds("prompt", a, vocab)));
        } else {
            throw ApiException.badRequest("prompt", "'prompt' must be a string, a list of strings, a list of token ids"
                    + " or a list of token id lists");
        }
        for (Prompt pr : out) {
            if ((pr.text() != null && pr.text().isEmpty()) || (pr.ids() != null && pr.ids().length == 0)) {
                throw ApiException.badRequest("prompt", "'prompt' must not be empty");
            }
        }
        return out;
    }
}
