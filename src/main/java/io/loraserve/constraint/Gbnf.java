package io.loraserve.constraint;

import java.util.ArrayList;
import java.util.List;

/**
 * A GBNF grammar (llama.cpp's format, which xgrammar and vLLM's {@code guided_grammar} take) to a
 * {@link Grammar}: rules {@code name ::= alternatives}, the start rule {@code root}; elements are
 * {@code "literals"} (escapes {@code \n \r \t \" \\ \xHH} and {@code \\u} with four hex digits), character classes
 * {@code [a-z]} {@code [^…]}, {@code .}, rule names, groups {@code ( … )}, the quantifiers
 * {@code * + ? {m} {m,} {m,n}}, alternation {@code |} and {@code #} comments. Syntax errors are
 * a {@link ConstraintException} with the line and column.
 */
final class Gbnf {
    private final String src;
    private int pos;

    private Gbnf(String src) {
        this.src = src;
    }

    static Grammar parse(String text) {
        Gbnf p = new Gbnf(text);
        Grammar g = new Grammar("root");
        p.skipSpace(true);
        if (p.pos >= text.length()) {
            throw p.error("the grammar is empty");
        }
        while (p.pos < text.length()) {
            String name = p.name();
            p.skipSpace(true);
            if (!text.startsWith("::=", p.pos)) {
                throw p.error("expected '::=' after rule name '" + name + "'");
            }
            p.pos += 3;
            if (g.rules.containsKey(name)) {
                throw p.error("rule '" + name + "' is defined twice");
            }
            g.rule(name, p.alternatives(false));
            p.skipSpace(true);
        }
        if (!g.rules.containsKey("root")) {
            throw new ConstraintException("grammar syntax error: there is no 'root' rule (the start rule)");
        }
        return g;
    }

    private ConstraintException error(String what) {
        int line = 1;
        int col = 1;
        for (int i = 0; i < Math.min(pos, src.length()); i++) {
            if (src.charAt(i) == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return new ConstraintException("grammar syntax error at line " + line + ", column " + col + ": " + what);
    }

    /** Skips blanks and comments; newlines too when {@code newlines} (inside a group, or between rules). */
    private void skipSpace(boolean newlines) {
        while (pos < src.length()) {
            char c = src.charAt(pos);
            if (c == '#') {
                while (pos < src.length() && src.charAt(pos) != '\n') {
                    pos++;
                }
            } else if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
                pos++;
            } else {
                return;
            }
        }
    }

    private static boolean nameChar(char c) {
        return Character.isLetterOrDigit(c) || c == '-' || c == '_';
    }

    private String name() {
        int start = pos;
        while (pos < src.length() && nameChar(src.charAt(pos))) {
            pos++;
        }
        if (start == pos) {
            throw error("expected a rule name");
        }
        return src.substring(start, pos);
    }

    /** True when the text at {@code pos} is {@code name ::=} (a new rule starts). */
    private boolean atRuleStart() {
        int i = pos;
        while (i < src.length() && nameChar(src.charAt(i))) {
            i++;
        }
        if (i == pos) {
            return false;
        }
        while (i < src.length() && Character.isWhitespace(src.charAt(i))) {
            i++;
        }
        return src.startsWith("::=", i);
    }

    private Expr alternatives(boolean nested) {
        List<Expr> options = new ArrayList<>();
        options.add(sequence(nested));
        while (pos < src.length() && src.charAt(pos) == '|') {
            pos++;
            options.add(sequence(nested));
        }
        return Expr.alt(options);
    }

    private Expr sequence(boolean nested) {
        List<Expr> items = new ArrayList<>();
        while (true) {
            skipSpace(true);
            if (pos >= src.length() || src.charAt(pos) == '|' || src.charAt(pos) == ')' || atRuleStart()) {
                break;
            }
            items.add(quantified(element()));
        }
        if (!nested && pos < src.length() && src.charAt(pos) == ')') {
            throw error("unbalanced ')'");
        }
        return Expr.seq(items);
    }

    private Expr element() {
        char c = src.charAt(pos);
        if (c == '"') {
            pos++;
            StringBuilder lit = new StringBuilder();
            while (true) {
                if (pos >= src.length() || src.charAt(pos) == '\n') {
                    throw error("unterminated string literal");
                }
                if (src.charAt(pos) == '"') {
                    pos++;
                    break;
                }
                lit.appendCodePoint(charAt());
            }
            return Expr.literal(lit.toString());
        }
        if (c == '[') {
            return charClass().toExpr();
        }
        if (c == '.') {
            pos++;
            return CharClass.of(0, CharClass.MAX).toExpr();
        }
        if (c == '(') {
            pos++;
            Expr e = alternatives(true);
            skipSpace(true);
            if (pos >= src.length() || src.charAt(pos) != ')') {
                throw error("missing ')'");
            }
            pos++;
            return e;
        }
        if (nameChar(c)) {
            return new Expr.Ref(name());
        }
        throw error("unexpected '" + c + "'");
    }

    private Expr quantified(Expr e) {
        while (pos < src.length()) {
            char c = src.charAt(pos);
            if (c == '*' || c == '+' || c == '?') {
                pos++;
                e = new Expr.Repeat(e, c == '+' ? 1 : 0, c == '?' ? 1 : -1);
            } else if (c == '{') {
                pos++;
                int min = count();
                int max = min;
                if (pos < src.length() && src.charAt(pos) == ',') {
                    pos++;
                    max = pos < src.length() && src.charAt(pos) == '}' ? -1 : count();
                }
                if (pos >= src.length() || src.charAt(pos) != '}') {
                    throw error("expected '}'");
                }
                pos++;
                if (max >= 0 && max < min) {
                    throw error("repetition {" + min + "," + max + "} has max < min");
                }
                e = new Expr.Repeat(e, min, max);
            } else {
                return e;
            }
        }
        return e;
    }

    private int count() {
        int start = pos;
        while (pos < src.length() && Character.isDigit(src.charAt(pos))) {
            pos++;
        }
        if (start == pos) {
            throw error("expected a number");
        }
        if (pos - start > 4 || Integer.parseInt(src.substring(start, pos)) > RegexParser.MAX_REPEAT) {
            throw error("repetition count above " + RegexParser.MAX_REPEAT);
        }
        return Integer.parseInt(src.substring(start, pos));
    }

    private CharClass charClass() {
        pos++;
        boolean negated = pos < src.length() && src.charAt(pos) == '^';
        if (negated) {
            pos++;
        }
        CharClass cc = new CharClass();
        while (true) {
            if (pos >= src.length() || src.charAt(pos) == '\n') {
                throw error("unterminated character class");
            }
            if (src.charAt(pos) == ']') {
                pos++;
                break;
            }
            int lo = charAt();
            int hi = lo;
            if (pos + 1 < src.length() && src.charAt(pos) == '-' && src.charAt(pos + 1) != ']') {
                pos++;
                hi = charAt();
                if (hi < lo) {
                    throw error("bad character range");
                }
            }
            cc.add(lo, hi);
        }
        return negated ? cc.negate() : cc;
    }

    /** One character of a literal or class, unescaped. */
    private int charAt() {
        int c = src.codePointAt(pos);
        pos += Character.charCount(c);
        if (c != '\\') {
            return c;
        }
        if (pos >= src.length()) {
            throw error("trailing '\\'");
        }
        char e = src.charAt(pos++);
        return switch (e) {
            case 'n' -> '\n';
            case 'r' -> '\r';
            case 't' -> '\t';
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'U' -> hex(8);
            default -> e;
        };
    }

    private int hex(int digits) {
        if (pos + digits > src.length()) {
            throw error("short hex escape");
        }
        try {
            int v = Integer.parseInt(src.substring(pos, pos + digits), 16);
            pos += digits;
            return v;
        } catch (NumberFormatException e) {
            throw error("bad hex escape");
        }
    }
}
