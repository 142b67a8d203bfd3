package io.loraserve.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The engine's state for one running request: all its tokens (prompt then generated), how many
 * are in the KV cache, and its KV blocks. Engine thread only.
 *
 * <p>Invariant: {@code computed <= length()}, and the block table covers {@code computed}
 * positions. After preemption {@code computed == 0} and the table is empty; the tokens are
 * kept, so the recompute continues exactly where the sequence left off.
 */
final class Sequence {
    final Request request;
    final long admittedOrder;
    final long arrivalNanos;
    final SplittableRandom rng;
    private int[] tokens;
    private int length;
    final int promptLength;
    int computed;
    final List<Integer> blocks = new ArrayList<>();
    long firstTokenNanos;
    /** Device slot of its adapter while it holds one, else -1. */
    int slot = -1;

    Sequence(Request request, long order, long arrivalNanos) {
        this.request = request;
        this.admittedOrder = order;
        this.arrivalNanos = arrivalNanos;
        Long seed = request.sampling().seed();
        this.rng = seed == null ? new SplittableRandom() : new SplittableRandom(seed);
        int prompt = request.promptIds().length;
        this.tokens = Arrays.copyOf(request.promptIds(), prompt + Math.min(request.maxTokens(), 4096));
        this.length = request.promptIds().length;
        this.promptLength = length;
    }

    int length() {
        return length;
    }

    int token(int i) {
        return tokens[i];
    }

    int generated() {
        return length - promptLength;
    }

    int[] generatedTokens() {
        return Arrays.copyOfRange(tokens, promptLength, length);
    }

    void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
    }

    int[] blockTable() {
        return blocks.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Tokens not yet in the KV cache. */
    int pending() {
        return length - computed;
    }
}
