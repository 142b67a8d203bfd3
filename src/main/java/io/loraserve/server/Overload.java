package io.loraserve.server;

import io.loraserve.engine.EngineBusyException;

/** The 429 (queue full) or 503 (shutting down) a request gets when the engine does not take it. */
final class Overload {
    private Overload() {
    }

    static ApiException of(EngineBusyException e) {
        return e.shuttingDown()
                ? new ApiException(503, "server_error", null, "shutting_down", e.getMessage())
                : new ApiException(429, "rate_limit_error", null, "too_many_requests", e.getMessage());
    }
}
