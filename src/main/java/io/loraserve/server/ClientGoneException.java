package io.loraserve.server;

/**
 * The client closed its connection before its response was complete: noticed by a failed write
 * ({@link SseStream}) or by asking the connection ({@link ClientConnection}, via {@link Generation}).
 */
final class ClientGoneException extends RuntimeException {
    ClientGoneException(Throwable cause) {
        super("client closed the connection", cause);
    }
}
