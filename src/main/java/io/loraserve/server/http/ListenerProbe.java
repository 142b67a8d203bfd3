package io.loraserve.server.http;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.util.function.IntSupplier;

/**
 * Whether a listener still accepts connections, asked as a client would: by connecting to it.
 * Helidon 4.4 ends a listener for good when {@code accept} fails (for example with "Too many open
 * files"); the process, the other listener and Helidon's own state go on as if nothing happened,
 * so only a connection attempt tells. The answer is kept for a second, so probes cannot make the
 * server connect to itself faster than that.
 */
public final class ListenerProbe {
    private static final long KEEP_NANOS = 1_000_000_000L;
    private static final int CONNECT_TIMEOUT_MILLIS = 1000;

    private final InetAddress address;
    private final IntSupplier port;
    private long askedAt;
    private String answer;
    private boolean asked;

    /** {@code host} as the listener binds it; a wildcard address is probed on loopback. */
    public ListenerProbe(String host, IntSupplier port) {
        this.address = probeAddress(host);
        this.port = port;
    }

    private static InetAddress probeAddress(String host) {
        try {
            InetAddress a = InetAddress.getByName(host);
            return a.isAnyLocalAddress() ? InetAddress.getLoopbackAddress() : a;
        } catch (UnknownHostException e) {
            return InetAddress.getLoopbackAddress();
        }
    }

    /** Null while the listener accepts connections, else why not. */
    public synchronized String down() {
        long now = System.nanoTime();
        if (!asked || now - askedAt > KEEP_NANOS) {
            answer = connect();
            askedAt = now;
            asked = true;
        }
        return answer;
    }

    private String connect() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(address, port.getAsInt()), CONNECT_TIMEOUT_MILLIS);
            return null;
        } catch (IOException e) {
            return "the public port accepts no connections (" + e.getMessage() + "); its listener has ended,"
                    + " restart the server";
        }
    }
}
