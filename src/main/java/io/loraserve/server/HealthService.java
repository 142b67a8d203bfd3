package io.loraserve.server;

import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.loraserve.server.http.ErrorHandling;
import io.loraserve.server.http.Json;
import io.loraserve.server.http.JsonResponse;
import java.util.function.Supplier;

/**
 * {@code /health/live} (the process answers and its public port accepts connections: Helidon cannot
 * reopen a listener that ended, so only a restart helps, and a failing liveness probe asks for one) and {@code /health/ready} (200 only while the model
 * is loaded, the engine makes progress and the server is not draining; 503 with the reason
 * otherwise). {@code /health} answers as {@code /health/ready}, for probes and proxies written
 * for vLLM's server.
 */
final class HealthService implements HttpService {
    /** Null when ready, else why not. */
    private final Supplier<String> notReadyReason;
    /** Null while alive, else why not. */
    private final Supplier<String> notLiveReason;

    HealthService(Supplier<String> notReadyReason, Supplier<String> notLiveReason) {
        this.notReadyReason = notReadyReason;
        this.notLiveReason = notLiveReason;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/health/live", (req, res) -> {
            String reason = notLiveReason.get();
            send(res, reason == null ? 200 : 503, reason == null ? "UP" : "DOWN", reason);
        });
        rules.get("/health/ready", this::ready);
        rules.get("/health", this::ready);
        rules.any("/health/live", ErrorHandling.methodNotAllowed("GET"));
        rules.any("/health/ready", ErrorHandling.methodNotAllowed("GET"));
        rules.any("/health", ErrorHandling.methodNotAllowed("GET"));
    }

    private void ready(ServerRequest req, ServerResponse res) {
        String reason = notReadyReason.get();
        send(res, reason == null ? 200 : 503, reason == null ? "UP" : "DOWN", reason);
    }

    private static void send(ServerResponse res, int status, String state, String reason) {
        var b = Json.BUILDERS.createObjectBuilder().add("status", state);
        if (reason != null) {
            b.add("reason", reason);
        }
        res.status(status);
        JsonResponse.send(res, b.build());
    }
}
