package io.loraserve.engine;

/** The engine's queue is full or it is shutting down: the request was not accepted. */
public final class EngineBusyException extends RuntimeException {
    private final boolean shuttingDown;

    public EngineBusyException(String message, boolean shuttingDown) {
        super(message);
        this.shuttingDown = shuttingDown;
    }

    public boolean shuttingDown() {
        return shuttingDown;
    }
}
