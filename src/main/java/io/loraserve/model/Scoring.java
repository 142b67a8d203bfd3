package io.loraserve.model;

/**
 * Which tokens of a pass to score (prompt logprobs): the log-softmax at a row of the pass, read at
 * the token that follows it, plus the {@code top} most likely tokens there.
 *
 * @param rows    [scored] rows of the pass, in the order the results come back
 * @param targets [scored] the token each row is scored at (the next token of its sequence)
 * @param top     alternatives per row, ≥ 0
 */
public record Scoring(long[] rows, long[] targets, int top) {
    public static final Scoring NONE = new Scoring(new long[0], new long[0], 0);

    /**
     * The results, row by row.
     *
     * @param logprobs    [scored] log p of each row's target
     * @param topLogprobs [scored, top] the most likely tokens' log p, most likely first
     * @param topIds      [scored, top] those tokens
     */
    public record Result(float[] logprobs, float[] topLogprobs, long[] topIds, int top) {
        public static final Result NONE = new Result(new float[0], new float[0], new long[0], 0);
    }
}
