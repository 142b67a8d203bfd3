package io.loraserve.model;

import java.util.List;

/**
 * The input of one forward pass: a flat run of tokens from several sequences, each sequence's
 * tokens contiguous, and for each sequence what its attention can see.
 *
 * @param tokens    [tokens] token ids
 * @param positions [tokens] position of each token in its sequence
 * @param seqs      the sequences, in token order
 */
public record ForwardBatch(long[] tokens, long[] positions, List<Span> seqs) {

    /**
     * One sequence's part of the batch.
     *
     * @param start      index of its first token in {@code tokens}
     * @param count      how many of its tokens this pass computes
     * @param blockTable its KV blocks; covers positions {@code 0 .. contextLen-1}
     * @param contextLen tokens in its KV cache after this pass ({@code = last position + 1})
     * @param logits     whether the pass returns logits for its last token
     */
    public record Span(int start, int count, int[] blockTable, int contextLen, boolean logits) {
    }

    public int size() {
        return tokens.length;
    }

    public int logitRows() {
        return (int) seqs.stream().filter(Span::logits).count();
    }
}
