package io.loraserve.engine;

import io.loraserve.model.Sampler;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A sink for load tests: drops the tokens, keeps the first problem (an error, or an end other
 * than {@link FinishReason#LENGTH}), counts requests that found prompt tokens in the prefix cache,
 * and runs {@code onEnd} when its request ends, however it ends.
 */
record Ended(Runnable onEnd, AtomicReference<String> problem, AtomicInteger cacheHits) implements TokenSink {
    Ended(Runnable onEnd, AtomicReference<String> problem) {
        this(onEnd, problem, new AtomicInteger());
    }

    @Override
    public boolean onToken(Sampler.Sample sample) {
        return true;
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens, int cachedTokens) {
        if (reason != FinishReason.LENGTH) {
            problem.compareAndSet(null, "finished with " + reason);
        }
        if (cachedTokens > 0) {
            cacheHits.incrementAndGet();
        }
        onEnd.run();
    }

    @Override
    public void onError(String message, boolean overloaded) {
        problem.compareAndSet(null, message);
        onEnd.run();
    }
}
