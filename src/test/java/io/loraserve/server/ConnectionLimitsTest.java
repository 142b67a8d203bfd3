package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * What a client can do to the public port with connections alone: hold them open without a
 * request, trickle a request head, open more than the server allows, or leave in the middle of a
 * head. Each test starts its own server with lowered limits and talks to it over raw sockets (the
 * cap counts every connection, an HTTP client's pooled ones too).
 */
class ConnectionLimitsTest {
    private static final String HEALTH = "GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n";

    @Test
    void aClientThatTricklesItsRequestHeadIsDisconnectedAfterTheHeaderTimeout() throws Exception {
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--header-timeout", "1", "--idle-timeout", "30");
             LogCapture logs = new LogCapture(); Socket slow = connect(server); Socket silent = connect(server)) {
            long start = System.nanoTime();
            send(slow, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n");
            // a header line every 200 ms: a read timeout alone would never fire
            Duration slowClosed = null;
            while (slowClosed == null && elapsed(start).compareTo(Duration.ofSeconds(6)) < 0) {
                try {
                    send(slow, "X-Slow: 1\r\n");
                    if (readsEndWithin(slow, Duration.ofMillis(200))) {
                        slowClosed = elapsed(start);
                    }
                } catch (IOException e) {
                    slowClosed = elapsed(start);  // reset, or a write after the close
                }
            }
            assertTrue(slowClosed != null, "a client trickling its headers is never disconnected");
            assertTrue(slowClosed.compareTo(Duration.ofMillis(900)) >= 0 && slowClosed.compareTo(Duration.ofSeconds(3)) < 0,
                    "disconnected after " + slowClosed);
            assertTrue(readsEndWithin(silent, Duration.ofSeconds(2)), "a client that sends nothing is disconnected too");
            assertEquals(200, status(request(server, HEALTH)), "the server answers a fresh client");
            assertTrue(logs.records.stream().noneMatch(r -> r.getThrown() != null), LogCapture.text(logs.records));
        }
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeoutNotTheHeaderTimeout() throws Exception {
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--header-timeout", "1", "--idle-timeout", "3");
             Socket s = connect(server)) {
            send(s, HEALTH);
            assertEquals(200, status(readResponse(s)));
            long answered = System.nanoTime();
            assertTrue(!readsEndWithin(s, Duration.ofSeconds(2)), "an idle connection is closed by the header timeout");
            send(s, HEALTH);
            assertEquals(200, status(readResponse(s)), "a kept-alive connection serves its next request");
            answered = System.nanoTime();
            assertTrue(readsEndWithin(s, Duration.ofSeconds(7)), "an idle keep-alive connection is never closed");
            Duration idle = elapsed(answered);
            // Helidon stamps activity once a second, so the close may come up to a second early
            assertTrue(idle.compareTo(Duration.ofMillis(1500)) >= 0, "closed after only " + idle);
        }
    }

    @Test
    void overMaxConnectionsANewConnectionGets503AtOnceWhileTheOthersAreServed() throws Exception {
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--max-connections", "3", "--header-timeout", "10",
                "--idle-timeout", "30");
             Socket kept = connect(server)) {
            send(kept, HEALTH);
            assertEquals(200, status(readResponse(kept)));
            Socket quiet1 = connect(server);
            Socket quiet2 = connect(server);
            long start = System.nanoTime();
            String refused;
            try (Socket over = connect(server)) {
                refused = readAll(over, Duration.ofSeconds(2));
            }
            assertTrue(refused.startsWith("HTTP/1.1 503 "), "over the cap: " + refused);
            assertTrue(refused.contains("Retry-After: 1") && refused.contains("\"too_many_connections\""), refused);
            assertTrue(elapsed(start).compareTo(Duration.ofSeconds(1)) < 0, "the refusal took " + elapsed(start));
            send(kept, HEALTH);
            assertEquals(200, status(readResponse(kept)), "a connection already open is still served");
            quiet1.close();
            quiet2.close();
            int status = 0;
            for (int i = 0; i < 50 && status != 200; i++) {  // the server notices the closes within milliseconds
                status = status(request(server, HEALTH));
                Thread.sleep(20);
            }
            assertEquals(200, status, "once clients leave, new ones are served");
        }
    }

    @Test
    void clientsLeavingInTheMiddleOfARequestHeadLeaveNoStackTraceAndAtMostOneLine() throws Exception {
        List<LogRecord> records;
        try (TestServer server = new TestServer(Fixtures.tinyModel())) {
            try (LogCapture logs = new LogCapture()) {
                for (int i = 0; i < 20; i++) {
                    try (Socket s = connect(server)) {
                        send(s, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Ty");
                    }
                }
                Thread.sleep(500);
                assertEquals(200, status(request(server, HEALTH)));
                Thread.sleep(200);
                records = logs.records;
            }
        }
        String all = LogCapture.text(records);
        assertTrue(records.stream().noneMatch(r -> r.getThrown() != null), "stack traces logged:\n" + all);
        long lines = records.stream().filter(r -> r.getLevel().intValue() >= Level.INFO.intValue()).count();
        assertTrue(lines <= 1, "20 clients leaving mid-head leave " + lines + " lines:\n" + all);
    }

    /** Every record logged anywhere while open. */
    private static final class LogCapture extends Handler implements AutoCloseable {
        final List<LogRecord> records = new CopyOnWriteArrayList<>();

        LogCapture() {
            Logger.getLogger("").addHandler(this);
        }

        static String text(List<LogRecord> records) {
            return records.stream().map(r -> r.getLevel() + " " + r.getLoggerName() + " " + r.getMessage()
                    + (r.getThrown() == null ? "" : " [" + r.getThrown() + "]")).collect(Collectors.joining("\n"));
        }

        @Override
        public void publish(LogRecord r) {
            records.add(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
            Logger.getLogger("").removeHandler(this);
        }
    }

    private static Socket connect(TestServer server) throws IOException {
        Socket s = new Socket("127.0.0.1", server.server.port());
        s.setSoTimeout(5000);
        return s;
    }

    private static void send(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(StandardCharsets.ISO_8859_1));
        s.getOutputStream().flush();
    }

    /** True when the server ends the connection (end of stream or reset) within {@code limit}; bytes read are dropped. */
    private static boolean readsEndWithin(Socket s, Duration limit) throws IOException {
        long deadline = System.nanoTime() + limit.toNanos();
        InputStream in = s.getInputStream();
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            s.setSoTimeout((int) Math.max(1, left / 1_000_000));
            try {
                if (in.read() < 0) {
                    return true;
                }
            } catch (SocketTimeoutException e) {
                return false;
            } catch (IOException e) {
                return true;
            }
        }
    }

    /** One request on a connection of its own: the whole response. */
    private static String request(TestServer server, String request) throws IOException {
        try (Socket s = connect(server)) {
            send(s, request);
            return readResponse(s);
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** One response with a Content-Length body. */
    private static String readResponse(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                return head.toString(StandardCharsets.ISO_8859_1);
            }
            head.write(b);
        }
        String text = head.toString(StandardCharsets.ISO_8859_1);
        int length = 0;
        for (String line : text.split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        return text + new String(in.readNBytes(length), StandardCharsets.UTF_8);
    }

    private static String readAll(Socket s, Duration limit) throws IOException {
        s.setSoTimeout((int) limit.toMillis());
        try {
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static int status(String response) {
        return response.startsWith("HTTP/1.1 ") ? Integer.parseInt(response.substring(9, 12)) : -1;
    }

    private static Duration elapsed(long startNanos) {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }
}
