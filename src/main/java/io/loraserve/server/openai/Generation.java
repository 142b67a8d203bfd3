package io.loraserve.server.openai;

import io.loraserve.constraint.Constraint;
import io.loraserve.engine.Engine;
import io.loraserve.engine.EngineBusyException;
import io.loraserve.engine.FinishReason;
import io.loraserve.engine.Request;
import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterException;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.model.Sampler;
import io.loraserve.model.SamplingParams;
import io.loraserve.server.http.AdapterErrors;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.ClientGoneException;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.Overload;
import io.loraserve.tokenizer.Tokenizer;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The engine work of one API request: one engine request per prompt and choice, their events
 * merged into one queue in the order the engine produced them. Choice {@code i} is the
 * {@code i}-th submitted (prompts outer, {@code n} inner, as OpenAI numbers them).
 *
 * <p>Owns its engine requests until {@link #close()}, which cancels every choice that has not
 * finished (client gone, or another choice failed), so no request outlives the HTTP exchange that
 * asked for it. Every choice runs on the same version of its adapter, even if
 * the adapter is replaced meanwhile (see {@link #submitAll}). While it waits for events it asks
 * every {@value #PROBE_MILLIS} ms whether the client is still connected, so a client that leaves
 * is noticed even when nothing is being written (a non-streaming request, or a stream still
 * waiting for its first token). Used by one HTTP thread, the request's handler.
 *
 * <p>Knows no HTTP server: the caller passes the question whether the client is still there and
 * sends the {@link #response} it builds.
 */
final class Generation implements AutoCloseable {
    /** How often a waiting handler asks whether its client is still connected. */
    static final long PROBE_MILLIS = 50;

    /** One completed choice; {@code promptScores} null unless prompt logprobs were asked for. */
    record Choice(int index, int[] promptIds, List<Sampler.Sample> promptScores, String text,
                  List<GenerationSink.Token> tokens, FinishReason finish, int promptTokens, int completionTokens) {
    }

    private final Engine engine;
    private final AdapterRegistry adapters;
    private final Tokenizer tokenizer;
    private final BooleanSupplier clientGone;
    private final String id;
    private final LinkedBlockingQueue<GenerationSink.Event> events = new LinkedBlockingQueue<>();
    private final List<String> requestIds = new ArrayList<>();
    private final List<int[]> prompts = new ArrayList<>();
    private final BitSet finished = new BitSet();
    private int cachedTokens;
    private long nextProbe = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(PROBE_MILLIS);

    /**
     * {@code kind} starts the response id, as OpenAI's: {@code cmpl}, {@code chatcmpl};
     * {@code clientGone} answers whether the client has closed its connection.
     */
    Generation(Engine engine, AdapterRegistry adapters, Tokenizer tokenizer, BooleanSupplier clientGone, String kind) {
        this.engine = engine;
        this.adapters = adapters;
        this.tokenizer = tokenizer;
        this.clientGone = clientGone;
        this.id = kind + "-" + UUID.randomUUID().toString().replace("-", "");
    }

    /**
     * Refuses a prompt that, with {@code maxTokens} more tokens, does not fit the context; the
     * message states both numbers and the limit.
     */
    static void checkContext(int promptTokens, int maxTokens, int maxModelLen, String promptParam,
                             String maxTokensParam) {
        if ((long) promptTokens + maxTokens > maxModelLen) {
            throw ApiException.badRequest(promptTokens >= maxModelLen ? promptParam : maxTokensParam,
                    "This model's maximum context length is " + maxModelLen + " tokens, but '" + promptParam
                            + "' has " + promptTokens + " tokens and '" + maxTokensParam + "' is " + maxTokens
                            + " (together " + ((long) promptTokens + maxTokens) + "); lower '" + maxTokensParam
                            + "' or shorten '" + promptParam + "'");
        }
    }

    /**
     * Submits {@code n} choices for each prompt on {@code adapter} (null: the base model), prompts
     * outer, all at once or none: 404 when the adapter is not loaded, 400 when there are more choices
     * than the queue holds, 429 or 503 when the engine does not take them. Every choice gets a
     * reference of its own on the adapter's current version (the engine releases it when the choice
     * ends), so all run on that version even if the name is replaced meanwhile. With
     * {@code promptLogprobs} ≥ 0 each choice's prompt is scored first ({@link GenerationSink.PromptScores}).
     * With a {@code seed}, choice {@code k} of a prompt samples with {@code seed + k}, as vLLM's
     * parallel sampling does: the {@code n} choices differ, and the first is the one {@code n = 1} gives.
     * Every choice's output must match {@code constraint} (null: free).
     */
    void submitAll(List<int[]> promptIds, int n, String adapter, GenerationOptions o, int maxTokens,
                   int promptLogprobs, Constraint constraint) {
        long choices = (long) promptIds.size() * n;
        if (choices > engine.maxQueued()) {
            throw ApiException.badRequest("n", "the request asks for " + choices + " choices (" + promptIds.size()
                    + " prompts x n=" + n + "), more than the server queues at once (" + engine.maxQueued()
                    + ", --max-queued-requests); lower 'n' or send fewer prompts");
        }
        Adapter version = adapter == null ? null : acquire(adapter);
        int held = 1;  // references on version held here for the choices; accepted ones pass to the engine
        try {
            List<Request> requests = new ArrayList<>();
            for (int[] ids : promptIds) {
                for (int k = 0; k < n; k++) {
                    GenerationSink sink = new GenerationSink(requests.size(), tokenizer.newIncrementalDecoder(ids),
                            o.stop(), events, o.stream());
                    SamplingParams sampling = o.sampling().seed() == null ? o.sampling()
                            : o.sampling().withSeed(o.sampling().seed() + k);
                    requests.add(new Request(id + "-" + requests.size(), ids, version, sampling, maxTokens,
                            o.stopTokenIds(), o.ignoreEos(), promptLogprobs, sink, constraint));
                }
            }
            for (; held < requests.size(); held++) {
                retain(version);
            }
            engine.submitAll(requests);
            held = 0;
            for (Request r : requests) {
                requestIds.add(r.id());
                prompts.add(r.promptIds());
            }
        } catch (EngineBusyException e) {
            throw Overload.of(e);
        } finally {
            for (; held > 0; held--) {
                release(version);
            }
        }
    }

    /** A reference on {@code name}, its host copy read again or the adapter loaded on first use if need be. */
    private Adapter acquire(String name) {
        try {
            return adapters.acquire(name);
        } catch (AdapterRegistry.RegistryException e) {
            if (e.kind() == AdapterRegistry.RegistryException.Kind.NOT_FOUND) {
                throw ApiException.notFound("adapter_not_found", "The adapter '" + name + "' is not loaded");
            }
            throw AdapterErrors.of(e, "model", "model");
        } catch (AdapterException e) {
            throw AdapterErrors.of(e, "model");
        }
    }

    private static void retain(Adapter lease) {
        if (lease != null) {
            lease.retain();
        }
    }

    private static void release(Adapter lease) {
        if (lease != null) {
            lease.release();
        }
    }

    String id() {
        return id;
    }

    /** OpenAI's {@code usage} object; {@code cachedTokens} of the prompt tokens came from the prefix cache. */
    static JsonObject usage(int promptTokens, int completionTokens, int cachedTokens) {
        return Json.BUILDERS.createObjectBuilder()
                .add("prompt_tokens", promptTokens)
                .add("completion_tokens", completionTokens)
                .add("total_tokens", promptTokens + completionTokens)
                .add("prompt_tokens_details", Json.BUILDERS.createObjectBuilder().add("cached_tokens", cachedTokens))
                .build();
    }

    /** The non-streaming answer: OpenAI's envelope ({@code object} kind, usage totals) around {@code choices}. */
    JsonObject response(String object, String model, JsonArrayBuilder choices, int promptTokens, int completionTokens) {
        return Json.BUILDERS.createObjectBuilder()
                .add("id", id)
                .add("object", object)
                .add("created", System.currentTimeMillis() / 1000)
                .add("model", model)
                .add("choices", choices)
                .add("usage", usage(promptTokens, completionTokens, cachedTokens))
                .build();
    }

    int size() {
        return requestIds.size();
    }

    int[] promptIds(int choice) {
        return prompts.get(choice);
    }

    /** The prompt tokens of all choices together (each choice counts its prompt, as the usage totals do). */
    int promptTokens() {
        return prompts.stream().mapToInt(p -> p.length).sum();
    }

    /** Prompt tokens of the finished choices that came from the prefix cache. */
    int cachedTokens() {
        return cachedTokens;
    }

    /** True while some choice has not finished. */
    boolean running() {
        return finished.cardinality() < requestIds.size();
    }

    /**
     * The next event of any choice; blocks until the engine produces one.
     *
     * @throws ClientGoneException when the client closed its connection meanwhile
     */
    GenerationSink.Event next() throws InterruptedException {
        while (true) {
            long wait = nextProbe - System.nanoTime();
            GenerationSink.Event e = wait > 0 ? events.poll(wait, TimeUnit.NANOSECONDS) : events.poll();
            if (e instanceof GenerationSink.Finish || e instanceof GenerationSink.Failure) {
                finished.set(e.choice());
            }
            if (e instanceof GenerationSink.Finish f) {
                cachedTokens += f.cachedTokens();
            }
            if (System.nanoTime() - nextProbe >= 0) {
                if (clientGone.getAsBoolean()) {
                    throw new ClientGoneException(null);
                }
                nextProbe = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(PROBE_MILLIS);
            }
            if (e != null) {
                return e;
            }
        }
    }

    /**
     * Waits for every choice; throws the error of the first that did not complete, or 499 when
     * the client closed its connection meanwhile (nginx's "client closed request": nobody reads it,
     * the access log does).
     */
    List<Choice> awaitAll() throws InterruptedException {
        try {
            return collect();
        } catch (ClientGoneException e) {
            throw new ApiException(499, "invalid_request_error", null, "client_closed_request",
                    "the client closed the connection before the response was ready");
        }
    }

    private List<Choice> collect() throws InterruptedException {
        int count = size();
        List<StringBuilder> texts = new ArrayList<>();
        List<List<GenerationSink.Token>> tokens = new ArrayList<>();
        List<List<Sampler.Sample>> promptScores = new ArrayList<>();
        Choice[] done = new Choice[count];
        for (int i = 0; i < count; i++) {
            texts.add(new StringBuilder());
            tokens.add(new ArrayList<>());
            promptScores.add(null);
        }
        while (running()) {
            GenerationSink.Event e = next();
            ApiException failure = failure(e);
            if (failure != null) {
                throw failure;
            }
            int c = e.choice();
            switch (e) {
                case GenerationSink.PromptScores p -> promptScores.set(c, p.scores());
                case GenerationSink.Token t -> {
                    tokens.get(c).add(t);
                    texts.get(c).append(t.delta());
                }
                case GenerationSink.Finish f -> done[c] = new Choice(c, prompts.get(c), promptScores.get(c),
                        texts.get(c).append(f.delta()).toString(), tokens.get(c), f.reason(), f.promptTokens(),
                        f.completionTokens());
                case GenerationSink.Failure f -> throw new IllegalStateException("unreachable: " + f);
            }
        }
        return List.of(done);
    }

    /** The error a choice's last event stands for, or null when the event is not a failure. */
    static ApiException failure(GenerationSink.Event e) {
        return switch (e) {
            case GenerationSink.Finish f when f.reason() == FinishReason.TIMEOUT ->
                    ApiException.serverError(504, "timeout", "the request ran longer than the server's --request-timeout");
            case GenerationSink.Finish f when f.reason() == FinishReason.CANCELLED ->
                    Overload.shuttingDown("the request was cancelled because the server is shutting down");
            case GenerationSink.Failure f -> ApiException.serverError(f.overloaded() ? 503 : 500,
                    f.overloaded() ? "overloaded" : "engine_error", f.message());
            default -> null;
        };
    }

    /** Cancels every choice that has not finished; the engine frees their KV blocks within one step. */
    @Override
    public void close() {
        for (int i = 0; i < requestIds.size(); i++) {
            if (!finished.get(i)) {
                engine.cancel(requestIds.get(i));
            }
        }
    }
}
