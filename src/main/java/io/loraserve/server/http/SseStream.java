package io.loraserve.server.http;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerResponse;
import jakarta.json.JsonObject;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * A Server-Sent Events response in OpenAI's framing: {@code data: {json}\n\n} per event, then
 * {@code data: [DONE]\n\n}. Every event is flushed at once (Helidon sends it as one HTTP chunk),
 * so the client sees each token as soon as it exists.
 *
 * <p>A failed write means the client has gone (Helidon reports a closed or reset socket as an
 * {@link UncheckedIOException}): it surfaces as {@link ClientGoneException} so the caller can
 * cancel the generation.
 */
public final class SseStream implements AutoCloseable {
    private final OutputStream out;

    /** Starts a 200 event-stream response on {@code res}. */
    public SseStream(ServerResponse res) {
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        res.header(HeaderNames.CACHE_CONTROL, "no-cache");
        this.out = res.outputStream();
    }

    public void send(JsonObject event) {
        write("data: " + Json.write(event) + "\n\n");
    }

    public void done() {
        write("data: [DONE]\n\n");
    }

    private void write(String frame) {
        try {
            out.write(frame.getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException | UncheckedIOException e) {
            throw new ClientGoneException(e);
        }
    }

    /** Ends the response; a client that has gone by now has nothing left to miss. */
    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException | UncheckedIOException e) {
            // the last chunk could not be written: the client closed first
        }
    }
}
