package io.loraserve.server.http;

import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.http.Status;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Cross-origin access for browser clients of the public API ({@code --allowed-origins}, as vLLM's
 * flag): a request from an allowed origin gets {@code Access-Control-Allow-Origin} (the origin, or
 * {@code *} when every origin is allowed) and may read {@code X-Request-Id}; a preflight
 * ({@code OPTIONS} with {@code Access-Control-Request-Method}) from an allowed origin is answered
 * here with 204 before any route or API-key check runs, since browsers send preflights without
 * credentials. Other origins get no CORS headers, so browsers keep their pages out.
 */
public final class Cors implements Filter {
    private static final HeaderName REQUEST_METHOD = HeaderNames.create("Access-Control-Request-Method");
    private static final HeaderName REQUEST_HEADERS = HeaderNames.create("Access-Control-Request-Headers");
    private static final HeaderName ALLOW_ORIGIN = HeaderNames.create("Access-Control-Allow-Origin");
    private static final HeaderName ALLOW_METHODS = HeaderNames.create("Access-Control-Allow-Methods");
    private static final HeaderName ALLOW_HEADERS = HeaderNames.create("Access-Control-Allow-Headers");
    private static final HeaderName EXPOSE_HEADERS = HeaderNames.create("Access-Control-Expose-Headers");
    private static final HeaderName MAX_AGE = HeaderNames.create("Access-Control-Max-Age");
    private static final String DEFAULT_HEADERS = "Authorization, Content-Type, X-Request-Id";

    private final Set<String> origins;
    private final boolean any;

    /** {@code origins}: exact origins ({@code https://ui.example:8080}), or {@code *} for all. */
    public Cors(List<String> origins) {
        this.origins = Set.copyOf(origins);
        this.any = origins.contains("*");
    }

    @Override
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        Optional<String> origin = req.headers().first(HeaderNames.ORIGIN).filter(o -> any || origins.contains(o));
        if (origin.isEmpty()) {
            chain.proceed();
            return;
        }
        res.header(ALLOW_ORIGIN, any ? "*" : origin.get());
        res.header(HeaderNames.VARY, "Origin");
        res.header(EXPOSE_HEADERS, AccessLog.REQUEST_ID.defaultCase());
        if (req.prologue().method().equals(Method.OPTIONS) && req.headers().contains(REQUEST_METHOD)) {
            res.header(ALLOW_METHODS, "GET, POST, OPTIONS");
            res.header(ALLOW_HEADERS, req.headers().first(REQUEST_HEADERS).orElse(DEFAULT_HEADERS));
            res.header(MAX_AGE, "600");
            res.status(Status.NO_CONTENT_204).send();
            return;
        }
        chain.proceed();
    }
}
