package io.loraserve.metrics;

import java.time.Duration;

/**
 * Tokens per second over a sliding window of {@link #WINDOW}, in one-second buckets, so a gauge
 * can show throughput without PromQL and drops to zero within the window once the engine idles.
 * Thread-safe; {@link #add} is called once per engine step.
 */
final class TokenRate {
    static final Duration WINDOW = Duration.ofSeconds(10);
    private static final int BUCKETS = (int) WINDOW.toSeconds();

    private final long[] counts = new long[BUCKETS];
    /** The second each bucket currently counts; a bucket from an older second is stale. */
    private final long[] seconds = new long[BUCKETS];

    synchronized void add(long nowNanos, int tokens) {
        long second = Math.floorDiv(nowNanos, 1_000_000_000L);
        int i = Math.floorMod(second, BUCKETS);
        if (seconds[i] != second) {
            seconds[i] = second;
            counts[i] = 0;
        }
        counts[i] += tokens;
    }

    synchronized double perSecond(long nowNanos) {
        long now = Math.floorDiv(nowNanos, 1_000_000_000L);
        long sum = 0;
        for (int i = 0; i < BUCKETS; i++) {
            if (now - seconds[i] < BUCKETS) {
                sum += counts[i];
            }
        }
        return (double) sum / BUCKETS;
    }
}
