package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.engine.EngineStats;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A streaming client that hangs up mid-stream: the next write fails, the request's choices are
 * cancelled in the engine and their KV blocks freed, long before {@code max_tokens}.
 * (A non-streaming client that hangs up is not noticed: Helidon gives a handler no signal until
 * it writes, and a non-streaming response writes once, at the end.)
 */
class DisconnectTest {
    private static final int MAX_TOKENS = 240;
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 4})
    void hangingUpMidStreamCancelsEveryChoiceAndFreesItsBlocks(int n) throws IOException, InterruptedException {
        long before = server.server.runtime().engine().stats().generatedTokens();
        String body = "{\"prompt\":\"Hello, world\",\"max_tokens\":" + MAX_TOKENS + ",\"n\":" + n
                + ",\"ignore_eos\":true,\"stream\":true}";
        try (Socket socket = new Socket("127.0.0.1", server.server.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            readUntilFirstEvent(socket.getInputStream());
            assertTrue(holdsBlocks(), "the request holds KV blocks");
        }
        EngineStats after = server.awaitEngineIdle(Duration.ofSeconds(5));
        assertEquals(0, after.kvBlocksUsed(), after.toString());
        assertEquals(0, after.running() + after.waiting(), after.toString());
        long generated = after.generatedTokens() - before;
        assertTrue(generated < (long) n * MAX_TOKENS / 2, "cancelled early, after " + generated + " tokens");
        assertEquals(200, server.post("/v1/completions", "{\"prompt\":\"Hello\",\"max_tokens\":2}").status());
    }

    /** Whether the engine holds KV blocks within a second (its stats trail the first token by up to a step). */
    private static boolean holdsBlocks() throws InterruptedException {
        for (int i = 0; i < 100; i++) {
            if (server.server.runtime().engine().stats().kvBlocksUsed() > 0) {
                return true;
            }
            Thread.sleep(10);
        }
        return false;
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
