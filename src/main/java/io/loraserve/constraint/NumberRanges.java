package io.loraserve.constraint;

import java.util.ArrayList;
import java.util.List;

/**
 * Decimal numbers within bounds as expressions, for JSON schema's {@code minimum} /
 * {@code maximum}. Integers are exact: every integer in the range and nothing else (without
 * leading zeros or {@code -0}). Numbers with a fraction are <em>sound but not complete</em>: an
 * integer part {@code k} may take a fraction only when every value {@code k.f} lies inside the
 * bounds, so {@code maximum: 1.5} allows {@code 0.99} and {@code 1} but not {@code 1.2}. No
 * exponents under bounds. Bounds beyond ±10^15 count as unbounded.
 */
final class NumberRanges {
    private static final long LIMIT = 1_000_000_000_000_000L;
    private static final Expr DIGIT = Expr.ascii('0', '9');
    static final Expr FRACTION = Expr.seq(Expr.literal("."), new Expr.Repeat(DIGIT, 1, 15));

    private NumberRanges() {
    }

    /** The integers in [lo, hi]; null = unbounded on that side. */
    static Expr integer(Long lo, Long hi) {
        lo = clamp(lo);
        hi = clamp(hi);
        List<Expr> options = new ArrayList<>();
        if (lo == null || lo < 0) {
            long smallest = hi == null || hi >= -1 ? 1 : -hi;
            Long largest = lo == null ? null : -lo;
            if (largest == null || smallest <= largest) {
                options.add(Expr.seq(Expr.literal("-"), natural(smallest, largest)));
            }
        }
        if (hi == null || hi >= 0) {
            long from = lo == null || lo < 0 ? 0 : lo;
            if (hi == null || from <= hi) {
                options.add(natural(from, hi));
            }
        }
        return Expr.alt(options);
    }

    /**
     * Numbers within the bounds (each may be null; {@code exclusive} flags say whether the bound
     * itself is out): the exact integers, plus integer parts whose whole unit interval fits, with
     * a fraction.
     */
    static Expr number(Double min, boolean minExclusive, Double max, boolean maxExclusive) {
        Long loInt = min == null ? null : minExclusive ? (long) Math.floor(min) + 1 : (long) Math.ceil(min);
        Long hiInt = max == null ? null : maxExclusive ? (long) Math.ceil(max) - 1 : (long) Math.floor(max);
        List<Expr> options = new ArrayList<>();
        if (loInt == null || hiInt == null || loInt <= hiInt) {
            options.add(integer(loInt, hiInt));
        }
        // k.f with k >= 0 lies in [k, k+1): needs k >= the lower bound and k + 1 <= the upper
        long from = Math.max(0, loInt == null ? 0 : loInt);
        Long to = max == null ? null : (long) Math.floor(max) - 1;
        if (to == null || from <= to) {
            options.add(Expr.seq(natural(from, clamp(to)), FRACTION));
        }
        // -k.f lies in (-(k+1), -k]: needs -k within the upper bound and -(k+1) >= the lower
        long negFrom = Math.max(0, max == null ? 0 : maxExclusive ? (long) Math.floor(-max) + 1 : (long) Math.ceil(-max));
        Long negTo = min == null ? null : (long) Math.floor(-min) - 1;
        if (negTo == null || negFrom <= negTo) {
            options.add(Expr.seq(Expr.literal("-"), natural(negFrom, clamp(negTo)), FRACTION));
        }
        return Expr.alt(options);
    }

    private static Long clamp(Long v) {
        return v == null || Math.abs(v) >= LIMIT ? null : v;
    }

    /** The integers in [a, b] (a >= 0; b null = unbounded), in decimal without leading zeros. */
    static Expr natural(long a, Long b) {
        if (b == null) {
            int n = Long.toString(a).length();
            return Expr.alt(natural(a, pow10(n) - 1),
                    Expr.seq(Expr.ascii('1', '9'), new Expr.Repeat(DIGIT, n, 15)));
        }
        List<Expr> options = new ArrayList<>();
        for (int len = Long.toString(a).length(); len <= Long.toString(b).length(); len++) {
            long lo = Math.max(a, len == 1 ? 0 : pow10(len - 1));
            long hi = Math.min(b, pow10(len) - 1);
            if (lo <= hi) {
                options.add(sameLength(Long.toString(lo), Long.toString(hi)));
            }
        }
        return Expr.alt(options);
    }

    /** Digit strings of one length between x and y inclusive. */
    private static Expr sameLength(String x, String y) {
        if (x.isEmpty()) {
            return Expr.EMPTY;
        }
        char x0 = x.charAt(0);
        char y0 = y.charAt(0);
        String xr = x.substring(1);
        String yr = y.substring(1);
        if (xr.chars().allMatch(c -> c == '0') && yr.chars().allMatch(c -> c == '9')) {
            return Expr.seq(Expr.ascii(x0, y0), new Expr.Repeat(DIGIT, xr.length(), xr.length()));
        }
        if (x0 == y0) {
            return Expr.seq(Expr.ascii(x0, x0), sameLength(xr, yr));
        }
        List<Expr> options = new ArrayList<>();
        options.add(Expr.seq(Expr.ascii(x0, x0), sameLength(xr, "9".repeat(xr.length()))));
        if (y0 - x0 >= 2) {
            options.add(Expr.seq(Expr.ascii((char) (x0 + 1), (char) (y0 - 1)), new Expr.Repeat(DIGIT, xr.length(), xr.length())));
        }
        options.add(Expr.seq(Expr.ascii(y0, y0), sameLength("0".repeat(yr.length()), yr)));
        return Expr.alt(options);
    }

    private static long pow10(int n) {
        long p = 1;
        for (int i = 0; i < n; i++) {
            p *= 10;
        }
        return p;
    }
}
