package io.loraserve.server.openai;

import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.engine.FinishReason;
import io.loraserve.model.Sampler;
import io.loraserve.server.http.AccessLog;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Bodies;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.JsonResponse;
import io.loraserve.tokenizer.IncrementalDecoder;
import io.loraserve.tokenizer.Tokenizer;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code POST /v1/completions}: validates, tokenizes, submits one engine request per prompt and
 * choice, and answers in OpenAI's {@code text_completion} shape, as one JSON object or, with
 * {@code stream}, as Server-Sent Events (see {@link ChunkStream}). With {@code echo} the prompt
 * text leads each choice's text (in a stream: its first chunk).
 */
public final class CompletionsService implements HttpService {
    private final GenerationBackend backend;
    private final Tokenizer tokenizer;

    public CompletionsService(GenerationBackend backend) {
        this.backend = backend;
        this.tokenizer = backend.tokenizer();
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/v1/completions", this::completions)
                .any("/v1/completions", ErrorHandling.methodNotAllowed("POST"));
    }

    private void completions(ServerRequest req, ServerResponse res) throws InterruptedException {
        JsonObject body = Json.parseObject(Bodies.read(req));
        ServedModel base = backend.base();
        CompletionRequest cr = CompletionRequest.parse(body, base.vocab(), backend.maxN());
        GenerationOptions o = cr.options();
        AccessLog.Entry log = AccessLog.entry(req);
        String adapter = backend.resolve(o, log);
        List<int[]> prompts = new ArrayList<>();
        for (CompletionRequest.Prompt p : cr.prompts()) {
            int[] ids = p.ids() != null ? p.ids() : tokenizer.encode(p.text());
            Generation.checkContext(ids.length, cr.maxTokens(), base.maxModelLen(), "prompt", o.maxTokensParam());
            prompts.add(ids);
        }
        if (cr.maxTokens() == 0 && o.stream()) {
            throw ApiException.badRequest("max_tokens", "'max_tokens' 0 (score the echoed prompt only) cannot be"
                    + " streamed");
        }
        String model = adapter == null ? base.name() : adapter;
        try (Generation g = backend.newGeneration(req, "cmpl")) {
            // max_tokens 0 runs one token, as vLLM does, and leaves it out of the answer
            g.submitAll(prompts, o.n(), adapter, o, Math.max(1, cr.maxTokens()), cr.promptLogprobs(), backend.constraint(o));
            if (o.stream()) {
                new ChunkStream(g, "text_completion", model, o.includeUsage()).run(res, new StreamChoices(g, cr), log);
            } else {
                respond(res, g, cr, model, log);
            }
        }
    }

    private void respond(ServerResponse res, Generation g, CompletionRequest cr, String model, AccessLog.Entry log)
            throws InterruptedException {
        JsonArrayBuilder choices = Json.BUILDERS.createArrayBuilder();
        int promptTokens = 0;
        int completionTokens = 0;
        boolean scoreOnly = cr.maxTokens() == 0;
        for (Generation.Choice c : g.awaitAll()) {
            String prefix = echo(cr, c.promptIds());
            List<GenerationSink.Token> tokens = scoreOnly ? List.of() : c.tokens();
            JsonObjectBuilder b = Json.BUILDERS.createObjectBuilder()
                    .add("index", c.index())
                    .add("text", prefix + (scoreOnly ? "" : c.text()))
                    .add("finish_reason", scoreOnly ? FinishReason.LENGTH.openAiName() : c.finish().openAiName());
            if (cr.logprobs() >= 0) {
                Logprobs lp = new Logprobs();
                if (c.promptScores() != null) {
                    lp.addPrompt(c.promptIds(), c.promptScores());
                }
                b.add("logprobs", lp.addGenerated(tokens, codePoints(prefix)).build());
            } else {
                b.addNull("logprobs");
            }
            if (cr.options().returnTokenIds()) {
                b.add("token_ids", ids(tokens.stream().mapToInt(GenerationSink.Token::id).toArray()))
                        .add("prompt_token_ids", ids(c.promptIds()));
            }
            choices.add(b);
            promptTokens += c.promptTokens();
            completionTokens += scoreOnly ? 0 : c.completionTokens();
        }
        log.tokens(promptTokens, completionTokens);
        JsonResponse.send(res, g.response("text_completion", model, choices, promptTokens, completionTokens));
    }

    /** A streamed completion's choices: the echo first, then a chunk per token that brings text, logprobs or its id. */
    private final class StreamChoices implements ChunkStream.Choices {
        private final Generation g;
        private final CompletionRequest cr;
        private final int[] offsetBase;

        StreamChoices(Generation g, CompletionRequest cr) {
            this.g = g;
            this.cr = cr;
            this.offsetBase = new int[g.size()];
        }

        /** The echoed prompt, at once; with prompt logprobs it waits for the scores ({@link #promptScores}). */
        @Override
        public Iterable<JsonObject> opening() {
            List<JsonObject> out = new ArrayList<>();
            for (int i = 0; cr.echo() && i < g.size(); i++) {
                String prefix = echo(cr, g.promptIds(i));
                offsetBase[i] = codePoints(prefix);
                if (cr.promptLogprobs() < 0) {
                    out.add(choice(i, prefix).addNull("logprobs").addNull("finish_reason").build());
                }
            }
            return out;
        }

        @Override
        public JsonObject promptScores(GenerationSink.PromptScores p) {
            int[] promptIds = g.promptIds(p.choice());
            return choice(p.choice(), echo(cr, promptIds))
                    .add("logprobs", new Logprobs().addPrompt(promptIds, p.scores()).build())
                    .addNull("finish_reason").build();
        }

        @Override
        public JsonObject token(GenerationSink.Token t) {
            if (t.delta().isEmpty() && cr.logprobs() < 0 && !cr.options().returnTokenIds()) {
                return null;
            }
            JsonObjectBuilder b = choice(t.choice(), t.delta());
            if (cr.logprobs() >= 0) {
                b.add("logprobs", new Logprobs().addGenerated(List.of(t), offsetBase[t.choice()]).build());
            } else {
                b.addNull("logprobs");
            }
            if (cr.options().returnTokenIds()) {
                b.add("token_ids", ids(new int[] {t.id()}));
            }
            return b.addNull("finish_reason").build();
        }

        @Override
        public JsonObject finish(GenerationSink.Finish f) {
            return choice(f.choice(), f.delta()).addNull("logprobs").add("finish_reason", f.reason().openAiName())
                    .build();
        }

        private JsonObjectBuilder choice(int index, String text) {
            return Json.BUILDERS.createObjectBuilder().add("index", index).add("text", text);
        }
    }

    private String echo(CompletionRequest cr, int[] promptIds) {
        return cr.echo() ? tokenizer.decode(promptIds) : "";
    }

    /**
     * OpenAI's completions logprobs: parallel lists, offsets in code points of the choice's text.
     * An echoed, scored prompt comes first; its first token has no logprob (null), as in OpenAI's
     * legacy API.
     */
    private final class Logprobs {
        private final JsonArrayBuilder toks = Json.BUILDERS.createArrayBuilder();
        private final JsonArrayBuilder lps = Json.BUILDERS.createArrayBuilder();
        private final JsonArrayBuilder tops = Json.BUILDERS.createArrayBuilder();
        private final JsonArrayBuilder offsets = Json.BUILDERS.createArrayBuilder();

        /** {@code scores}: one per prompt token after the first. */
        Logprobs addPrompt(int[] promptIds, List<Sampler.Sample> scores) {
            IncrementalDecoder text = tokenizer.newIncrementalDecoder(new int[0]);
            int offset = 0;
            for (int i = 0; i < promptIds.length; i++) {
                toks.add(tokenizer.tokenText(promptIds[i]));
                offsets.add(offset);
                if (i == 0) {
                    lps.addNull();
                    tops.addNull();
                } else {
                    lps.add(scores.get(i - 1).logprob());
                    tops.add(top(scores.get(i - 1).top()));
                }
                offset += codePoints(text.push(promptIds[i]));
            }
            return this;
        }

        Logprobs addGenerated(List<GenerationSink.Token> tokens, int offsetBase) {
            for (GenerationSink.Token t : tokens) {
                toks.add(tokenizer.tokenText(t.id()));
                lps.add(t.logprob());
                tops.add(top(t.top()));
                offsets.add(offsetBase + t.textOffset());
            }
            return this;
        }

        /** The alternatives keyed by text; of two with the same text (partial characters show as U+FFFD) the likelier stays. */
        private JsonObjectBuilder top(Sampler.Candidate[] candidates) {
            JsonObjectBuilder top = Json.BUILDERS.createObjectBuilder();
            Set<String> seen = new HashSet<>();
            for (Sampler.Candidate c : candidates) {
                String text = tokenizer.tokenText(c.token());
                if (seen.add(text)) {
                    top.add(text, c.logprob());
                }
            }
            return top;
        }

        JsonObject build() {
            return Json.BUILDERS.createObjectBuilder()
                    .add("tokens", toks)
                    .add("token_logprobs", lps)
                    .add("top_logprobs", tops)
                    .add("text_offset", offsets)
                    .build();
        }
    }

    private static JsonArrayBuilder ids(int[] ids) {
        JsonArrayBuilder b = Json.BUILDERS.createArrayBuilder();
        for (int id : ids) {
            b.add(id);
        }
        return b;
    }

    private static int codePoints(String s) {
        return s.codePointCount(0, s.length());
    }
}
