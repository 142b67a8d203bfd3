package io.loraserve.engine;

import io.loraserve.constraint.Matcher;
import io.loraserve.model.Sampler;
import io.loraserve.model.Scoring;
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
 * kept, so the recompute continues exactly where the sequence left off (from the prefix cache
 * where its blocks are still there, see {@link BlockPool}).
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
    /** Addresses of its full blocks so far ({@link BlockHash}, a chain: each depends on all tokens before). */
    final List<BlockHash> blockHashes = new ArrayList<>();
    /** Leading blocks of its table already offered to the prefix cache ({@link BlockPool#registerFull}). */
    int registeredBlocks;
    /** Prompt tokens its first admission found in the prefix cache; -1 until admitted. */
    int cachedTokens = -1;
    long firstTokenNanos;
    /** Counted against {@code --max-adapters} by the {@link Scheduler}: its adapter has a device slot while true. */
    boolean countsSlot;
    /** With prompt logprobs: the scores of prompt positions 0.. so far (each predicts the next token), else null. */
    final List<Sampler.Sample> promptScores;
    /** Where its output stands in the request's constraint, or null when unconstrained. Generated tokens only, so preemption leaves it be. */
    final Matcher matcher;

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
        this.promptScores = request.promptLogprobs() >= 0 ? new ArrayList<>() : null;
        this.matcher = request.constraint() == null ? null : request.constraint().newMatcher();
    }

    /**
     * The first prompt position a pass that computes {@code tokens} more tokens scores; it scores
     * positions up to {@link #scoreTo} (exclusive). Positions already scored (before a preemption)
     * are not scored again; the last prompt position predicts the first generated token, which
     * sampling reports.
     */
    int scoreFrom() {
        return promptScores == null ? 0 : Math.max(computed, promptScores.size());
    }

    int scoreTo(int tokens) {
        return promptScores == null ? 0 : Math.min(computed + tokens, promptLength - 1);
    }

    /**
     * Appends the scores of its prompt positions in a pass that computed {@code tokens} of it, read from result row
     * {@code next} on; returns the next row.
     */
    int keepScores(int tokens, Scoring.Result scores, int next) {
        int top = request.promptLogprobs();
        for (int p = scoreFrom(); p < scoreTo(tokens); p++, next++) {
            Sampler.Candidate[] alternatives = new Sampler.Candidate[top];
            for (int k = 0; k < top; k++) {
                int at = next * scores.top() + k;
                alternatives[k] = new Sampler.Candidate((int) scores.topIds()[at], scores.topLogprobs()[at]);
            }
            promptScores.add(new Sampler.Sample(token(p + 1), scores.logprobs()[next], alternatives));
        }
        return next;
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

    /** The tokens its penalties count: those generated so far when its sampling has penalties, else none. */
    int[] penaltyTokens() {
        return request.sampling().penalized() ? generatedTokens() : new int[0];
    }

    /** The token mask its constraint allows next, or null when unconstrained. */
    long[] allowedTokens() {
        return matcher == null ? null : matcher.allowed();
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
