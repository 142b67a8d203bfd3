package io.loraserve.server;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerRequest;

/** Reads request bodies: JSON only (415 otherwise); the size cap is the listener's max payload (413). */
final class Bodies {
    private Bodies() {
    }

    static byte[] read(ServerRequest req) {
        req.headers().first(HeaderNames.CONTENT_TYPE).ifPresent(type -> {
            String t = type.toLowerCase(java.util.Locale.ROOT);
            if (!t.startsWith("application/json") && !t.contains("+json")) {
                throw new ApiException(415, "invalid_request_error", null, "unsupported_media_type",
                        "Content-Type must be application/json, not " + type);
            }
        });
        return req.content().hasEntity() ? req.content().as(byte[].class) : new byte[0];
    }
}
