package io.loraserve.server.http;

import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.HttpException;
import io.helidon.http.RequestException;
import io.helidon.http.Status;
import io.helidon.webserver.ServerConnectionException;
import io.helidon.webserver.http.DirectHandlers;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one place where exceptions become HTTP errors in OpenAI's shape. Handlers throw
 * {@link ApiException}; anything else is logged and reported as a 500 without internals.
 * Errors Helidon detects before routing (a {@code Content-Length} over {@code --max-body-bytes},
 * a malformed request line) get the same JSON through {@link #directHandlers}.
 */
public final class ErrorHandling {
    private static final Logger LOG = Logger.getLogger(ErrorHandling.class.getName());

    private ErrorHandling() {
    }

    public static void register(HttpRouting.Builder routing) {
        routing.error(ApiException.class, (req, res, e) -> send(req, res, e));
        routing.error(RequestException.class, (req, res, e) -> {
            int status = e.status().code();
            send(req, res, new ApiException(status, "invalid_request_error", null, code(status),
                    status == 413 ? tooLarge(req.listenerContext().config().maxPayloadSize())
                            : e.getMessage() == null ? e.status().reasonPhrase() : e.getMessage()));
        });
        routing.error(HttpException.class, (req, res, e) -> {
            int status = e.status().code();
            send(req, res, new ApiException(status, status >= 500 ? "server_error" : "invalid_request_error", null,
                    code(status), status == 404 ? noRoute(req.prologue().method().text(), req.path().path())
                            : e.getMessage() == null ? e.status().reasonPhrase() : e.getMessage()));
        });
        routing.error(Exception.class, (req, res, e) -> {
            LOG.log(Level.SEVERE, "unhandled error on " + req.prologue().method() + " " + req.path().path(), e);
            send(req, res, ApiException.serverError(500, "internal_error", "internal server error"));
        });
    }

    /**
     * JSON bodies for errors Helidon answers itself, before any route or filter runs; they carry a
     * request id and leave an access-log line like every other response.
     */
    public static DirectHandlers directHandlers(long maxBodyBytes) {
        DirectHandler json = (request, event, status, headers, message) -> {
            String id = AccessLog.requestId(request.headers());
            if (event == DirectHandler.EventType.INTERNAL_ERROR && request.method().isEmpty()) {
                // a head Helidon could not read, in practice one whose client left: MidHeadDisconnects counts those
                AccessLog.logDirectFine(request.method(), request.path(), status.code(), id);
            } else {
                AccessLog.logDirect(request.method(), request.path(), status.code(), id);
            }
            return DirectHandler.TransportResponse.builder()
                    .status(status)
                    .headers(headers)
                    .header(HeaderNames.CONTENT_TYPE, "application/json")
                    .header(AccessLog.REQUEST_ID, id)
                    .entity(Json.write(Json.error(status.code() == 413 ? tooLarge(maxBodyBytes)
                            : status.code() == 404 ? noRoute(request.method(), request.path())
                            : message == null ? status.reasonPhrase() : message,
                            status.code() >= 500 ? "server_error" : "invalid_request_error", null, code(status.code())))
                            .getBytes(StandardCharsets.UTF_8))
                    .build();
        };
        DirectHandlers.Builder b = DirectHandlers.builder();
        for (DirectHandler.EventType type : DirectHandler.EventType.values()) {
            b.addHandler(type, json);
        }
        return b.build();
    }

    /**
     * A handler for a route's other methods: 405 with {@code Allow}. Register it with {@code any}
     * after the route's real methods, so a wrong method is told what the route takes, not 404.
     */
    public static io.helidon.webserver.http.Handler methodNotAllowed(String... allowed) {
        String allow = String.join(", ", allowed);
        return (req, res) -> {
            throw new ApiException(405, "invalid_request_error", null, "method_not_allowed",
                    req.prologue().method().text() + " is not allowed on " + req.path().path() + "; use " + allow,
                    Map.of("Allow", allow));
        };
    }

    private static String noRoute(String method, String path) {
        return "no route " + method + " " + path + " on this port";
    }

    private static String code(int status) {
        return switch (status) {
            case 404 -> "not_found";
            case 413 -> "body_too_large";
            case 400 -> "invalid_request";
            default -> null;
        };
    }

    private static String tooLarge(long maxBodyBytes) {
        return "the request body is larger than the server's limit of " + maxBodyBytes + " bytes (--max-body-bytes)";
    }

    private static void send(ServerRequest req, ServerResponse res, ApiException e) {
        if (res.isSent()) {
            return;
        }
        res.status(Status.create(e.status()));
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        req.context().get(AccessLog.Entry.class).ifPresent(entry -> res.header(AccessLog.REQUEST_ID, entry.requestId));
        for (Map.Entry<String, String> h : e.headers().entrySet()) {
            res.header(h.getKey(), h.getValue());
        }
        if (e.closesConnection()) {
            res.header(HeaderValues.CONNECTION_CLOSE);
        }
        try {
            res.send(Json.write(Json.error(e.getMessage(), e.type(), e.param(), e.code())).getBytes(StandardCharsets.UTF_8));
            if (e.closesConnection()) {
                ClientConnection.of(req).stopReading();  // Helidon would read on; it closes at the end of input
            }
        } catch (UncheckedIOException | ServerConnectionException gone) {
            // the client left (a 499, typically): nobody to tell; Helidon closes the connection
            LOG.log(Level.FINE, "could not send a " + e.status() + " to a client that left", gone);
        }
    }
}
