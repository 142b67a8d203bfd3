package io.loraserve.server;

import io.helidon.webserver.http.ServerRequest;
import io.loraserve.engine.Engine;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.tokenizer.Tokenizer;

/**
 * What the generating endpoints (completions, chat) share: the engine, the adapter catalogue,
 * the tokenizer, the model resolver and the {@code n} cap.
 */
record GenerationBackend(Engine engine, AdapterRegistry adapters, Tokenizer tokenizer, ModelResolver models,
                         int maxN) {

    ServedModel base() {
        return models.base();
    }

    /** The adapter a request's options select (null = base), recorded in the access log entry. */
    String resolve(GenerationOptions o, AccessLog.Entry log) {
        String adapter = models.resolve(o.model(), o.adapter());
        log.adapter = adapter;
        return adapter;
    }

    /** A new set of engine requests for the API request {@code req}; {@code kind} starts its id. */
    Generation newGeneration(ServerRequest req, String kind) {
        return new Generation(engine, adapters, tokenizer, ClientConnection.of(req), kind);
    }
}
