package io.loraserve.server.http;

import io.loraserve.engine.EngineBusyException;
import java.util.Map;

/**
 * The 429 (queue full) or 503 (shutting down) a request gets when it is not taken. Both carry
 * {@code Retry-After}: a full queue drains within seconds; a draining server will not come back,
 * but a load balancer retrying elsewhere after a second is what the client wants.
 */
public final class Overload {
    static final String RETRY_AFTER_SECONDS = "1";

    private Overload() {
    }

    public static ApiException of(EngineBusyException e) {
        return e.shuttingDown() ? shuttingDown(e.getMessage()) : new ApiException(429, "rate_limit_error", null,
                "too_many_requests", e.getMessage(), Map.of("Retry-After", RETRY_AFTER_SECONDS));
    }

    public static ApiException shuttingDown(String message) {
        return new ApiException(503, "server_error", null, "shutting_down", message,
                Map.of("Retry-After", RETRY_AFTER_SECONDS));
    }
}
