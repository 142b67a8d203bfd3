package io.loraserve.engine;

import java.util.Map;

/**
 * What the engine tells an observer (the metrics) as it runs. {@code adapter} is the request's
 * adapter name, null for the base model.
 *
 * <p>Semantics: {@link #requestRejected} is called on the submitting thread; every other method
 * on the engine thread (or the closing thread during {@link Engine#close()}). Each accepted
 * request ends in exactly one {@link #requestFinished} or {@link #requestFailed}. Implementations
 * must be thread-safe, must not block and must not throw: they run inside the engine loop.
 */
public interface EngineListener {
    /** Reports nothing. */
    EngineListener NONE = new EngineListener() {
    };

    /** {@link Engine#submit} refused the request (queue full or shutting down); it never ran. */
    default void requestRejected(String adapter) {
    }

    /** The request's first token was sampled, {@code sinceArrivalNanos} after it was submitted. */
    default void firstToken(String adapter, long sinceArrivalNanos) {
    }

    /**
     * The request ended for {@code reason}. {@code firstTokenNanos} is the time from submission
     * to its first token, or -1 if it produced none.
     */
    default void requestFinished(String adapter, FinishReason reason, int promptTokens, int completionTokens,
                                 long sinceArrivalNanos, long firstTokenNanos) {
    }

    /** The engine failed to run the request (its step threw). */
    default void requestFailed(String adapter) {
    }

    /** One step ran {@code sequences} sequences and {@code tokens} tokens, and sampled {@code sampled} tokens. */
    default void stepDone(int sequences, int tokens, int sampled, long nanos) {
    }

    /** The device failed for good ({@link Engine#deviceFault}); called once. */
    default void deviceFault() {
    }

    /**
     * How many sequences of each adapter (null key = base model) are running and waiting now.
     * Called after every turn of the engine loop, also when idle (then both maps are empty).
     */
    default void queues(Map<String, Integer> runningByAdapter, Map<String, Integer> waitingByAdapter) {
    }
}
