package io.loraserve.tools;

/** A tool-calling field that cannot be taken; {@code param} names it as OpenAI's error {@code param}. */
public final class ToolException extends RuntimeException {
    private final String param;

    public ToolException(String param, String message) {
        super(message);
        this.param = param;
    }

    public String param() {
        return param;
    }
}
