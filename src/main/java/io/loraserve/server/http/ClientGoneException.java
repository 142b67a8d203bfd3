package io.loraserve.server.http;

/**
 * The client closed its connection before its response was complete: noticed by a failed write
 * ({@link SseStream}) or by asking the connection ({@link ClientConnection}, via {@code server.openai.Generation}).
 */
public final class ClientGoneException extends RuntimeException {
    public ClientGoneException(Throwable cause) {
        super("client closed the connection", cause);
    }
}
