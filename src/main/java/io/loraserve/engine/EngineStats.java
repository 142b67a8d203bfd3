package io.loraserve.engine;

/** A snapshot of the engine's counters, safe to read from any thread. */
public record EngineStats(int running, int waiting, int kvBlocksUsed, int kvBlocksTotal, long steps,
                          long preemptions, long generatedTokens) {
}
