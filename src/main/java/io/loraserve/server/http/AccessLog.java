package io.loraserve.server.http;

import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import io.helidon.webserver.http.ServerRequest;
import java.util.UUID;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Request ids and the access log. Every request gets an id: the client's {@code X-Request-Id}
 * when it is 1 to {@value #MAX_ID} visible ASCII characters, else a fresh UUID. The id is echoed
 * in the response's {@code X-Request-Id} (error responses too, see {@link ErrorHandling}) and ends
 * the request's one log line on logger {@code io.loraserve.access}, in {@code key=value} form:
 *
 * <pre>method=POST path=/v1/completions status=200 adapter=- prompt_tokens=5 completion_tokens=16 latency_ms=41 request_id=…</pre>
 *
 * <p>Handlers add what they know through {@link #entry(ServerRequest)}: the adapter ({@code -} for
 * the base model), token counts ({@code -} when none were generated) and an outcome such as
 * {@code client_gone}. A stream that ends in an error event (shutdown, timeout, engine failure) is
 * logged with that error's status, not the 200 its headers went out with, the tokens it had sent,
 * and {@code outcome=error_mid_stream}. Health probes log at FINE, everything else at INFO.
 */
public final class AccessLog implements Filter {
    static final HeaderName REQUEST_ID = HeaderNames.create("X-Request-Id");
    static final int MAX_ID = 128;
    private static final Logger LOG = Logger.getLogger("io.loraserve.access");

    /** One request's log line in the making; written by its handler thread. */
    public static final class Entry {
        final String requestId;
        String adapter;
        int promptTokens = -1;
        int completionTokens = -1;
        String outcome;
        int failedStatus;

        Entry(String requestId) {
            this.requestId = requestId;
        }

        /** The adapter that served the request (null: the base model). */
        public void adapter(String adapter) {
            this.adapter = adapter;
        }

        /** The client left before its response was complete. */
        public void clientGone() {
            outcome = "client_gone";
        }

        public void tokens(int promptTokens, int completionTokens) {
            this.promptTokens = promptTokens;
            this.completionTokens = completionTokens;
        }

        /** A response that began as a 200 stream ended with an error of {@code status} after {@code sentTokens}. */
        public void failedMidStream(int status, int promptTokens, int sentTokens) {
            failedStatus = status;
            outcome = "error_mid_stream";
            tokens(promptTokens, sentTokens);
        }
    }

    /** The log entry of {@code req}; a detached one when the filter did not run (tests, other listeners). */
    public static Entry entry(ServerRequest req) {
        return req.context().get(Entry.class).orElseGet(() -> new Entry(newId()));
    }

    @Override
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        long start = System.nanoTime();
        Entry e = new Entry(requestId(req.headers()));
        req.context().register(e);
        res.header(REQUEST_ID, e.requestId);
        int refused = 0;
        try {
            chain.proceed();
        } catch (ApiException refusal) {
            refused = refusal.status();  // from a later filter: Helidon writes it after this one returns
            throw refusal;
        } finally {
            int status = refused != 0 ? refused : e.failedStatus != 0 ? e.failedStatus : res.status().code();
            String method = req.prologue().method().text();
            String path = req.path().rawPath();
            LOG.log(path.equals("/health") || path.startsWith("/health/") ? Level.FINE : Level.INFO,
                    () -> line(method, path, status, e, Long.toString((System.nanoTime() - start) / 1_000_000)));
        }
    }

    /** The id of a request with {@code headers}: the client's when acceptable, else a fresh one. */
    static String requestId(Headers headers) {
        return headers.first(REQUEST_ID).filter(AccessLog::acceptable).orElseGet(AccessLog::newId);
    }

    /**
     * Logs a request Helidon answered itself before routing (a body over the limit, a malformed
     * request line): no filter ran, so its latency is unknown ({@code -}).
     */
    static void logDirect(String method, String path, int status, String requestId) {
        LOG.info(() -> line(method, path, status, new Entry(requestId), "-"));
    }

    /** {@link #logDirect} at FINE: for a line that a client can make the server write at will and that says nothing. */
    static void logDirectFine(String method, String path, int status, String requestId) {
        LOG.fine(() -> line(method, path, status, new Entry(requestId), "-"));
    }

    private static String line(String method, String path, int status, Entry e, String latencyMs) {
        StringBuilder b = new StringBuilder()
                .append("method=").append(method)
                .append(" path=").append(path)
                .append(" status=").append(status)
                .append(" adapter=").append(e.adapter == null ? "-" : e.adapter)
                .append(" prompt_tokens=").append(e.promptTokens < 0 ? "-" : Integer.toString(e.promptTokens))
                .append(" completion_tokens=").append(e.completionTokens < 0 ? "-" : Integer.toString(e.completionTokens))
                .append(" latency_ms=").append(latencyMs)
                .append(" request_id=").append(e.requestId);
        if (e.outcome != null) {
            b.append(" outcome=").append(e.outcome);
        }
        return b.toString();
    }

    private static boolean acceptable(String id) {
        return !id.isEmpty() && id.length() <= MAX_ID && id.chars().allMatch(c -> c > 0x20 && c < 0x7f);
    }

    private static String newId() {
        return UUID.randomUUID().toString();
    }
}
