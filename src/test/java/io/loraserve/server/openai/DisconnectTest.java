package io.loraserve.server.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.engine.EngineStats;
import io.loraserve.server.TestServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import jakarta.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client that hangs up: mid-stream (the next write fails), before a non-streaming answer or
 * while its request still waits in the queue (the handler asks its connection every
 * {@value Generation#PROBE_MILLIS} ms). Either way the request's choices are cancelled in the
 * engine and their KV blocks freed, long before {@code max_tokens}; the connection's other bytes
 * (a pipelined request) are not lost, and a half-close counts as leaving.
 *
 * <p>The server runs one sequence at a time, so a request's choices run one after another: the
 * tiny model makes a few tokens per millisecond, and a non-streaming request needs several choices
 * of {@value #MAX_TOKENS} tokens to outlast a probe period by a wide margin.
 */
class DisconnectTest {
    private static final int MAX_TOKENS = 240;
    private static final Logger HELIDON = Logger.getLogger("io.helidon");
    private static TestServer server;

    @BeforeAll
    static void start() {
        // libtorch kernels: the Java kernels make ~10 tiny-model tokens a millisecond, so a choice of
        // MAX_TOKENS (bounded by the model's 256 positions) would end within one probe period
        server = new TestServer(Fixtures.tinyModel(), "--max-num-seqs", "1", "--kernels", "torch");
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 4})
    void hangingUpMidStreamCancelsEveryChoiceAndFreesItsBlocks(int n) throws IOException, InterruptedException {
        long atClose;
        try (Socket socket = connect()) {
            send(socket, longRequest(n, true));
            readUntilFirstEvent(socket.getInputStream());
            assertTrue(engineHolds(s -> s.kvBlocksUsed() > 0), "the request holds KV blocks");
            atClose = generated();
        }
        assertCancelledSoonAfter(atClose, n);
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {4, 8})
    void hangingUpBeforeANonStreamingAnswerCancelsEveryChoiceAndFreesItsBlocks(int n)
            throws IOException, InterruptedException {
        long atClose;
        try (Socket socket = connect()) {
            send(socket, longRequest(n, false));
            assertTrue(engineHolds(s -> s.kvBlocksUsed() > 0), "the request holds KV blocks");
            atClose = generated();
        }
        assertCancelledSoonAfter(atClose, n);
    }

    /**
     * A reset (not a close) is noticed the same way, and answering it quietly fails: no warning
     * from Helidon about an error response it could not send.
     */
    @Test
    void aResetConnectionIsCancelledWithoutAWarning() throws IOException, InterruptedException {
        List<LogRecord> warnings = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                    warnings.add(r);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        HELIDON.addHandler(capture);
        try {
            long atClose;
            try (Socket socket = connect()) {
                send(socket, longRequest(4, false));
                assertTrue(engineHolds(s -> s.kvBlocksUsed() > 0), "the request holds KV blocks");
                socket.setSoLinger(true, 0);
                atClose = generated();
            }
            assertCancelledSoonAfter(atClose, 4);
        } finally {
            HELIDON.removeHandler(capture);
        }
        assertEquals(List.of(), warnings.stream().map(LogRecord::getMessage).toList());
    }

    /** Line ends after the body (which HTTP/1.1 lets a client send) do not hide the close that follows. */
    @Test
    void strayLineEndsAfterTheBodyDoNotHideAClose() throws IOException, InterruptedException {
        long atClose;
        try (Socket socket = connect()) {
            send(socket, longRequest(4, false));
            socket.getOutputStream().write("\r\n".getBytes(StandardCharsets.US_ASCII));
            assertTrue(engineHolds(s -> s.kvBlocksUsed() > 0), "the request holds KV blocks");
            atClose = generated();
        }
        assertCancelledSoonAfter(atClose, 4);
    }

    /**
     * A request queued behind eight long choices whose client leaves is dropped from the queue and
     * never generates a token; the choices it waited behind are untouched.
     */
    @ParameterizedTest(name = "stream={0}")
    @ValueSource(booleans = {false, true})
    void aRequestWhoseClientLeavesWhileQueuedNeverRuns(boolean stream) throws Exception {
        String occupantBody = longRequest(8, false);
        String alone = texts(server.post("/v1/completions", occupantBody));
        long before = server.server.runtime().engine().stats().generatedTokens();
        CompletableFuture<TestServer.Reply> occupant = server.postAsync("/v1/completions", occupantBody);
        try (Socket socket = connect()) {
            assertTrue(engineHolds(s -> s.running() == 1 && s.waiting() == 7), "eight choices in play");
            send(socket, longRequest(1, stream));
            assertTrue(engineHolds(s -> s.running() + s.waiting() == 9 - (s.generatedTokens() - before) / MAX_TOKENS),
                    "the request is queued behind the choices still to finish");
        }
        TestServer.Reply reply = occupant.get(30, TimeUnit.SECONDS);
        assertEquals(alone, texts(reply), "the choices it waited behind are unchanged");
        EngineStats after = server.awaitEngineIdle(Duration.ofSeconds(5));
        assertEquals(0, after.kvBlocksUsed(), after.toString());
        assertEquals(8L * MAX_TOKENS, after.generatedTokens() - before, "only the eight choices generated");
    }

    /**
     * A second request pipelined on the same connection arrives while the first generates: asking
     * the connection reads its bytes, and Helidon must still find them. Both get their own answer.
     */
    @Test
    void aPipelinedRequestIsAnsweredAfterTheOneBeforeIt() throws IOException {
        String first = longRequest(8, false);
        String second = "{\"prompt\":\"Hello\",\"max_tokens\":8,\"temperature\":0}";
        String expectedFirst = texts(server.post("/v1/completions", first));
        String expectedSecond = texts(server.post("/v1/completions", second));
        try (Socket socket = connect()) {
            send(socket, first);
            sleepPastAProbe();
            send(socket, second);
            InputStream in = socket.getInputStream();
            assertEquals(expectedFirst, texts(readResponse(in, 200)));
            assertEquals(expectedSecond, texts(readResponse(in, 200)));
        }
    }

    /** A client that half-closes after its request has left, as uvicorn (vLLM) also counts it. */
    @Test
    void halfClosingCountsAsLeavingAndGets499() throws IOException, InterruptedException {
        long atClose;
        try (Socket socket = connect()) {
            send(socket, longRequest(4, false));
            assertTrue(engineHolds(s -> s.kvBlocksUsed() > 0), "the request holds KV blocks");
            atClose = generated();
            socket.shutdownOutput();
            JsonObject error = TestServer.parse(readResponse(socket.getInputStream(), 499)).getJsonObject("error");
            assertEquals("client_closed_request", error.getString("code"));
        }
        assertCancelledSoonAfter(atClose, 4);
    }

    private static String longRequest(int n, boolean stream) {
        return "{\"prompt\":\"Hello, world\",\"max_tokens\":" + MAX_TOKENS + ",\"n\":" + n
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":" + stream + "}";
    }

    private static void send(Socket socket, String body) throws IOException {
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: "
                + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void sleepPastAProbe() {
        try {
            Thread.sleep(3 * Generation.PROBE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A socket to the server whose reads give up after ten seconds: a lost response fails a test, not hangs it. */
    private static Socket connect() throws IOException {
        Socket socket = new Socket("127.0.0.1", server.server.port());
        socket.setSoTimeout(10_000);
        return socket;
    }

    private static long generated() {
        return server.server.runtime().engine().stats().generatedTokens();
    }

    /**
     * The engine frees everything, having generated after the client left well under half of what
     * the request asked for, and serves others.
     */
    private static void assertCancelledSoonAfter(long generatedAtClose, int n) throws InterruptedException {
        EngineStats after = server.awaitEngineIdle(Duration.ofSeconds(5));
        assertEquals(0, after.kvBlocksUsed(), after.toString());
        assertEquals(0, after.running() + after.waiting(), after.toString());
        long generated = after.generatedTokens() - generatedAtClose;
        assertTrue(generated < (long) n * MAX_TOKENS / 2, "cancelled early, after " + generated + " more tokens");
        assertEquals(200, server.post("/v1/completions", "{\"prompt\":\"Hello\",\"max_tokens\":2}").status());
    }

    private static boolean engineHolds(Predicate<EngineStats> condition) throws InterruptedException {
        return holds(server, condition);
    }

    /** Whether the engine's stats meet {@code condition} within five seconds (they trail the engine by up to a step). */
    private static boolean holds(TestServer s, Predicate<EngineStats> condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            if (condition.test(s.server.runtime().engine().stats())) {
                return true;
            }
            Thread.sleep(2);
        }
        return false;
    }

    /** The texts of a completion's choices, one per line, in order. */
    private static String texts(TestServer.Reply reply) {
        assertEquals(200, reply.status(), reply.body());
        return texts(reply.body());
    }

    private static String texts(String body) {
        return TestServer.parse(body).getJsonArray("choices").getValuesAs(JsonObject.class).stream()
                .map(c -> c.getString("text")).collect(Collectors.joining("\n"));
    }

    /** Reads one HTTP/1.1 response with a Content-Length body; checks its status and returns the body. */
    private static String readResponse(InputStream in, int status) throws IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed in the response head: " + head);
            }
            head.append((char) b);
        }
        assertTrue(head.toString().startsWith("HTTP/1.1 " + status + " "), head.toString());
        Matcher length = Pattern.compile("(?im)^content-length: *(\\d+)").matcher(head);
        assertTrue(length.find(), head.toString());
        return new String(in.readNBytes(Integer.parseInt(length.group(1))), StandardCharsets.UTF_8);
    }

    private static void readUntilFirstEvent(InputStream in) throws IOException {
        StringBuilder seen = new StringBuilder();
        byte[] buffer = new byte[512];
        while (!seen.toString().contains("data: {")) {
            int read = in.read(buffer);
            if (read < 0) {
                throw new IOException("connection closed before the first event: " + seen);
            }
            seen.append(new String(buffer, 0, read, StandardCharsets.UTF_8));
        }
    }
}
