package io.loraserve.constraint;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A set of Unicode code points (surrogates excluded), kept as sorted disjoint ranges, and its
 * UTF-8 form as an {@link Expr}: one alternative per run of code points whose encodings share a
 * length and differ only in byte ranges (the split RE2 and Rust's regex-syntax use), so a class
 * like {@code [^"\\]} becomes a handful of byte-range sequences, never one per character.
 */
final class CharClass {
    static final int MAX = 0x10FFFF;

    private final List<int[]> ranges = new ArrayList<>();

    CharClass add(int lo, int hi) {
        ranges.add(new int[] {lo, hi});
        return this;
    }

    CharClass add(CharClass other) {
        ranges.addAll(other.ranges);
        return this;
    }

    static CharClass of(int lo, int hi) {
        return new CharClass().add(lo, hi);
    }

    /** Everything this set does not hold. */
    CharClass negate() {
        List<int[]> norm = normalized();
        CharClass out = new CharClass();
        int next = 0;
        for (int[] r : norm) {
            if (r[0] > next) {
                out.add(next, r[0] - 1);
            }
            next = r[1] + 1;
        }
        if (next <= MAX) {
            out.add(next, MAX);
        }
        return out;
    }

    /** This set without {@code [lo, hi]}. */
    CharClass minus(int lo, int hi) {
        CharClass out = new CharClass();
        for (int[] r : normalized()) {
            if (r[1] < lo || r[0] > hi) {
                out.add(r[0], r[1]);
            } else {
                if (r[0] < lo) {
                    out.add(r[0], lo - 1);
                }
                if (r[1] > hi) {
                    out.add(hi + 1, r[1]);
                }
            }
        }
        return out;
    }

    /** The one code point of a single-character set, else -1. */
    int single() {
        List<int[]> n = normalized();
        return n.size() == 1 && n.get(0)[0] == n.get(0)[1] ? n.get(0)[0] : -1;
    }

    boolean isEmpty() {
        return normalized().isEmpty();
    }

    /** Sorted, merged, without surrogates. */
    private List<int[]> normalized() {
        List<int[]> sorted = new ArrayList<>(ranges);
        sorted.sort(Comparator.comparingInt(r -> r[0]));
        List<int[]> merged = new ArrayList<>();
        for (int[] r : sorted) {
            if (r[0] > r[1]) {
                continue;
            }
            if (!merged.isEmpty() && merged.getLast()[1] >= r[0] - 1) {
                merged.getLast()[1] = Math.max(merged.getLast()[1], r[1]);
            } else {
                merged.add(new int[] {r[0], r[1]});
            }
        }
        List<int[]> out = new ArrayList<>();
        for (int[] r : merged) {
            if (r[1] < 0xD800 || r[0] > 0xDFFF) {
                out.add(r);
            } else {
                if (r[0] < 0xD800) {
                    out.add(new int[] {r[0], 0xD7FF});
                }
                if (r[1] > 0xDFFF) {
                    out.add(new int[] {0xE000, r[1]});
                }
            }
        }
        return out;
    }

    /** The UTF-8 encodings of the set's members. */
    Expr toExpr() {
        List<Expr> options = new ArrayList<>();
        for (int[] r : normalized()) {
            split(r[0], r[1], options);
        }
        return Expr.alt(options);
    }

    private static void split(int lo, int hi, List<Expr> out) {
        if (lo > hi) {
            return;
        }
        for (int max : new int[] {0x7F, 0x7FF, 0xFFFF}) {
            if (lo <= max && hi > max) {
                split(lo, max, out);
                split(max + 1, hi, out);
                return;
            }
        }
        if (hi <= 0x7F) {
            out.add(new Expr.Bytes(lo, hi));
            return;
        }
        int n = length(lo);
        for (int i = 1; i < n; i++) {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    split(lo, lo | m, out);
                    split((lo | m) + 1, hi, out);
                    return;
                }
                if ((hi & m) != m) {
                    split(lo, (hi & ~m) - 1, out);
                    split(hi & ~m, hi, out);
                    return;
                }
            }
        }
        int[] a = encode(lo);
        int[] b = encode(hi);
        List<Expr> bytes = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            bytes.add(new Expr.Bytes(a[i], b[i]));
        }
        out.add(Expr.seq(bytes));
    }

    private static int length(int cp) {
        return cp <= 0x7F ? 1 : cp <= 0x7FF ? 2 : cp <= 0xFFFF ? 3 : 4;
    }

    private static int[] encode(int cp) {
        return switch (length(cp)) {
            case 1 -> new int[] {cp};
            case 2 -> new int[] {0xC0 | cp >> 6, 0x80 | cp & 0x3F};
            case 3 -> new int[] {0xE0 | cp >> 12, 0x80 | cp >> 6 & 0x3F, 0x80 | cp & 0x3F};
            default -> new int[] {0xF0 | cp >> 18, 0x80 | cp >> 12 & 0x3F, 0x80 | cp >> 6 & 0x3F, 0x80 | cp & 0x3F};
        };
    }
}
