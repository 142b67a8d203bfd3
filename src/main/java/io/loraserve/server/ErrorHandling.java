package io.loraserve.server;

import io.helidon.http.HeaderNames;
import io.helidon.http.RequestException;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerResponse;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one place where exceptions become HTTP errors in OpenAI's shape. Handlers throw
 * {@link ApiException}; anything else is logged and reported as a 500 without internals.
 */
public final class ErrorHandling {
    private static final Logger LOG = Logger.getLogger(ErrorHandling.class.getName());

    private ErrorHandling() {
    }

    public static void register(HttpRouting.Builder routing) {
        routing.error(ApiException.class, (req, res, e) -> send(res, e.status(), e.type(), e.param(), e.code(), e.getMessage()));
        routing.error(RequestException.class, (req, res, e) -> {
            int status = e.status().code();
            send(res, status, "invalid_request_error", null, status == 413 ? "body_too_large" : null,
                    e.getMessage() == null ? e.status().reasonPhrase() : e.getMessage());
        });
        routing.error(Exception.class, (req, res, e) -> {
            LOG.log(Level.SEVERE, "unhandled error on " + req.prologue().method() + " " + req.path().path(), e);
            send(res, 500, "server_error", null, "internal_error", "internal server error");
        });
    }

    static void send(ServerResponse res, int status, String type, String param, String code, String message) {
        if (res.isSent()) {
            return;
        }
        res.status(Status.create(status));
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(Json.write(Json.error(message, type, param, code)).getBytes(StandardCharsets.UTF_8));
    }
}
