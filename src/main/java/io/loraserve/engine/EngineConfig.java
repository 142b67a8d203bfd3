package io.loraserve.engine;

import java.time.Duration;

/**
 * Engine limits, all user-tunable.
 *
 * @param maxNumSeqs          sequences in one step's batch at most
 * @param maxBatchedTokens    tokens in one step at most; longer prompts are prefilled in chunks
 * @param maxModelLen         prompt + generated tokens of one sequence at most
 * @param maxQueued           requests waiting for admission before new ones get 429
 * @param requestTimeout      a request running longer is ended (zero = no limit)
 * @param stepWatchdog        no step for this long while work is queued marks the engine stuck
 * @param prefixCaching       whether full KV blocks are kept and shared by content ({@link BlockPool})
 */
public record EngineConfig(int maxNumSeqs, int maxBatchedTokens, int maxModelLen, int maxQueued,
                           Duration requestTimeout, Duration stepWatchdog, boolean prefixCaching) {
}
