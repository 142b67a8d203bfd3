package io.loraserve.engine;

import io.loraserve.model.Sampler;
import java.util.List;

/**
 * Where a request's results go. Called on the engine thread only, in order: with prompt logprobs
 * {@link #onPromptLogprobs} once, then any number of {@link #onToken}, then exactly one of
 * {@link #onFinish} or {@link #onError}. Implementations
 * must not block; they hand results to the HTTP side through their own queue.
 */
public interface TokenSink {
    /**
     * The prompt's tokens after the first, each with its log p given the tokens before it and the
     * top alternatives there ({@link Request#promptLogprobs}); just before the first generated token.
     */
    default void onPromptLogprobs(List<Sampler.Sample> scores) {
    }

    /** A generated token; return false to stop the sequence now (e.g. a stop string matched). */
    boolean onToken(Sampler.Sample sample);

    /** The request ended; {@code cachedTokens} of its prompt tokens came from the prefix cache (not computed). */
    void onFinish(FinishReason reason, int promptTokens, int completionTokens, int cachedTokens);

    /** The engine could not run this request; {@code overloaded} means retrying later may work. */
    void onError(String message, boolean overloaded);
}
