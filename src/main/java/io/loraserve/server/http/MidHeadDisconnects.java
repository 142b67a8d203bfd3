package io.loraserve.server.http;

import io.helidon.common.buffers.DataReader;
import java.time.Duration;
import java.util.logging.Filter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Clients that close their connection in the middle of a request head. Helidon 4.4 reads the
 * end of the stream there as an internal error: it answers 500 into the closed connection and
 * logs a WARNING with a twenty-line stack trace, one per client, so 400 such clients write 8,000
 * lines. A filter on Helidon's HTTP/1 logger drops exactly those records (an "Internal server
 * error" caused by the data running out) and {@link #LOG} reports them instead: the first as one
 * line, the rest as a count at most once a minute. Helidon's other records pass unchanged. The
 * access log writes such a head's line (no method, no path, 500) at FINE, see {@link ErrorHandling}.
 */
public final class MidHeadDisconnects {
    private static final Logger LOG = Logger.getLogger(MidHeadDisconnects.class.getName());
    /** Held here: java.util.logging keeps loggers weakly, and the filter lives in this instance. */
    private static final Logger HELIDON_HTTP1 = Logger.getLogger("io.helidon.webserver.http1.Http1Connection");
    private static final RateLimitedLog REPORT = new RateLimitedLog(LOG, Level.INFO, Duration.ofMinutes(1),
            "a client closed its connection in the middle of a request head");

    private MidHeadDisconnects() {
    }

    /** Installs the filter once per JVM (Helidon's logger is one per JVM too). */
    public static synchronized void quiet() {
        Filter current = HELIDON_HTTP1.getFilter();
        if (current instanceof Quiet) {
            return;
        }
        HELIDON_HTTP1.setFilter(new Quiet(current));
    }

    /** True for Helidon's record of a request head cut short by its client. */
    static boolean isMidHeadDisconnect(LogRecord r) {
        if (r.getThrown() == null || r.getMessage() == null || !r.getMessage().startsWith("Internal server error")) {
            return false;
        }
        for (Throwable t = r.getThrown(); t != null; t = t.getCause()) {
            if (t instanceof DataReader.InsufficientDataAvailableException) {
                return true;
            }
        }
        return false;
    }

    private record Quiet(Filter next) implements Filter {
        @Override
        public boolean isLoggable(LogRecord r) {
            if (isMidHeadDisconnect(r)) {
                REPORT.event("an internal error for Helidon; no answer reached the client");
                return false;
            }
            return next == null || next.isLoggable(r);
        }
    }
}
