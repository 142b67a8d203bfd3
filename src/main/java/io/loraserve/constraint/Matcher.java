package io.loraserve.constraint;

/**
 * One sequence's position in its {@link Constraint}: which tokens may come next
 * ({@link #allowed}), and the step on the token chosen ({@link #advance}). Engine thread only.
 *
 * <p>Invariant: the output so far is a prefix of some string the constraint accepts; after an
 * end-of-sequence token the output is complete ({@link #ended}).
 */
public final class Matcher {
    private final Constraint constraint;
    private Automaton.State state;
    private boolean ended;

    Matcher(Constraint constraint) {
        this.constraint = constraint;
        this.state = constraint.automaton().initial();
    }

    /**
     * The allowed token ids as a bitset (bit {@code id % 64} of word {@code id / 64}), EOS among
     * them exactly when the output may end here. Shared and memoised: callers must not modify it.
     */
    public long[] allowed() {
        return constraint.vocabulary().mask(constraint.automaton(), state);
    }

    /** Follows {@code token}; throws {@link IllegalStateException} for a token {@link #allowed} did not hold. */
    public void advance(int token) {
        Vocabulary v = constraint.vocabulary();
        if (v.isEos(token)) {  // allowed only where the output may end (or nothing else can follow)
            ended = true;
            return;
        }
        byte[] bytes = v.bytes(token);
        Automaton.State s = state;
        for (int i = 0; bytes != null && i < bytes.length && s != null; i++) {
            s = constraint.automaton().next(s, bytes[i] & 0xff);
        }
        if (ended || s == null || bytes == null || bytes.length == 0) {
            throw new IllegalStateException("token " + token + " does not continue " + constraint.description());
        }
        state = s;
    }

    /** An end-of-sequence token completed the output. */
    public boolean ended() {
        return ended;
    }

    /** The output so far is complete and nothing can follow it: only EOS is allowed. */
    public boolean complete() {
        return state.complete();
    }
}
