package io.loraserve.engine;

/**
 * A snapshot of the engine's counters, safe to read from any thread. {@code kvBlocksUsed} counts
 * blocks held by sequences; {@code kvBlocksCached} blocks whose KV the prefix cache keeps (held or
 * idle; idle ones count as free); {@code prefixCacheQueries}/{@code prefixCacheHits} are prompt
 * tokens looked up in the prefix cache at admission and, of those, found there.
 */
public record EngineStats(int running, int waiting, int kvBlocksUsed, int kvBlocksTotal, long steps,
                          long preemptions, long generatedTokens, int kvBlocksCached, long prefixCacheQueries,
                          long prefixCacheHits) {
}
