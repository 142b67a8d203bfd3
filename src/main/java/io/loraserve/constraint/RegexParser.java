package io.loraserve.constraint;

import java.util.ArrayList;
import java.util.List;

/**
 * A regular expression (the common Python / JavaScript / Java syntax) to an {@link Expr} that the
 * whole output must match. Supported: literals, {@code .}, classes {@code [a-z]} {@code [^…]},
 * the escapes {@code \d \w \s \D \W \S \n \r \t \f \v \xHH} and {@code \\u} with four hex digits and escaped punctuation, groups
 * {@code (…)} {@code (?:…)} {@code (?P<n>…)} {@code (?<n>…)}, alternation, the quantifiers
 * {@code * + ? {n} {n,} {n,m}} (lazy and possessive suffixes accepted; they change nothing when the
 * whole output must match), and {@code ^} / {@code $} at the ends. Back-references, look-around,
 * word boundaries and inline flags are refused with a {@link ConstraintException} naming them.
 *
 * <p>{@code allowed} restricts every character (a JSON string's pattern may not produce a raw
 * {@code "}, {@code \} or control character, which would end or break the string).
 */
final class RegexParser {
    static final int MAX_REPEAT = 1000;

    private final String src;
    private final int[] cps;
    private final CharClass allowed;
    private int pos;

    private RegexParser(String src, CharClass allowed) {
        this.src = src;
        this.cps = src.codePoints().toArray();
        this.allowed = allowed;
    }

    /** The expression of {@code regex}; every character limited to {@code allowed} (null: any). */
    static Expr parse(String regex, CharClass allowed) {
        RegexParser p = new RegexParser(regex, allowed);
        if (p.peek('^')) {
            p.pos++;
        }
        Expr e = p.alternation();
        if (p.pos < p.cps.length) {
            throw p.error(p.cps[p.pos] == ')' ? "unbalanced ')'" : "unexpected '" + Character.toString(p.cps[p.pos]) + "'");
        }
        return e;
    }

    private ConstraintException error(String what) {
        return new ConstraintException("invalid regex " + shown() + ": " + what + " at position " + pos);
    }

    private ConstraintException unsupported(String what) {
        return new ConstraintException("regex " + shown() + " uses " + what + ", which is not supported");
    }

    private String shown() {
        return src.length() <= 60 ? "'" + src + "'" : "'" + src.substring(0, 60) + "…'";
    }

    private boolean peek(int c) {
        return pos < cps.length && cps[pos] == c;
    }

    private Expr alternation() {
        List<Expr> options = new ArrayList<>();
        options.add(sequence());
        while (peek('|')) {
            pos++;
            options.add(sequence());
        }
        return Expr.alt(options);
    }

    private Expr sequence() {
        List<Expr> items = new ArrayList<>();
        while (pos < cps.length && !peek('|') && !peek(')')) {
            if (peek('$') && (pos == cps.length - 1 || cps[pos + 1] == '|' || cps[pos + 1] == ')')) {
                pos++;
                continue;
            }
            if (peek('^') && items.isEmpty()) {
                pos++;
                continue;
            }
            items.add(quantified(atom()));
        }
        return Expr.seq(items);
    }

    private Expr quantified(Expr atom) {
        while (pos < cps.length) {
            int c = cps[pos];
            int min;
            int max;
            if (c == '*' || c == '+' || c == '?') {
                pos++;
                min = c == '+' ? 1 : 0;
                max = c == '?' ? 1 : -1;
            } else if (c == '{' && braceQuantifier()) {
                pos++;
                min = number();
                max = min;
                if (peek(',')) {
                    pos++;
                    max = peek('}') ? -1 : number();
                }
                pos++;  // '}'
                if (max >= 0 && max < min) {
                    throw error("{" + min + "," + max + "} has max < min");
                }
                if (min > MAX_REPEAT || max > MAX_REPEAT) {
                    throw unsupported("a repetition count above " + MAX_REPEAT);
                }
            } else {
                return atom;
            }
            if (peek('?') || peek('+')) {
                pos++;  // lazy / possessive: the same language when the whole output must match
            }
            atom = new Expr.Repeat(atom, min, max);
        }
        return atom;
    }

    /** At '{': is this {n}, {n,} or {n,m}? (Otherwise '{' is a literal, as in Python.) */
    private boolean braceQuantifier() {
        int i = pos + 1;
        int digits = 0;
        while (i < cps.length && Character.isDigit(cps[i])) {
            i++;
            digits++;
        }
        if (digits == 0) {
            return false;
        }
        if (i < cps.length && cps[i] == ',') {
            i++;
            while (i < cps.length && Character.isDigit(cps[i])) {
                i++;
            }
        }
        return i < cps.length && cps[i] == '}';
    }

    private int number() {
        int start = pos;
        while (pos < cps.length && Character.isDigit(cps[pos])) {
            pos++;
        }
        String digits = new String(cps, start, pos - start);
        return digits.length() > 6 ? Integer.MAX_VALUE : Integer.parseInt(digits);
    }

    private Expr atom() {
        int c = cps[pos];
        switch (c) {
            case '(' -> {
                pos++;
                if (peek('?')) {
                    pos++;
                    if (peek(':')) {
                        pos++;
                    } else if (peek('P') && pos + 1 < cps.length && cps[pos + 1] == '<') {
                        skipName(pos + 2);
                    } else if (peek('<') && pos + 1 < cps.length && cps[pos + 1] != '=' && cps[pos + 1] != '!') {
                        skipName(pos + 1);
                    } else {
                        throw unsupported(peek('=') || peek('!') || peek('<') ? "look-around" : "inline flags or '(?"
                                + (pos < cps.length ? Character.toString(cps[pos]) : "") + "'");
                    }
                }
                Expr e = alternation();
                if (!peek(')')) {
                    throw error("missing ')'");
                }
                pos++;
                return e;
            }
            case '[' -> {
                return chars(charClass());
            }
            case '.' -> {
                pos++;
                return chars(CharClass.of('\n', '\n').negate());
            }
            case '\\' -> {
                return chars(escape(false));
            }
            case '*', '+', '?' -> throw error("nothing to repeat before '" + Character.toString(c) + "'");
            case '^', '$' -> throw unsupported("'" + Character.toString(c) + "' inside the expression (anchors are"
                    + " only meaningful at its ends)");
            default -> {
                pos++;
                return chars(CharClass.of(c, c));
            }
        }
    }

    private void skipName(int from) {
        int end = from;
        while (end < cps.length && cps[end] != '>') {
            end++;
        }
        if (end == cps.length) {
            throw error("unterminated group name");
        }
        pos = end + 1;
    }

    private Expr chars(CharClass cc) {
        if (allowed != null) {
            cc = cc.negate().add(allowed.negate()).negate();  // cc ∩ allowed
        }
        return cc.toExpr();
    }

    private CharClass charClass() {
        pos++;  // '['
        boolean negated = peek('^');
        if (negated) {
            pos++;
        }
        CharClass cc = new CharClass();
        boolean first = true;
        while (true) {
            if (pos >= cps.length) {
                throw error("missing ']'");
            }
            if (peek(']') && !first) {
                pos++;
                break;
            }
            first = false;
            CharClass lo = peek('\\') ? escape(true) : CharClass.of(cps[pos], cps[pos++]);
            if (peek('-') && pos + 1 < cps.length && cps[pos + 1] != ']') {
                pos++;
                CharClass hi = peek('\\') ? escape(true) : CharClass.of(cps[pos], cps[pos++]);
                int a = single(lo);
                int b = single(hi);
                if (a > b) {
                    throw error("bad range " + Character.toString(a) + "-" + Character.toString(b));
                }
                cc.add(a, b);
            } else {
                cc.add(lo);
            }
        }
        return negated ? cc.negate() : cc;
    }

    private int single(CharClass c) {
        int cp = c.single();
        if (cp < 0) {
            throw error("a class like \\d cannot be a range end");
        }
        return cp;
    }

    /** At '\\': the class of one escape; {@code inClass} where \b would mean backspace. */
    private CharClass escape(boolean inClass) {
        pos++;
        if (pos >= cps.length) {
            throw error("trailing '\\'");
        }
        int c = cps[pos++];
        return switch (c) {
            case 'd' -> CharClass.of('0', '9');
            case 'D' -> CharClass.of('0', '9').negate();
            case 'w' -> word();
            case 'W' -> word().negate();
            case 's' -> space();
            case 'S' -> space().negate();
            case 'n' -> CharClass.of('\n', '\n');
            case 'r' -> CharClass.of('\r', '\r');
            case 't' -> CharClass.of('\t', '\t');
            case 'f' -> CharClass.of('\f', '\f');
            case 'v' -> CharClass.of(0x0B, 0x0B);
            case '0' -> CharClass.of(0, 0);
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'b' -> {
                if (inClass) {
                    yield CharClass.of('\b', '\b');
                }
                throw unsupported("the word boundary \\b");
            }
            default -> {
                if (Character.isLetterOrDigit(c)) {
                    throw unsupported(Character.isDigit(c) ? "back-references (\\" + Character.toString(c) + ")"
                            : "the escape \\" + Character.toString(c));
                }
                yield CharClass.of(c, c);
            }
        };
    }

    private CharClass hex(int digits) {
        if (pos + digits > cps.length) {
            throw error("short hex escape");
        }
        String h = new String(cps, pos, digits);
        try {
            int cp = Integer.parseInt(h, 16);
            pos += digits;
            return CharClass.of(cp, cp);
        } catch (NumberFormatException e) {
            throw error("bad hex escape '" + h + "'");
        }
    }

    private static CharClass word() {
        return new CharClass().add('a', 'z').add('A', 'Z').add('0', '9').add('_', '_');
    }

    private static CharClass space() {
        return new CharClass().add(' ', ' ').add('\t', '\r');
    }
}
