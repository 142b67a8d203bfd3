package io.loraserve.engine;

/**
 * What the engine needs to know beyond its parts: the scheduler's limits and two resolved cache facts.
 *
 * @param scheduler     admission and time limits ({@code --max-num-seqs}, {@code --request-timeout}, …)
 * @param maxModelLen   prompt + generated tokens of one sequence at most, resolved from the model where not given
 * @param prefixCaching whether full KV blocks are kept and shared by content ({@link BlockPool})
 */
record EngineConfig(SchedulerSettings scheduler, int maxModelLen, boolean prefixCaching) {
}
