package io.loraserve.constraint;

/** A constraint that cannot be compiled: bad syntax, an unsupported feature, or an empty language. The message says why. */
public final class ConstraintException extends RuntimeException {
    public ConstraintException(String message) {
        super(message);
    }
}
