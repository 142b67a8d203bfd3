package io.loraserve.server.openai;

import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.chat.ChatTemplate;
import io.loraserve.constraint.Constraint;
import io.loraserve.model.Sampler;
import io.loraserve.server.http.AccessLog;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Bodies;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.JsonResponse;
import io.loraserve.tokenizer.Tokenizer;
import io.loraserve.tools.ToolCallFormat;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code POST /v1/chat/completions}: renders the messages with the model's chat template
 * ({@link ChatTemplate}), tokenizes the result without adding special tokens, and generates
 * {@code n} choices with the same options and validation as completions. Answers in OpenAI's
 * {@code chat.completion} shape or, with {@code stream}, as {@code chat.completion.chunk} events
 * whose first chunk per choice carries {@code delta.role}. With tools, the output is read for
 * calls ({@link ToolCalling}). Without {@code max_tokens} /
 * {@code max_completion_tokens} a choice may use the rest of the context, as in OpenAI's API.
 */
public final class ChatService implements HttpService {
    private final GenerationBackend backend;
    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private final ToolCalling tools;

    public ChatService(GenerationBackend backend, ChatTemplate template, ToolCalling tools) {
        this.backend = backend;
        this.tokenizer = backend.tokenizer();
        this.template = template;
        this.tools = tools;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/v1/chat/completions", this::chat)
                .any("/v1/chat/completions", ErrorHandling.methodNotAllowed("POST"));
    }

    private void chat(ServerRequest req, ServerResponse res) throws InterruptedException {
        JsonObject body = Json.parseObject(Bodies.read(req));
        ServedModel base = backend.base();
        ChatRequest cr = ChatRequest.parse(body, base.vocab(), backend.maxN());
        tools.check(cr.tools());
        GenerationOptions o = cr.options();
        AccessLog.Entry log = AccessLog.entry(req);
        String adapter = backend.resolve(o, log);
        int[] ids = tokenizer.encodeWithoutSpecial(cr.rendering().render(template, cr.messages(), cr.tools()));
        if (ids.length == 0) {
            throw ApiException.badRequest("messages", "the messages render to an empty prompt");
        }
        int maxTokens = o.maxTokens() != null ? o.maxTokens() : Math.max(1, base.maxModelLen() - ids.length);
        Generation.checkContext(ids.length, maxTokens, base.maxModelLen(), "messages", o.maxTokensParam());
        String model = adapter == null ? base.name() : adapter;
        try (Generation g = backend.newGeneration(req, "chatcmpl")) {
            Constraint constraint = cr.tools().forced() ? tools.constraint(backend.constraints(), cr.tools())
                    : backend.constraint(o);
            g.submitAll(List.of(ids), o.n(), adapter, o, maxTokens, -1, constraint);
            if (o.stream()) {
                new ChunkStream(g, "chat.completion.chunk", model, o.includeUsage())
                        .run(res, new StreamChoices(g, cr), log);
            } else {
                respond(res, g, cr, model, log);
            }
        }
    }

    private void respond(ServerResponse res, Generation g, ChatRequest cr, String model, AccessLog.Entry log)
            throws InterruptedException {
        JsonArrayBuilder choices = Json.BUILDERS.createArrayBuilder();
        int promptTokens = 0;
        int completionTokens = 0;
        for (Generation.Choice c : g.awaitAll()) {
            ToolCallFormat.Parsed parsed = tools.read(cr.tools(), c.text());
            JsonObjectBuilder message = Json.BUILDERS.createObjectBuilder().add("role", "assistant");
            if (parsed.content() == null) {
                message.addNull("content");
            } else {
                message.add("content", parsed.content());
            }
            if (!parsed.calls().isEmpty()) {
                message.add("tool_calls", ToolCalling.toJson(parsed, false));
            }
            JsonObjectBuilder b = Json.BUILDERS.createObjectBuilder()
                    .add("index", c.index())
                    .add("message", message.addNull("refusal"));
            if (cr.logprobs()) {
                b.add("logprobs", logprobs(c.tokens()));
            } else {
                b.addNull("logprobs");
            }
            choices.add(b.add("finish_reason", ToolCalling.finishReason(c.finish(), parsed)));
            promptTokens += c.promptTokens();
            completionTokens += c.completionTokens();
        }
        log.tokens(promptTokens, completionTokens);
        JsonResponse.send(res, g.response("chat.completion", model, choices, promptTokens, completionTokens));
    }

    /**
     * A streamed chat's choices: the role first, then content deltas, then an empty delta with the
     * finish reason. When the output is read for tool calls, the text is held back and the last
     * chunk carries it: the calls as {@code delta.tool_calls} (each whole, with its index) or, when
     * there are none, the text as content.
     */
    private final class StreamChoices implements ChunkStream.Choices {
        private final Generation g;
        private final ChatRequest cr;
        private final StringBuilder[] held;

        StreamChoices(Generation g, ChatRequest cr) {
            this.g = g;
            this.cr = cr;
            this.held = new StringBuilder[cr.tools().calls() ? g.size() : 0];
            java.util.Arrays.setAll(held, i -> new StringBuilder());
        }

        @Override
        public Iterable<JsonObject> opening() {
            List<JsonObject> out = new ArrayList<>();
            for (int i = 0; i < g.size(); i++) {
                out.add(choice(i, Json.BUILDERS.createObjectBuilder().add("role", "assistant").add("content", ""))
                        .addNull("logprobs").addNull("finish_reason").build());
            }
            return out;
        }

        @Override
        public JsonObject promptScores(GenerationSink.PromptScores p) {
            return null;  // chat never asks for prompt logprobs
        }

        @Override
        public JsonObject token(GenerationSink.Token t) {
            boolean holding = held.length > 0;
            if (holding) {
                held[t.choice()].append(t.delta());
            }
            if ((holding || t.delta().isEmpty()) && !cr.logprobs()) {
                return null;
            }
            JsonObjectBuilder delta = Json.BUILDERS.createObjectBuilder();
            JsonObjectBuilder b = choice(t.choice(), holding ? delta : delta.add("content", t.delta()));
            if (cr.logprobs()) {
                b.add("logprobs", logprobs(List.of(t)));
            } else {
                b.addNull("logprobs");
            }
            return b.addNull("finish_reason").build();
        }

        @Override
        public JsonObject finish(GenerationSink.Finish f) {
            JsonObjectBuilder delta = Json.BUILDERS.createObjectBuilder();
            if (held.length == 0) {
                if (!f.delta().isEmpty()) {
                    delta.add("content", f.delta());
                }
                return choice(f.choice(), delta).addNull("logprobs").add("finish_reason", f.reason().openAiName()).build();
            }
            ToolCallFormat.Parsed parsed = tools.read(cr.tools(), held[f.choice()].append(f.delta()).toString());
            if (parsed.content() != null) {
                delta.add("content", parsed.content());
            }
            if (!parsed.calls().isEmpty()) {
                delta.add("tool_calls", ToolCalling.toJson(parsed, true));
            }
            return choice(f.choice(), delta).addNull("logprobs")
                    .add("finish_reason", ToolCalling.finishReason(f.reason(), parsed)).build();
        }

        private JsonObjectBuilder choice(int index, JsonObjectBuilder delta) {
            return Json.BUILDERS.createObjectBuilder().add("index", index).add("delta", delta);
        }
    }

    /**
     * The chat API's logprobs: one entry per token with its text, logprob, bytes and top
     * alternatives. A token that holds part of a multi-byte character shows as U+FFFD but its
     * {@code bytes} are its own (as OpenAI's), so a client can join them into the text.
     */
    private JsonObject logprobs(List<GenerationSink.Token> tokens) {
        JsonArrayBuilder content = Json.BUILDERS.createArrayBuilder();
        for (GenerationSink.Token t : tokens) {
            JsonArrayBuilder top = Json.BUILDERS.createArrayBuilder();
            for (Sampler.Candidate c : t.top()) {
                top.add(entry(c.token(), c.logprob()));
            }
            content.add(entry(t.id(), t.logprob()).add("top_logprobs", top));
        }
        return Json.BUILDERS.createObjectBuilder().add("content", content).build();
    }

    private JsonObjectBuilder entry(int token, float logprob) {
        String text = tokenizer.tokenText(token);
        JsonArrayBuilder bytes = Json.BUILDERS.createArrayBuilder();
        for (byte b : tokenizer.tokenBytes(token)) {
            bytes.add(b & 0xff);
        }
        return Json.BUILDERS.createObjectBuilder().add("token", text).add("logprob", logprob).add("bytes", bytes);
    }
}
