package io.loraserve.engine;

/** Why a sequence stopped. {@code STOP} and {@code LENGTH} are the OpenAI finish reasons. */
public enum FinishReason {
    /** EOS, a stop token id, or a stop string. */
    STOP,
    /** {@code max_tokens} or the context length reached. */
    LENGTH,
    /** Cancelled by the client (disconnect) or by the server (shutdown). */
    CANCELLED,
    /** Ran longer than {@code --request-timeout}. */
    TIMEOUT;

    public String openAiName() {
        return this == LENGTH ? "length" : "stop";
    }
}
