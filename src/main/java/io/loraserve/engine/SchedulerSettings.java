package io.loraserve.engine;

import java.time.Duration;

/**
 * What the engine admits and how long it lets work run ({@code --max-num-seqs},
 * {@code --max-num-batched-tokens}, {@code --max-queued-requests}, {@code --request-timeout},
 * {@code --step-watchdog}). Defaults: {@link RuntimeSettings#builder()}.
 *
 * @param maxNumSeqs       sequences in one step's batch at most
 * @param maxBatchedTokens tokens in one step at most; longer prompts are prefilled in chunks
 * @param maxQueued        requests waiting for admission before new ones get 429
 * @param requestTimeout   a request running longer is ended (zero = no limit)
 * @param stepWatchdog     no step for this long while work is queued marks the engine stuck
 */
public record SchedulerSettings(int maxNumSeqs, int maxBatchedTokens, int maxQueued, Duration requestTimeout,
                                Duration stepWatchdog) {
}
