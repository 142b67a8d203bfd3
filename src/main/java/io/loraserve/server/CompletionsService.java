package io.loraserve.server;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.engine.Engine;
import io.loraserve.engine.EngineBusyException;
import io.loraserve.engine.FinishReason;
import io.loraserve.engine.Request;
import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.model.Sampler;
import io.loraserve.tokenizer.Tokenizer;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * {@code POST /v1/completions}: validates, tokenizes, submits one engine request per prompt and
 * choice, waits for them on this (virtual) thread and answers in OpenAI's shape.
 */
public final class CompletionsService implements HttpService {
    private final Engine engine;
    private final AdapterRegistry adapters;
    private final Tokenizer tokenizer;
    private final ModelResolver models;
    private final int maxN;

    CompletionsService(Engine engine, AdapterRegistry adapters, Tokenizer tokenizer, ModelResolver models, int maxN) {
        this.engine = engine;
        this.adapters = adapters;
        this.tokenizer = tokenizer;
        this.models = models;
        this.maxN = maxN;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/v1/completions", this::completions);
    }

    private void completions(ServerRequest req, ServerResponse res) throws InterruptedException {
        JsonObject body = Json.parseObject(Bodies.read(req));
        ServedModel base = models.base();
        CompletionRequest cr = CompletionRequest.parse(body, base.vocab(), maxN);
        String adapter = models.resolve(cr.model(), cr.adapter());
        List<int[]> prompts = new ArrayList<>();
        for (CompletionRequest.Prompt p : cr.prompts()) {
            int[] ids = p.ids() != null ? p.ids() : tokenizer.encode(p.text());
            if (ids.length + cr.maxTokens() > base.maxModelLen()) {
                throw ApiException.badRequest(ids.length >= base.maxModelLen() ? "prompt" : "max_tokens",
                        "This model's maximum context length is " + base.maxModelLen() + " tokens; the prompt has "
                                + ids.length + " tokens and max_tokens is " + cr.maxTokens()
                                + " (together " + (ids.length + cr.maxTokens()) + ")");
            }
            prompts.add(ids);
        }
        String id = "cmpl-" + UUID.randomUUID().toString().replace("-", "");
        List<Choice> choices = new ArrayList<>();
        try {
            submit(id, cr, prompts, adapter, choices);
            JsonArrayBuilder out = Json.BUILDERS.createArrayBuilder();
            int promptTokens = 0;
            int completionTokens = 0;
            for (int i = 0; i < choices.size(); i++) {
                Choice c = choices.get(i);
                c.collect();
                out.add(c.toJson(i, cr));
                promptTokens += c.promptTokens;
                completionTokens += c.completionTokens;
            }
            JsonObject response = Json.BUILDERS.createObjectBuilder()
                    .add("id", id)
                    .add("object", "text_completion")
                    .add("created", System.currentTimeMillis() / 1000)
                    .add("model", adapter == null ? base.name() : adapter)
                    .add("choices", out)
                    .add("usage", Json.BUILDERS.createObjectBuilder()
                            .add("prompt_tokens", promptTokens)
                            .add("completion_tokens", completionTokens)
                            .add("total_tokens", promptTokens + completionTokens))
                    .build();
            res.header(HeaderNames.CONTENT_TYPE, "application/json");
            res.send(Json.write(response).getBytes(StandardCharsets.UTF_8));
        } catch (EngineBusyException e) {
            throw Overload.of(e);
        } finally {
            for (Choice c : choices) {
                if (!c.done) {
                    engine.cancel(c.requestId);
                }
            }
        }
    }

    /**
     * Submits one engine request per prompt and choice, all on one version of {@code adapter}: the request's lease
     * is taken once, and each choice takes its own reference on that same version, which the engine releases.
     */
    private void submit(String id, CompletionRequest cr, List<int[]> prompts, String adapter, List<Choice> choices) {
        Adapter lease = adapter == null ? null : acquire(adapter);
        try {
            for (int[] ids : prompts) {
                for (int k = 0; k < cr.n(); k++) {
                    GenerationSink sink = new GenerationSink(tokenizer.newIncrementalDecoder(ids), cr.stop());
                    String rid = id + "-" + choices.size();
                    if (lease != null) {
                        lease.retain();
                    }
                    try {
                        engine.submit(new Request(rid, ids, lease, cr.sampling(), cr.maxTokens(), cr.stopTokenIds(),
                                cr.ignoreEos(), sink));
                    } catch (RuntimeException e) {
                        if (lease != null) {
                            lease.release();
                        }
                        throw e;
                    }
                    choices.add(new Choice(rid, ids, sink));
                }
            }
        } finally {
            if (lease != null) {
                lease.release();
            }
        }
    }

    /** One reference on the adapter's current version, or 404 when it was unloaded meanwhile. */
    private Adapter acquire(String name) {
        try {
            return adapters.acquire(name);
        } catch (AdapterRegistry.RegistryException e) {
            throw ApiException.notFound("adapter_not_found", "The adapter '" + name + "' is not loaded");
        }
    }

    /** One choice being generated: collects its sink's events. */
    private final class Choice {
        final String requestId;
        final int[] promptIds;
        final GenerationSink sink;
        final StringBuilder text = new StringBuilder();
        final List<GenerationSink.Token> tokens = new ArrayList<>();
        FinishReason finish;
        int promptTokens;
        int completionTokens;
        boolean done;

        Choice(String requestId, int[] promptIds, GenerationSink sink) {
            this.requestId = requestId;
            this.promptIds = promptIds;
            this.sink = sink;
        }

        void collect() throws InterruptedException {
            while (true) {
                GenerationSink.Event e = sink.next();
                switch (e) {
                    case GenerationSink.Token t -> {
                        tokens.add(t);
                        text.append(t.delta());
                    }
                    case GenerationSink.Finish f -> {
                        done = true;
                        text.append(f.delta());
                        finish = f.reason();
                        promptTokens = f.promptTokens();
                        completionTokens = f.completionTokens();
                        if (finish == FinishReason.TIMEOUT) {
                            throw new ApiException(504, "server_error", null, "timeout",
                                    "the request ran longer than the server's --request-timeout");
                        }
                        if (finish == FinishReason.CANCELLED) {
                            throw new ApiException(503, "server_error", null, "cancelled",
                                    "the request was cancelled because the server is shutting down");
                        }
                        return;
                    }
                    case GenerationSink.Failure f -> {
                        done = true;
                        throw new ApiException(f.overloaded() ? 503 : 500, "server_error", null,
                                f.overloaded() ? "overloaded" : "engine_error", f.message());
                    }
                }
            }
        }

        JsonObject toJson(int index, CompletionRequest cr) {
            String prefix = cr.echo() ? tokenizer.decode(promptIds) : "";
            JsonObjectBuilder b = Json.BUILDERS.createObjectBuilder()
                    .add("index", index)
                    .add("text", prefix + text)
                    .add("finish_reason", finish.openAiName());
            if (cr.sampling().logprobs() >= 0) {
                b.add("logprobs", logprobs(prefix.length()));
            } else {
                b.addNull("logprobs");
            }
            if (cr.returnTokenIds()) {
                JsonArrayBuilder ids = Json.BUILDERS.createArrayBuilder();
                tokens.forEach(t -> ids.add(t.id()));
                JsonArrayBuilder pids = Json.BUILDERS.createArrayBuilder();
                for (int id : promptIds) {
                    pids.add(id);
                }
                b.add("token_ids", ids).add("prompt_token_ids", pids);
            }
            return b.build();
        }

        private JsonObject logprobs(int offsetBase) {
            JsonArrayBuilder toks = Json.BUILDERS.createArrayBuilder();
            JsonArrayBuilder lps = Json.BUILDERS.createArrayBuilder();
            JsonArrayBuilder tops = Json.BUILDERS.createArrayBuilder();
            JsonArrayBuilder offsets = Json.BUILDERS.createArrayBuilder();
            for (GenerationSink.Token t : tokens) {
                toks.add(tokenizer.tokenText(t.id()));
                lps.add(t.logprob());
                JsonObjectBuilder top = Json.BUILDERS.createObjectBuilder();
                for (Sampler.Candidate c : t.top()) {
                    top.add(tokenizer.tokenText(c.token()), c.logprob());
                }
                tops.add(top);
                offsets.add(offsetBase + t.textOffset());
            }
            return Json.BUILDERS.createObjectBuilder()
                    .add("tokens", toks)
                    .add("token_logprobs", lps)
                    .add("top_logprobs", tops)
                    .add("text_offset", offsets)
                    .build();
        }
    }
}
