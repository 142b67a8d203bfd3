package io.loraserve.server.http;

import io.helidon.common.buffers.DataReader;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerRequest;
import java.util.Locale;

/**
 * Reads request bodies: JSON only (415 otherwise); the size cap is the listener's max payload (413).
 * A body Helidon cannot frame is a 400 after which the connection is closed
 * ({@link ApiException#closingConnection}), since what follows it on the connection cannot be
 * trusted to be a request: a Content-Length that is not a non-negative integer (Helidon 4.4 would wait for
 * a negative one forever), a chunk size that is not hexadecimal, a body cut short by the client
 * closing its side.
 */
public final class Bodies {
    private Bodies() {
    }

    public static byte[] read(ServerRequest req) {
        req.headers().first(HeaderNames.CONTENT_TYPE).ifPresent(type -> {
            String t = type.toLowerCase(Locale.ROOT);
            if (!t.startsWith("application/json") && !t.contains("+json")) {
                throw new ApiException(415, "invalid_request_error", null, "unsupported_media_type",
                        "Content-Type must be application/json, not " + type);
            }
        });
        req.headers().first(HeaderNames.CONTENT_LENGTH).ifPresent(length -> {
            if (!length.matches("[0-9]{1,18}")) {
                throw malformed("Content-Length must be a non-negative integer, not '" + length + "'");
            }
        });
        if (!req.content().hasEntity()) {
            return new byte[0];
        }
        try {
            return req.content().as(byte[].class);
        } catch (NumberFormatException e) {
            throw malformed("the chunked body has a chunk size that is not hexadecimal");
        } catch (DataReader.InsufficientDataAvailableException e) {
            throw malformed("the body ended before its declared length (the client closed the connection)");
        }
    }

    private static ApiException malformed(String message) {
        return new ApiException(400, "invalid_request_error", null, "malformed_body", message).closingConnection();
    }
}
