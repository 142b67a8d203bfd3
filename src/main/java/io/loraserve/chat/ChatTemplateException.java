package io.loraserve.chat;

/**
 * A chat that {@link ChatTemplate} could not render. Either the template refused the request
 * ({@link #refused()}: its {@code raise_exception}, or a final message that cannot be continued),
 * naming the request field it is about, or the template itself failed (broken, or using what this
 * renderer does not implement), which is the server's fault, not the client's.
 */
public final class ChatTemplateException extends RuntimeException {
    private final String param;

    private ChatTemplateException(String param, String message) {
        super(message);
        this.param = param;
    }

    /** The template refused the request because of {@code param} (a request field name). */
    static ChatTemplateException refused(String param, String message) {
        return new ChatTemplateException(param, message);
    }

    /** The template could not render whatever the request held. */
    static ChatTemplateException failed(String message) {
        return new ChatTemplateException(null, message);
    }

    /** True when the request was refused (the client can change it), false when the template failed. */
    public boolean refused() {
        return param != null;
    }

    /** The request field a refusal is about; null when the template failed. */
    public String param() {
        return param;
    }
}
