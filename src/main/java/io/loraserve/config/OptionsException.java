package io.loraserve.config;

/** A bad command line or configuration value: the launcher prints the message and exits with 2. */
public final class OptionsException extends RuntimeException {
    public OptionsException(String message) {
        super(message);
    }
}
