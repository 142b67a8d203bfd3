package io.loraserve.constraint;

/**
 * A compiled constraint over one vocabulary: what a request's output must match. Shared by every
 * request that asks for the same constraint ({@link ConstraintCache}); each sequence follows it
 * with its own {@link Matcher}.
 *
 * @param description what was compiled, for logs and errors (e.g. {@code regex [0-9]+})
 * @param compileNanos how long compiling took (grammar and automaton; token masks are built lazily)
 */
public record Constraint(String description, Automaton automaton, Vocabulary vocabulary, long compileNanos) {

    /** A matcher at the start of the output. */
    public Matcher newMatcher() {
        return new Matcher(this);
    }

    /** Whether {@code text} as a whole satisfies the constraint (used by tests and the tool-call parser). */
    public boolean matches(byte[] text) {
        Automaton.State s = automaton.initial();
        for (byte b : text) {
            s = automaton.next(s, b & 0xff);
            if (s == null) {
                return false;
            }
        }
        return s.accepting;
    }
}
