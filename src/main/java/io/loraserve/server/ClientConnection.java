package io.loraserve.server;

import io.helidon.common.buffers.DataReader;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.ServerConnectionException;
import io.helidon.webserver.http.ServerRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Whether the client of a request on a plain HTTP/1.1 connection is still there, asked without
 * blocking and without losing a byte the client sent.
 *
 * <p>Helidon 4 SE gives a handler no signal when its client goes away: a non-streaming response
 * writes once, at the end, and a stream waiting for its first token writes nothing. So the handler
 * asks, between engine events: with the request body read, the connection's next bytes are either
 * nothing yet (the client waits), a pipelined request, or the end of the stream (the client closed
 * or half-closed its side, as uvicorn also counts as a disconnect) or a reset. {@link #gone()} puts
 * the connection's channel in non-blocking mode for one read through Helidon's own reader, so the
 * bytes of a pipelined request stay buffered for Helidon to parse after this response.
 *
 * <p>Helidon exposes neither the connection of a request nor its channel, so both are found once by
 * type in its private fields (ServerRequest → ConnectionContext → SocketChannel). When they cannot
 * be found (another Helidon version, TLS, another protocol) the connection is {@link #UNKNOWN}: it
 * never reports a disconnect, and a warning says so once. DisconnectTest fails in that case.
 * Used by the request's own handler thread, which is the only reader of the connection while the
 * handler runs.
 */
final class ClientConnection {
    /** A connection that cannot be asked: never reports the client gone. */
    static final ClientConnection UNKNOWN = new ClientConnection(null, null);

    private static final Logger LOG = Logger.getLogger(ClientConnection.class.getName());
    private static final AtomicBoolean WARNED = new AtomicBoolean();
    private static final ClassValue<Field> CONNECTION = fieldOfType(ConnectionContext.class);
    private static final ClassValue<Field> CHANNEL = fieldOfType(SocketChannel.class);

    private final DataReader reader;
    private final SocketChannel channel;
    private boolean gone;

    private ClientConnection(DataReader reader, SocketChannel channel) {
        this.reader = reader;
        this.channel = channel;
    }

    /** The connection {@code req} arrived on, or {@link #UNKNOWN} when it cannot be asked. */
    static ClientConnection of(ServerRequest req) {
        try {
            if (!req.isSecure() && get(CONNECTION, req) instanceof ConnectionContext ctx
                    && get(CHANNEL, ctx) instanceof SocketChannel channel) {
                return new ClientConnection(ctx.dataReader(), channel);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.log(Level.FINE, "cannot reach the connection of a request", e);
        }
        if (WARNED.compareAndSet(false, true)) {
            LOG.warning("this Helidon build does not expose a request's connection: a client that closes its "
                    + "connection before the response is written is not noticed (requests run to max_tokens)");
        }
        return UNKNOWN;
    }

    /**
     * True once the client has closed (or half-closed) its side or reset the connection. Never
     * blocks; once true, stays true.
     */
    boolean gone() {
        if (gone || channel == null || reader.available() > 0) {
            return gone;  // buffered bytes of a pipelined request: the client is still there
        }
        try {
            channel.configureBlocking(false);
            try {
                reader.pullData();  // a pipelined request's bytes: appended to the reader for Helidon
            } finally {
                channel.configureBlocking(true);
            }
        } catch (DataReader.InsufficientDataAvailableException e) {
            gone = true;  // end of stream
        } catch (ServerConnectionException | UncheckedIOException | IOException e) {
            gone = true;  // reset, or the channel is closed
        } catch (IllegalStateException e) {
            // Helidon's socket reports a read of 0 bytes this way: nothing yet, the client waits
        }
        return gone;
    }

    private static Object get(ClassValue<Field> field, Object owner) throws IllegalAccessException {
        Field f = field.get(owner.getClass());
        return f == null ? null : f.get(owner);
    }

    /** The first field of {@code type} declared by a class or its superclasses, made accessible; null when none. */
    private static ClassValue<Field> fieldOfType(Class<?> type) {
        return new ClassValue<>() {
            @Override
            protected Field computeValue(Class<?> owner) {
                for (Class<?> c = owner; c != null; c = c.getSuperclass()) {
                    for (Field f : c.getDeclaredFields()) {
                        if (type.isAssignableFrom(f.getType())) {
                            f.setAccessible(true);
                            return f;
                        }
                    }
                }
                return null;
            }
        };
    }
}
