package io.loraserve.server.http;

import io.helidon.common.socket.SocketOptions;
import io.helidon.http.Headers;
import io.helidon.http.HttpPrologue;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.ListenerConfig;
import io.helidon.webserver.http1.Http1Config;
import io.helidon.webserver.http1.Http1ConnectionListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketOption;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The connections of one listener and their limits: at most {@code max} open at once, a request
 * head (request line and headers) complete within {@code headerTimeout}, and no connection idle
 * between requests longer than {@code idleTimeout}.
 *
 * <p>Helidon 4.4 SE's own cap ({@code maxTcpConnections}) stops accepting at the cap, so the
 * connections over it wait in the kernel's backlog with no answer; its idle timer closes a connection
 * waiting for a request line but never one stuck in its headers; and it has no read timeout on
 * server sockets. So this class sees every accepted socket first (Helidon hands it to
 * {@link SocketOptions#configureSocket(SocketChannel)} before anything else): over the cap the client
 * gets a 503 and the socket is closed at once, otherwise the connection is tracked with a deadline
 * for its first request head. HTTP/1's receive events clear the deadline when the headers are in
 * and set it again at each further request line on the connection. A sweep every
 * {@link #sweepPeriod} closes the connections past their deadline and forgets the closed ones. The
 * idle timeout is Helidon's own, which covers the wait for the next request line.
 *
 * <p>Connections are keyed by the client's address and port, unique among one listener's open
 * connections. The sweep runs on {@code timer}, which the owner shuts down.
 */
public final class ConnectionLimits {
    private static final Logger LOG = Logger.getLogger(ConnectionLimits.class.getName());
    private static final Duration REPORT_PERIOD = Duration.ofMinutes(1);
    /** How long a refused connection's bytes are read and dropped before it is closed. */
    private static final long LINGER_MILLIS = 1000;
    /** Refused connections lingering at once at most; the ones over it are closed at once (they hold descriptors). */
    private static final int MAX_LINGERING = 32;

    private final String listener;
    private final int max;
    private final long headerNanos;
    private final Duration idleTimeout;
    private final byte[] busy;
    private final Map<SocketAddress, Tracked> open = new ConcurrentHashMap<>();
    private final Semaphore lingering = new Semaphore(MAX_LINGERING);
    private final RateLimitedLog refusals;
    private final RateLimitedLog headTimeouts;
    private final ScheduledFuture<?> sweep;

    /** An open connection; {@code headDeadline} (System.nanoTime) is 0 while no request head is awaited. */
    private static final class Tracked {
        final SocketChannel channel;
        volatile long headDeadline;

        Tracked(SocketChannel channel, long headDeadline) {
            this.channel = channel;
            this.headDeadline = headDeadline;
        }
    }

    /**
     * @param listener the listener's name in log lines and errors ({@code public}, {@code admin})
     * @param flag the option that sets {@code max}, named in the 503 over it
     */
    public ConnectionLimits(String listener, String flag, int max, Duration headerTimeout, Duration idleTimeout,
                     ScheduledExecutorService timer) {
        this.listener = listener;
        this.max = max;
        this.headerNanos = headerTimeout.toNanos();
        this.idleTimeout = idleTimeout;
        this.busy = busyResponse(max, flag);
        this.refusals = new RateLimitedLog(LOG, Level.WARNING, REPORT_PERIOD, "the " + listener + " port holds its "
                + max + " connections (" + flag + "): a new connection was refused with 503");
        this.headTimeouts = new RateLimitedLog(LOG, Level.INFO, REPORT_PERIOD, "closed a connection on the "
                + listener + " port that sent no complete request head within " + seconds(headerTimeout) + " s");
        Duration period = sweepPeriod(headerTimeout);
        this.sweep = timer.scheduleWithFixedDelay(this::sweep, period.toNanos(), period.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** How often deadlines are checked: a quarter of the header timeout, at most a second. */
    static Duration sweepPeriod(Duration headerTimeout) {
        Duration quarter = headerTimeout.dividedBy(4);
        return quarter.compareTo(Duration.ofSeconds(1)) < 0 ? quarter : Duration.ofSeconds(1);
    }

    /** Puts these limits on a listener. */
    public void configure(ListenerConfig.BuilderBase<?, ?> socket) {
        Duration check = idleTimeout.dividedBy(4);
        socket.connectionOptions(new Gate(SocketOptions.create()));
        socket.idleConnectionTimeout(idleTimeout);
        socket.idleConnectionPeriod(check.compareTo(Duration.ofSeconds(5)) < 0 ? check : Duration.ofSeconds(5));
        socket.addProtocol(Http1Config.builder().addReceiveListener(new HeadWatch()).build());
    }

    /** Open connections now (forgets the ones closed since the last sweep). */
    int open() {
        prune();
        return open.size();
    }

    public void stop() {
        sweep.cancel(false);
        refusals.flush();
        headTimeouts.flush();
    }

    private void accepted(SocketChannel channel) {
        if (open.size() >= max) {
            prune();
        }
        if (open.size() >= max) {
            refuse(channel);
            // Helidon logs this at TRACE, closes the socket (again) and handles nothing
            throw new IllegalStateException("over the " + listener + " connection cap");
        }
        try {
            open.put(channel.getRemoteAddress(), new Tracked(channel, System.nanoTime() + headerNanos));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A 503 written without waiting (a fresh socket's send buffer is empty), then the socket closed.
     * Closing a socket with unread bytes resets it, and a reset can overtake the 503, so while few
     * are pending the client's bytes are read and dropped for up to {@link #LINGER_MILLIS} first.
     */
    private void refuse(SocketChannel channel) {
        String peer = "?";
        boolean linger = false;
        try {
            peer = String.valueOf(channel.getRemoteAddress());
            channel.configureBlocking(false);
            channel.write(ByteBuffer.wrap(busy));
            channel.shutdownOutput();
            linger = lingering.tryAcquire();
        } catch (IOException e) {
            LOG.log(Level.FINE, "could not send the 503 to a refused connection", e);
        } finally {
            if (linger) {
                Thread.ofVirtual().name("refused-connection").start(() -> lingerThenClose(channel));
            } else {
                close(channel);
            }
        }
        refusals.event("client " + peer);
    }

    private void lingerThenClose(SocketChannel channel) {
        ByteBuffer drop = ByteBuffer.allocate(1024);
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LINGER_MILLIS);
        try {
            while (System.nanoTime() < end) {
                drop.clear();
                int n = channel.read(drop);
                if (n < 0) {
                    break;
                }
                if (n == 0) {
                    Thread.sleep(20);
                }
            }
        } catch (IOException | InterruptedException e) {
            LOG.log(Level.FINEST, "a refused connection ended", e);
        } finally {
            close(channel);
            lingering.release();
        }
    }

    private void sweep() {
        try {
            long now = System.nanoTime();
            for (Map.Entry<SocketAddress, Tracked> e : open.entrySet()) {
                Tracked t = e.getValue();
                long deadline = t.headDeadline;
                if (!t.channel.isOpen()) {
                    open.remove(e.getKey(), t);
                } else if (deadline != 0 && now - deadline > 0) {
                    open.remove(e.getKey(), t);
                    close(t.channel);
                    headTimeouts.event("client " + e.getKey());
                }
            }
            refusals.flush();
            headTimeouts.flush();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "connection sweep failed", e);  // the next sweep runs anyway
        }
    }

    private void prune() {
        open.entrySet().removeIf(e -> !e.getValue().channel.isOpen());
    }

    private static void close(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "could not close a connection", e);
        }
    }

    private static long seconds(Duration d) {
        return d.toSeconds();
    }

    private static byte[] busyResponse(int max, String flag) {
        byte[] body = Json.write(Json.error("too many connections: the server holds its " + max + " (" + flag
                + "); retry later", "server_error", null, "too_many_connections")).getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n";
        byte[] h = head.getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[h.length + body.length];
        System.arraycopy(h, 0, all, 0, h.length);
        System.arraycopy(body, 0, all, h.length, body.length);
        return all;
    }

    /** Marks the head of each request: awaited from the request line (or the accept) until the headers are in. */
    private final class HeadWatch implements Http1ConnectionListener {
        @Override
        public void prologue(ConnectionContext ctx, HttpPrologue prologue) {
            Tracked t = open.get(ctx.remotePeer().address());
            if (t != null && t.headDeadline == 0) {
                t.headDeadline = System.nanoTime() + headerNanos;
            }
        }

        @Override
        public void headers(ConnectionContext ctx, Headers headers) {
            Tracked t = open.get(ctx.remotePeer().address());
            if (t != null) {
                t.headDeadline = 0;
            }
        }
    }

    /** Helidon's default socket options, plus this class's look at every accepted socket. */
    private final class Gate implements SocketOptions {
        private final SocketOptions delegate;

        Gate(SocketOptions delegate) {
            this.delegate = delegate;
        }

        @Override
        public void configureSocket(SocketChannel socket) {
            delegate.configureSocket(socket);
            accepted(socket);
        }

        @Override
        public void configureSocket(Socket socket) {
            delegate.configureSocket(socket);
        }

        @Override
        public Map<SocketOption<?>, Object> socketOptions() {
            return delegate.socketOptions();
        }

        @Override
        public Duration connectTimeout() {
            return delegate.connectTimeout();
        }

        @Override
        public Duration readTimeout() {
            return delegate.readTimeout();
        }

        @Override
        public Optional<Integer> socketReceiveBufferSize() {
            return delegate.socketReceiveBufferSize();
        }

        @Override
        public Optional<Integer> socketSendBufferSize() {
            return delegate.socketSendBufferSize();
        }

        @Override
        public boolean socketReuseAddress() {
            return delegate.socketReuseAddress();
        }

        @Override
        public boolean socketKeepAlive() {
            return delegate.socketKeepAlive();
        }

        @Override
        public boolean tcpNoDelay() {
            return delegate.tcpNoDelay();
        }
    }
}
