package io.loraserve.engine;

import io.loraserve.model.Sampler;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A sink that keeps everything a request produced, completed when the request ends. */
class Collector implements TokenSink {
    final List<Integer> tokens = new ArrayList<>();
    final List<Float> logprobs = new ArrayList<>();
    /** Every list of prompt scores received (one expected). */
    final List<List<Sampler.Sample>> promptScores = new ArrayList<>();
    final CompletableFuture<FinishReason> finished = new CompletableFuture<>();
    volatile long firstTokenNanos;
    /** Prompt tokens the request found in the prefix cache, as its finish reported them; -1 until then. */
    volatile int cachedTokens = -1;

    @Override
    public synchronized void onPromptLogprobs(List<Sampler.Sample> scores) {
        promptScores.add(scores);
    }

    @Override
    public synchronized boolean onToken(Sampler.Sample s) {
        if (tokens.isEmpty()) {
            firstTokenNanos = System.nanoTime();
        }
        tokens.add(s.token());
        logprobs.add(s.logprob());
        return true;
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens, int cachedTokens) {
        this.cachedTokens = cachedTokens;
        finished.complete(reason);
    }

    @Override
    public void onError(String message, boolean overloaded) {
        finished.completeExceptionally(new IllegalStateException(message));
    }

    synchronized int[] tokenArray() {
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
}
