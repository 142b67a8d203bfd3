package io.loraserve.server.http;

import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.time.Duration;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Counts the {@code /v1/} requests in flight on the public port and, once {@link #close()}d,
 * refuses new ones with 503 while those in flight run on. {@link #awaitIdle} lets a graceful
 * shutdown wait for them. A request that passed the gate before it closed is always counted, so
 * nothing admitted is cut off by the close itself.
 */
public final class ShutdownGate implements Filter {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition idle = lock.newCondition();
    private boolean closed;
    private int inFlight;

    @Override
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        if (!req.path().rawPath().startsWith("/v1/")) {
            chain.proceed();
            return;
        }
        lock.lock();
        try {
            if (closed) {
                throw Overload.shuttingDown("the server is shutting down and takes no new requests");
            }
            inFlight++;
        } finally {
            lock.unlock();
        }
        try {
            chain.proceed();
        } finally {
            lock.lock();
            try {
                if (--inFlight == 0) {
                    idle.signalAll();
                }
            } finally {
                lock.unlock();
            }
        }
    }

    /** Refuses every later request. */
    public void close() {
        lock.lock();
        try {
            closed = true;
        } finally {
            lock.unlock();
        }
    }

    /** Waits up to {@code limit} for the requests in flight to end; true if they all did. */
    public boolean awaitIdle(Duration limit) throws InterruptedException {
        long left = limit.toNanos();
        lock.lock();
        try {
            while (inFlight > 0) {
                if (left <= 0) {
                    return false;
                }
                left = idle.awaitNanos(left);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    public int inFlight() {
        lock.lock();
        try {
            return inFlight;
        } finally {
            lock.unlock();
        }
    }
}
