package io.loraserve.server.openai;

import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Params;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.List;

/**
 * A validated {@code /v1/completions} body. Parsing checks every field's type and range and
 * throws a 400 naming the field; unknown fields are ignored, as OpenAI does.
 *
 * <p>With {@code echo} and {@code logprobs} the prompt's tokens are scored too and lead the
 * logprobs, the first with a null logprob, as in OpenAI's legacy API and vLLM; {@code max_tokens}
 * 0 is then allowed and returns the prompt alone (scoring, as lm-evaluation-harness does it).
 *
 * @param prompts  each prompt either as text (tokenized later) or as token ids
 * @param logprobs top alternatives per token (0..{@value #MAX_LOGPROBS}), -1 for none
 */
record CompletionRequest(List<Prompt> prompts, boolean echo, int logprobs, GenerationOptions options) {

    /** A prompt as the client gave it: text, or ids. */
    record Prompt(String text, int[] ids) {
    }

    static final int MAX_LOGPROBS = 5;
    static final int DEFAULT_MAX_TOKENS = 16;

    static CompletionRequest parse(JsonObject body, int vocab, int maxN) {
        Params p = new Params(body);
        if (p.has("suffix")) {
            throw ApiException.badRequest("suffix", "'suffix' is not supported");
        }
        int logprobs = p.has("logprobs") ? p.integer("logprobs", 0, 0, MAX_LOGPROBS) : -1;
        boolean echo = p.bool("echo", false);
        GenerationOptions options = GenerationOptions.parse(p, vocab, maxN, logprobs, "max_tokens", echo ? 0 : 1);
        return new CompletionRequest(prompts(p, vocab), echo, logprobs, options);
    }

    /** Tokens to return: {@code max_tokens}, or its default; 0 only with {@code echo}. */
    int maxTokens() {
        return options.maxTokens() == null ? DEFAULT_MAX_TOKENS : options.maxTokens();
    }

    /** Alternatives per scored prompt token, or -1 when the prompt is not scored. */
    int promptLogprobs() {
        return echo && logprobs >= 0 ? logprobs : -1;
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
