package io.loraserve.server.http;

import io.helidon.common.buffers.DataReader;
import io.helidon.common.socket.NioSocket;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.ServerConnectionException;
import io.helidon.webserver.http.ServerRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.nio.channels.IllegalBlockingModeException;
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
 * asks, between engine events. With the request body read, the connection's next bytes are nothing
 * yet (the client waits), a pipelined request, stray line ends (which HTTP/1.1 lets a client send
 * after a body), the end of the stream (the client closed or half-closed its side; uvicorn, under
 * vLLM, counts both as a disconnect) or a reset. {@link #gone()} puts the connection's channel in
 * non-blocking mode for one read through Helidon's own reader, so the bytes of a pipelined request
 * stay buffered for Helidon to parse after this response. Once a pipelined request is buffered,
 * only a reset counts as gone: a client may half-close after its last pipelined request.
 *
 * <p>Helidon exposes the connection of a request but not its channel, so both are found once by type
 * in its private fields (ServerRequest → ConnectionContext → SocketChannel). Only Helidon's plain NIO
 * socket with direct writes qualifies (its defaults; with an async write queue another thread could
 * write while the channel is non-blocking). Otherwise the connection is {@link #UNKNOWN}: it never
 * reports a disconnect, and a warning says so once. DisconnectTest fails in that case. Used by the
 * request's own handler thread, which is the only reader of the connection while the handler runs.
 */
public final class ClientConnection {
    /** A connection that cannot be asked: never reports the client gone. */
    static final ClientConnection UNKNOWN = new ClientConnection(null, null);

    /** Buffered bytes of pipelined requests beyond which the connection is no longer read ahead. */
    private static final int MAX_READ_AHEAD = 64 * 1024;
    private static final Logger LOG = Logger.getLogger(ClientConnection.class.getName());
    private static final AtomicBoolean WARNED = new AtomicBoolean();
    private static final ClassValue<Field> CONNECTION = fieldOfType(ConnectionContext.class);
    private static final ClassValue<Field> CHANNEL = fieldOfType(SocketChannel.class);

    private final DataReader reader;
    private final SocketChannel channel;
    private boolean gone;
    private boolean unaskable;

    private ClientConnection(DataReader reader, SocketChannel channel) {
        this.reader = reader;
        this.channel = channel;
    }

    /** The connection {@code req} arrived on, or {@link #UNKNOWN} when it cannot be asked. */
    public static ClientConnection of(ServerRequest req) {
        try {
            if (get(CONNECTION, req) instanceof ConnectionContext ctx
                    && ctx.serverSocket().getClass() == NioSocket.class
                    && ctx.listenerContext().config().writeQueueLength() <= 1
                    && get(CHANNEL, ctx) instanceof SocketChannel channel) {
                return new ClientConnection(ctx.dataReader(), channel);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.log(Level.FINE, "cannot reach the connection of a request", e);
        }
        warnOnce();
        return UNKNOWN;
    }

    private static void warnOnce() {
        if (WARNED.compareAndSet(false, true)) {
            LOG.warning("this server's connections cannot be asked whether their client is still there: a client "
                    + "that closes its connection before the response is written is not noticed "
                    + "(requests run to max_tokens)");
        }
    }

    /**
     * True once the client has closed (or half-closed) its side or reset the connection. Never
     * blocks; once true, stays true.
     */
    public boolean gone() {
        if (gone || unaskable || channel == null) {
            return gone;
        }
        while (reader.available() > 0 && isLineEnd(reader.lookup())) {
            reader.skip(1);  // line ends between requests: Helidon would skip them too
        }
        int buffered = reader.available();
        if (buffered >= MAX_READ_AHEAD) {
            return false;
        }
        try {
            channel.configureBlocking(false);
            try {
                reader.pullData();  // a pipelined request's bytes: appended to the reader for Helidon
            } finally {
                channel.configureBlocking(true);
            }
        } catch (DataReader.InsufficientDataAvailableException e) {
            gone = buffered == 0;  // end of stream; after a pipelined request, a half-close
        } catch (IllegalBlockingModeException e) {
            unaskable = true;  // not a channel read after all: never ask again
            warnOnce();
        } catch (ServerConnectionException | UncheckedIOException | IOException e) {
            gone = true;  // reset, or the channel is closed
        } catch (IllegalStateException e) {
            // Helidon's NIO socket reports a read of 0 bytes this way: nothing yet, the client waits
        }
        return gone;
    }

    /**
     * Ends the input side of the connection: Helidon then sees the end of the stream where it
     * would read the next request, and closes the connection. For a request whose body could not be
     * framed, whose following bytes cannot be trusted to be a request.
     */
    void stopReading() {
        if (channel != null) {
            try {
                channel.shutdownInput();
            } catch (IOException e) {
                LOG.log(Level.FINE, "could not shut the connection's input", e);
            }
        }
    }

    private static boolean isLineEnd(byte b) {
        return b == '\r' || b == '\n';
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
