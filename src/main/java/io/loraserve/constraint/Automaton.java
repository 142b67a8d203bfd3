package io.loraserve.constraint;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@link Grammar} compiled to a byte-level pushdown automaton, run as a lazily built
 * deterministic machine. The rules become one Thompson NFA whose edges read a byte range, move
 * silently, or call a rule (pushing a return {@link Frame}); a parse {@link State} is the set of
 * NFA configurations (NFA state, frame stack) reachable after the bytes read so far, closed over
 * silent moves, calls and returns. Without calls (a regex, a choice, a non-recursive schema) this
 * is exactly the subset construction of a DFA, built on demand; with recursion the stacks make
 * the states unbounded, so they are built on demand and memoised.
 *
 * <p>Semantics: only <em>live</em> NFA states (from which the rule can still complete) are ever
 * entered, so every state reached after an allowed byte can still end in an accepted string;
 * {@link State#accepting} says the bytes so far form one.
 *
 * <p>Memo: states are interned (equal configuration sets are one object) and each state keeps its
 * successors and its token mask ({@link Vocabulary#mask}), so a sequence that revisits a state
 * (inside a JSON string, say) pays a lookup. The memo is shared by every request of the same
 * constraint ({@link ConstraintCache}); it is guarded by this object's lock and dropped wholesale
 * past {@value #MAX_STATES} states (states held by running sequences stay valid: they hold their
 * own data). Heap memory only.
 */
final class Automaton {
    static final int MAX_NFA_STATES = 400_000;
    static final int MAX_STATES = 50_000;
    private static final State DEAD = new State(new int[0], new Frame[0], false);

    /** A return address on the stack: continue at NFA state {@code ret}, then pop to {@code parent}. */
    static final class Frame {
        final int ret;
        final Frame parent;
        final int id;

        Frame(int ret, Frame parent, int id) {
            this.ret = ret;
            this.parent = parent;
            this.id = id;
        }
    }

    /** A parse state: NFA states that read a byte next (with their stacks), and whether the input may end here. */
    static final class State {
        final int[] nfa;
        final Frame[] frames;
        final boolean accepting;
        private State[] next;
        long[] mask;

        State(int[] nfa, Frame[] frames, boolean accepting) {
            this.nfa = nfa;
            this.frames = frames;
            this.accepting = accepting;
        }

        /** No byte can follow. */
        boolean complete() {
            return nfa.length == 0;
        }
    }

    private record Key(long[] configs, boolean accepting) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.accepting == accepting && Arrays.equals(k.configs, configs);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(configs) * 2 + (accepting ? 1 : 0);
        }
    }

    // the NFA: per state, byte edges (lo, hi, target)*, silent edges, calls (rule, return)*
    private int[][] byteEdges;
    private int[][] epsEdges;
    private int[][] callEdges;
    private boolean[] isFinal;
    private int[] ruleStart;
    private final State initial;
    private final Map<Key, State> states = new HashMap<>();
    private final Map<Long, Frame> frames = new HashMap<>();
    private int nextFrameId = 1;

    /**
     * Compiles {@code g}; throws {@link ConstraintException} for a grammar that {@link Grammar#check}
     * refuses, one too large, or one whose language is empty ("matches nothing").
     */
    Automaton(Grammar g) {
        g.check();
        new Builder(g).build();
        if (!liveStates()[ruleStart[indexOf(g, g.start)]]) {
            throw new ConstraintException("the constraint matches nothing: no output can satisfy it");
        }
        initial = closure(List.of(new long[] {ruleStart[indexOf(g, g.start)], 0}), java.util.Collections.singletonList((Frame) null));
    }

    private static int indexOf(Grammar g, String rule) {
        return new ArrayList<>(g.rules.keySet()).indexOf(rule);
    }

    State initial() {
        return initial;
    }

    /** The state after {@code b} (0..255), or null when {@code b} cannot follow. */
    synchronized State next(State s, int b) {
        if (s.next == null) {
            s.next = new State[256];
        }
        State n = s.next[b];
        if (n == null) {
            List<long[]> seeds = new ArrayList<>();
            List<Frame> seedFrames = new ArrayList<>();
            for (int i = 0; i < s.nfa.length; i++) {
                int[] edges = byteEdges[s.nfa[i]];
                for (int e = 0; e < edges.length; e += 3) {
                    if (edges[e] <= b && b <= edges[e + 1]) {
                        seeds.add(new long[] {edges[e + 2]});
                        seedFrames.add(s.frames[i]);
                    }
                }
            }
            n = seeds.isEmpty() ? DEAD : closure(seeds, seedFrames);
            s.next[b] = n;
        }
        return n == DEAD ? null : n;
    }

    /** Every configuration reachable from the seeds without reading a byte, interned as one state. */
    private State closure(List<long[]> seeds, List<Frame> seedFrames) {
        ArrayDeque<Object[]> todo = new ArrayDeque<>();
        for (int i = 0; i < seeds.size(); i++) {
            todo.add(new Object[] {(int) seeds.get(i)[0], seedFrames.get(i)});
        }
        Set<Long> seen = new HashSet<>();
        List<Object[]> kernel = new ArrayList<>();
        boolean accepting = false;
        while (!todo.isEmpty()) {
            Object[] c = todo.poll();
            int s = (Integer) c[0];
            Frame f = (Frame) c[1];
            if (!seen.add(key(s, f))) {
                continue;
            }
            if (byteEdges[s].length > 0) {
                kernel.add(c);
            }
            for (int t : epsEdges[s]) {
                todo.add(new Object[] {t, f});
            }
            int[] calls = callEdges[s];
            for (int i = 0; i < calls.length; i += 2) {
                todo.add(new Object[] {ruleStart[calls[i]], frame(calls[i + 1], f)});
            }
            if (isFinal[s]) {
                if (f == null) {
                    accepting = true;
                } else {
                    todo.add(new Object[] {f.ret, f.parent});
                }
            }
        }
        kernel.sort((a, b) -> Long.compare(key((Integer) a[0], (Frame) a[1]), key((Integer) b[0], (Frame) b[1])));
        long[] configs = new long[kernel.size()];
        int[] nfa = new int[kernel.size()];
        Frame[] fs = new Frame[kernel.size()];
        for (int i = 0; i < configs.length; i++) {
            nfa[i] = (Integer) kernel.get(i)[0];
            fs[i] = (Frame) kernel.get(i)[1];
            configs[i] = key(nfa[i], fs[i]);
        }
        if (states.size() > MAX_STATES) {
            states.clear();
            frames.clear();
        }
        return states.computeIfAbsent(new Key(configs, accepting), k -> new State(nfa, fs, k.accepting()));
    }

    private static long key(int state, Frame f) {
        return ((long) (f == null ? 0 : f.id) << 32) | state;
    }

    private Frame frame(int ret, Frame parent) {
        return frames.computeIfAbsent(key(ret, parent), k -> new Frame(ret, parent, nextFrameId++));
    }

    /**
     * NFA states from which their rule can still complete: final states, and states with an edge to
     * a live state (a call edge counts when the callee can complete and its return state is live).
     */
    private boolean[] liveStates() {
        int n = isFinal.length;
        boolean[] live = Arrays.copyOf(isFinal, n);
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int s = n - 1; s >= 0; s--) {
                if (!live[s] && isLive(s, live)) {
                    live[s] = true;
                    changed = true;
                }
            }
        }
        for (int s = 0; s < n; s++) {  // drop edges into dead states: they could never complete
            byteEdges[s] = keep(byteEdges[s], 3, e -> live[e[2]]);
            epsEdges[s] = Arrays.stream(epsEdges[s]).filter(t -> live[t]).toArray();
            callEdges[s] = keep(callEdges[s], 2, e -> live[ruleStart[e[0]]] && live[e[1]]);
        }
        return live;
    }

    private boolean isLive(int s, boolean[] live) {
        for (int e = 0; e < byteEdges[s].length; e += 3) {
            if (live[byteEdges[s][e + 2]]) {
                return true;
            }
        }
        for (int t : epsEdges[s]) {
            if (live[t]) {
                return true;
            }
        }
        for (int e = 0; e < callEdges[s].length; e += 2) {
            if (live[ruleStart[callEdges[s][e]]] && live[callEdges[s][e + 1]]) {
                return true;
            }
        }
        return false;
    }

    private static int[] keep(int[] edges, int width, java.util.function.Predicate<int[]> test) {
        int[] out = new int[edges.length];
        int n = 0;
        for (int e = 0; e < edges.length; e += width) {
            int[] edge = Arrays.copyOfRange(edges, e, e + width);
            if (test.test(edge)) {
                System.arraycopy(edge, 0, out, n, width);
                n += width;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** Thompson's construction of all rules into one NFA, with call edges for references. */
    private final class Builder {
        private final Grammar g;
        private final Map<String, Integer> ruleIndex = new HashMap<>();
        private final List<int[]> bytes = new ArrayList<>();
        private final List<int[]> eps = new ArrayList<>();
        private final List<int[]> calls = new ArrayList<>();
        private final List<Boolean> finals = new ArrayList<>();

        Builder(Grammar g) {
            this.g = g;
            for (String r : g.rules.keySet()) {
                ruleIndex.put(r, ruleIndex.size());
            }
        }

        void build() {
            int[] starts = new int[g.rules.size()];
            int i = 0;
            for (Expr e : g.rules.values()) {
                int[] f = fragment(e);
                starts[i++] = f[0];
                finals.set(f[1], true);
            }
            int n = finals.size();
            byteEdges = bytes.toArray(new int[n][]);
            epsEdges = eps.toArray(new int[n][]);
            callEdges = calls.toArray(new int[n][]);
            isFinal = new boolean[n];
            for (int s = 0; s < n; s++) {
                isFinal[s] = finals.get(s);
            }
            ruleStart = starts;
        }

        private int state() {
            if (finals.size() >= MAX_NFA_STATES) {
                throw new ConstraintException("the constraint is too large (over " + MAX_NFA_STATES
                        + " automaton states); use smaller repetition counts or lengths");
            }
            bytes.add(new int[0]);
            eps.add(new int[0]);
            calls.add(new int[0]);
            finals.add(false);
            return finals.size() - 1;
        }

        private void add(List<int[]> edges, int s, int... edge) {
            int[] old = edges.get(s);
            int[] grown = Arrays.copyOf(old, old.length + edge.length);
            System.arraycopy(edge, 0, grown, old.length, edge.length);
            edges.set(s, grown);
        }

        /** {start, end} of a fragment matching {@code e}. */
        private int[] fragment(Expr e) {
            int s = state();
            switch (e) {
                case Expr.Bytes b -> {
                    int t = state();
                    add(bytes, s, b.lo(), b.hi(), t);
                    return new int[] {s, t};
                }
                case Expr.Ref r -> {
                    int t = state();
                    add(calls, s, ruleIndex.get(r.rule()), t);
                    return new int[] {s, t};
                }
                case Expr.Seq q -> {
                    int cur = s;
                    for (Expr item : q.items()) {
                        int[] f = fragment(item);
                        add(eps, cur, f[0]);
                        cur = f[1];
                    }
                    return new int[] {s, cur};
                }
                case Expr.Alt a -> {
                    int t = state();
                    for (Expr o : a.options()) {
                        int[] f = fragment(o);
                        add(eps, s, f[0]);
                        add(eps, f[1], t);
                    }
                    return new int[] {s, t};
                }
                case Expr.Repeat r -> {
                    int cur = s;
                    for (int i = 0; i < r.min(); i++) {
                        int[] f = fragment(r.body());
                        add(eps, cur, f[0]);
                        cur = f[1];
                    }
                    if (r.max() < 0) {
                        int loop = state();
                        add(eps, cur, loop);
                        int[] f = fragment(r.body());
                        add(eps, loop, f[0]);
                        add(eps, f[1], loop);
                        return new int[] {s, loop};
                    }
                    int end = state();
                    add(eps, cur, end);
                    for (int i = r.min(); i < r.max(); i++) {
                        int[] f = fragment(r.body());
                        add(eps, cur, f[0]);
                        cur = f[1];
                        add(eps, cur, end);
                    }
                    return new int[] {s, end};
                }
            }
        }
    }
}
