package io.loraserve.constraint;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Compiled constraints by spec, least recently used dropped past the capacity, so the requests of
 * one schema compile it once and share its automaton's memo (states and token masks). Compiling
 * happens outside the lock (two first requests of one spec may both compile; one result stays).
 * Thread-safe; heap only.
 */
public final class ConstraintCache {
    private final Supplier<Vocabulary> vocabularySource;
    private Vocabulary vocabulary;  // built at the first compile, so a server never asked for a constraint never builds it
    private final Map<ConstraintSpec, Constraint> compiled;

    public ConstraintCache(Vocabulary vocabulary, int capacity) {
        this(() -> vocabulary, capacity);
    }

    public ConstraintCache(Supplier<Vocabulary> vocabulary, int capacity) {
        this.vocabularySource = vocabulary;
        this.compiled = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<ConstraintSpec, Constraint> eldest) {
                return size() > capacity;
            }
        };
    }

    /** The compiled form of {@code spec}; throws {@link ConstraintException} when it cannot be compiled. */
    public Constraint get(ConstraintSpec spec) {
        synchronized (compiled) {
            Constraint c = compiled.get(spec);
            if (c != null) {
                return c;
            }
        }
        long start = System.nanoTime();
        Automaton a = new Automaton(spec.toGrammar());
        Constraint c = new Constraint(spec.describe(), a, vocabulary(), System.nanoTime() - start);
        synchronized (compiled) {
            return compiled.computeIfAbsent(spec, k -> c);
        }
    }

    public synchronized Vocabulary vocabulary() {
        if (vocabulary == null) {
            vocabulary = vocabularySource.get();
        }
        return vocabulary;
    }
}
