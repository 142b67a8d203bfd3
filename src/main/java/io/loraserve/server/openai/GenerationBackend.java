package io.loraserve.server.openai;

import io.loraserve.constraint.Constraint;
import io.loraserve.constraint.ConstraintCache;
import io.helidon.webserver.http.ServerRequest;
import io.loraserve.engine.Engine;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.server.http.AccessLog;
import io.loraserve.server.http.ClientConnection;
import io.loraserve.tokenizer.Tokenizer;

/**
 * What the generating endpoints (completions, chat) share: the engine, the adapter catalogue,
 * the tokenizer, the model resolver, the {@code n} cap and the compiled structured-output constraints.
 */
public record GenerationBackend(Engine engine, AdapterRegistry adapters, Tokenizer tokenizer, ModelResolver models,
                         int maxN, ConstraintCache constraints) {

    /** The compiled structured-output constraint of {@code o}, or null; 400 when it cannot be compiled. */
    Constraint constraint(GenerationOptions o) {
        return StructuredOutput.compile(constraints, o.structured());
    }

    ServedModel base() {
        return models.base();
    }

    /** The adapter a request's options select (null = base), recorded in the access log entry. */
    String resolve(GenerationOptions o, AccessLog.Entry log) {
        String adapter = models.resolve(o.model(), o.adapter());
        log.adapter(adapter);
        return adapter;
    }

    /** A new set of engine requests for the API request {@code req}; {@code kind} starts its id. */
    Generation newGeneration(ServerRequest req, String kind) {
        return new Generation(engine, adapters, tokenizer, ClientConnection.of(req)::gone, kind);
    }
}
