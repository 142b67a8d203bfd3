package io.loraserve.constraint;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Named rules over bytes and a start rule: the common form of every constraint. {@link #check}
 * refuses what the {@link Automaton} cannot run: a reference to an undefined rule, and left
 * recursion (a rule that can reach itself before consuming a byte, which would push frames
 * forever).
 */
final class Grammar {
    final Map<String, Expr> rules = new LinkedHashMap<>();
    final String start;

    Grammar(String start) {
        this.start = start;
    }

    /** A grammar of one rule. */
    static Grammar of(Expr e) {
        Grammar g = new Grammar("root");
        g.rules.put("root", e);
        return g;
    }

    Grammar rule(String name, Expr e) {
        rules.put(name, e);
        return this;
    }

    /** Throws {@link ConstraintException} for an undefined rule or left recursion. */
    void check() {
        if (!rules.containsKey(start)) {
            throw new ConstraintException("the grammar has no rule '" + start + "'");
        }
        rules.values().forEach(this::checkRefs);
        Map<String, Boolean> nullable = nullable();
        Map<String, Set<String>> left = new HashMap<>();
        rules.forEach((name, e) -> left.put(name, leftCalls(e, nullable)));
        for (String r : rules.keySet()) {
            Set<String> seen = new HashSet<>();
            List<String> todo = new ArrayList<>(left.get(r));
            while (!todo.isEmpty()) {
                String next = todo.removeLast();
                if (next.equals(r)) {
                    throw new ConstraintException("rule '" + r + "' is left-recursive (it can reach itself before"
                            + " consuming any character); rewrite it with repetition");
                }
                if (seen.add(next)) {
                    todo.addAll(left.get(next));
                }
            }
        }
    }

    private void checkRefs(Expr e) {
        switch (e) {
            case Expr.Ref r -> {
                if (!rules.containsKey(r.rule())) {
                    throw new ConstraintException("rule '" + r.rule() + "' is used but not defined");
                }
            }
            case Expr.Seq s -> s.items().forEach(this::checkRefs);
            case Expr.Alt a -> a.options().forEach(this::checkRefs);
            case Expr.Repeat r -> checkRefs(r.body());
            case Expr.Bytes b -> {
            }
        }
    }

    /** Which rules can match the empty string (a fixpoint). */
    private Map<String, Boolean> nullable() {
        Map<String, Boolean> n = new HashMap<>();
        rules.keySet().forEach(r -> n.put(r, false));
        boolean changed = true;
        while (changed) {
            changed = false;
            for (Map.Entry<String, Expr> e : rules.entrySet()) {
                if (!n.get(e.getKey()) && nullable(e.getValue(), n)) {
                    n.put(e.getKey(), true);
                    changed = true;
                }
            }
        }
        return n;
    }

    private static boolean nullable(Expr e, Map<String, Boolean> n) {
        return switch (e) {
            case Expr.Bytes b -> false;
            case Expr.Ref r -> n.get(r.rule());
            case Expr.Seq s -> s.items().stream().allMatch(i -> nullable(i, n));
            case Expr.Alt a -> a.options().stream().anyMatch(o -> nullable(o, n));
            case Expr.Repeat r -> r.min() == 0 || nullable(r.body(), n);
        };
    }

    /** The rules {@code e} may call before it consumes a byte. */
    private static Set<String> leftCalls(Expr e, Map<String, Boolean> n) {
        Set<String> out = new HashSet<>();
        switch (e) {
            case Expr.Bytes b -> {
            }
            case Expr.Ref r -> out.add(r.rule());
            case Expr.Seq s -> {
                for (Expr i : s.items()) {
                    out.addAll(leftCalls(i, n));
                    if (!nullable(i, n)) {
                        break;
                    }
                }
            }
            case Expr.Alt a -> a.options().forEach(o -> out.addAll(leftCalls(o, n)));
            case Expr.Repeat r -> {
                if (r.max() != 0) {
                    out.addAll(leftCalls(r.body(), n));
                }
            }
        }
        return out;
    }
}
