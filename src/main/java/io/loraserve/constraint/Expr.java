package io.loraserve.constraint;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A grammar expression over bytes: what every constraint (regex, choice, JSON schema, GBNF)
 * compiles to before it becomes an {@link Automaton}. Characters are UTF-8 byte sequences
 * ({@link Utf8}); {@link Ref} calls another rule of the {@link Grammar}, which is how recursion
 * (a recursive {@code $ref}, a GBNF rule) is expressed.
 */
sealed interface Expr {
    /** One byte in {@code [lo, hi]}. */
    record Bytes(int lo, int hi) implements Expr {
    }

    /** Each item in turn; empty = the empty string. */
    record Seq(List<Expr> items) implements Expr {
    }

    /** One of the options; empty = matches nothing. */
    record Alt(List<Expr> options) implements Expr {
    }

    /** {@code body} repeated {@code min} to {@code max} times; {@code max} -1 = unbounded. */
    record Repeat(Expr body, int min, int max) implements Expr {
    }

    /** The rule named {@code rule}. */
    record Ref(String rule) implements Expr {
    }

    Expr EMPTY = new Seq(List.of());
    Expr NOTHING = new Alt(List.of());

    static Expr seq(Expr... items) {
        return items.length == 1 ? items[0] : new Seq(List.of(items));
    }

    static Expr seq(List<Expr> items) {
        return items.size() == 1 ? items.get(0) : new Seq(List.copyOf(items));
    }

    static Expr alt(Expr... options) {
        return options.length == 1 ? options[0] : new Alt(List.of(options));
    }

    static Expr alt(List<Expr> options) {
        return options.size() == 1 ? options.get(0) : new Alt(List.copyOf(options));
    }

    static Expr optional(Expr e) {
        return new Repeat(e, 0, 1);
    }

    static Expr star(Expr e) {
        return new Repeat(e, 0, -1);
    }

    static Expr plus(Expr e) {
        return new Repeat(e, 1, -1);
    }

    /** The UTF-8 bytes of {@code text}, literally. */
    static Expr literal(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        List<Expr> items = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            items.add(new Bytes(b & 0xff, b & 0xff));
        }
        return seq(items);
    }

    /** One ASCII character in {@code [lo, hi]}. */
    static Expr ascii(char lo, char hi) {
        return new Bytes(lo, hi);
    }
}
