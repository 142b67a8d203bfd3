package io.loraserve.server.openai;

import io.helidon.webserver.http.ServerResponse;
import io.loraserve.server.http.AccessLog;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.ClientGoneException;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.SseStream;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;

/**
 * Streams one {@link Generation} as Server-Sent Events in OpenAI's chunk framing, for both
 * completions and chat; {@link Choices} says what one choice's chunk holds in each API.
 *
 * <p>Order on the wire: the opening chunks (chat: the assistant role; completions: the echoed
 * prompt), then one chunk per event in the order the engine produced them (choices interleave,
 * each chunk names its {@code index}), then, with {@code stream_options.include_usage}, a chunk
 * with empty {@code choices} and the totals (every other chunk then carries {@code "usage":null},
 * as OpenAI's do), then {@code data: [DONE]}. A choice that fails mid-stream (timeout, engine
 * error, shutdown) produces {@code data: {"error":{…}}} and ends the stream, as vLLM does.
 *
 * <p>A client that goes away is noticed at the next write, or while the stream waits for an event
 * ({@link ClientGoneException} from either).
 */
final class ChunkStream {
    /** One API's choice objects. A method may return null to send nothing for that event. */
    interface Choices {
        /** Chunks before the first token, one per choice or none. */
        Iterable<JsonObject> opening();

        /** A choice's scored prompt (prompt logprobs), before its first token. */
        JsonObject promptScores(GenerationSink.PromptScores p);

        JsonObject token(GenerationSink.Token t);

        JsonObject finish(GenerationSink.Finish f);
    }

    private final Generation generation;
    private final String object;
    private final String model;
    private final long created = System.currentTimeMillis() / 1000;
    private final boolean includeUsage;

    ChunkStream(Generation generation, String object, String model, boolean includeUsage) {
        this.generation = generation;
        this.object = object;
        this.model = model;
        this.includeUsage = includeUsage;
    }

    /**
     * Writes the whole stream and records token counts in {@code log}. Returns early when the
     * client goes away (outcome {@code client_gone}); the caller's {@link Generation#close()} then
     * cancels what still runs. Helidon cannot run error handlers once a response has begun, so
     * nothing may escape from here.
     */
    void run(ServerResponse res, Choices choices, AccessLog.Entry log) throws InterruptedException {
        try {
            write(res, choices, log);
        } catch (ClientGoneException e) {
            log.clientGone();
        }
    }

    private void write(ServerResponse res, Choices choices, AccessLog.Entry log) throws InterruptedException {
        int promptTokens = 0;
        int completionTokens = 0;
        int sentTokens = 0;
        boolean failed = false;
        try (SseStream sse = new SseStream(res)) {
            for (JsonObject choice : choices.opening()) {
                sse.send(chunk(choice));
            }
            while (generation.running()) {
                GenerationSink.Event e = generation.next();
                ApiException failure = Generation.failure(e);
                if (failure != null) {
                    sse.send(Json.error(failure.getMessage(), failure.type(), failure.param(), failure.code()));
                    log.failedMidStream(failure.status(), generation.promptTokens(), sentTokens);
                    failed = true;
                    break;
                }
                JsonObject choice = switch (e) {
                    case GenerationSink.PromptScores p -> choices.promptScores(p);
                    case GenerationSink.Token t -> {
                        sentTokens++;
                        yield choices.token(t);
                    }
                    case GenerationSink.Finish f -> {
                        promptTokens += f.promptTokens();
                        completionTokens += f.completionTokens();
                        yield choices.finish(f);
                    }
                    case GenerationSink.Failure f -> throw new IllegalStateException("unreachable: " + f);
                };
                if (choice != null) {
                    sse.send(chunk(choice));
                }
            }
            if (!failed) {
                log.tokens(promptTokens, completionTokens);
            }
            if (includeUsage && !generation.running()) {
                sse.send(head().add("choices", Json.BUILDERS.createArrayBuilder())
                        .add("usage", Generation.usage(promptTokens, completionTokens, generation.cachedTokens())).build());
            }
            sse.done();
        }
    }

    private JsonObject chunk(JsonObject choice) {
        JsonObjectBuilder b = head().add("choices", Json.BUILDERS.createArrayBuilder().add(choice));
        if (includeUsage) {
            b.addNull("usage");
        }
        return b.build();
    }

    private JsonObjectBuilder head() {
        return Json.BUILDERS.createObjectBuilder()
                .add("id", generation.id())
                .add("object", object)
                .add("created", created)
                .add("model", model);
    }
}
