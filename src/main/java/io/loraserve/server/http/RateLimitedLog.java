package io.loraserve.server.http;

import java.time.Duration;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One kind of event that a client can cause at will (a refused connection, a request head that
 * never ends): the first is logged as one line, the next ones are counted and summed up in at most
 * one line per period, so a flood of them cannot flood the log.
 */
final class RateLimitedLog {
    private final Logger log;
    private final Level level;
    private final long periodNanos;
    private final String what;
    private final LongSupplier clock;
    private long nextLine;
    private long pending;
    private boolean first = true;

    RateLimitedLog(Logger log, Level level, Duration period, String what) {
        this(log, level, period, what, System::nanoTime);
    }

    RateLimitedLog(Logger log, Level level, Duration period, String what, LongSupplier clock) {
        this.log = log;
        this.level = level;
        this.periodNanos = period.toNanos();
        this.what = what;
        this.clock = clock;
    }

    /** One event; {@code detail} (e.g. the client's address) appears only when this event gets a line. */
    synchronized void event(String detail) {
        long now = clock.getAsLong();
        if (first || now - nextLine >= 0) {
            String more = first ? "; more are counted and reported at most every " + periodNanos / 1_000_000_000L + " s"
                    : pending > 0 ? " (and " + pending + " more since the last report)" : "";
            log.log(level, what + " (" + detail + ")" + more);
            first = false;
            pending = 0;
            nextLine = now + periodNanos;
        } else {
            pending++;
        }
    }

    /** Reports the counted events once the period since the last line is over; call it now and then. */
    synchronized void flush() {
        long now = clock.getAsLong();
        if (pending > 0 && now - nextLine >= 0) {
            log.log(level, what + ": " + pending + " more since the last report");
            pending = 0;
            nextLine = now + periodNanos;
        }
    }
}
