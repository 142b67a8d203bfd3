package io.loraserve.chat.jinja;

import com.hubspot.jinjava.el.ext.AstRangeBracket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;

/**
 * {@code seq[start:stop:step]} with Python's semantics ({@code slice.indices}): any part may be
 * omitted or negative, a negative step walks backwards ({@code messages[::-1]}), out-of-range
 * bounds clamp. Strings are sliced by code point, as Python does; other sequences give a list.
 */
final class SliceNode extends AstRangeBracket {
    private final AstNode base;
    private final AstNode start;
    private final AstNode stop;
    private final AstNode step;

    SliceNode(AstNode base, AstNode start, AstNode stop, AstNode step, boolean lvalue, boolean strict) {
        super(base, start, stop, lvalue, strict, false);
        this.base = base;
        this.start = start;
        this.stop = stop;
        this.step = step;
    }

    @Override
    public Object eval(Bindings bindings, ELContext context) {
        Object value = base.eval(bindings, context);
        long stepBy = index(step, bindings, context, 1);
        if (stepBy == 0) {
            throw new ELException("slice step cannot be zero");
        }
        if (value instanceof String s) {
            int[] codePoints = s.codePoints().toArray();
            StringBuilder out = new StringBuilder();
            for (long i : positions(codePoints.length, stepBy, bindings, context)) {
                out.appendCodePoint(codePoints[(int) i]);
            }
            return out.toString();
        }
        List<Object> items = new ArrayList<>();
        if (value instanceof Iterable<?> iterable) {
            iterable.forEach(items::add);
        } else if (value instanceof Object[] array) {
            items.addAll(Arrays.asList(array));
        } else {
            throw new ELException("cannot slice " + (value == null ? "none" : value.getClass().getSimpleName())
                    + " (" + base + ")");
        }
        List<Object> out = new ArrayList<>();
        for (long i : positions(items.size(), stepBy, bindings, context)) {
            out.add(items.get((int) i));
        }
        return out;
    }

    /** The indices {@code range(*slice(start, stop, step).indices(length))}. */
    private long[] positions(int length, long stepBy, Bindings bindings, ELContext context) {
        stepBy = Math.max(-(length + 1L), Math.min(length + 1L, stepBy));  // as far as Python goes; no overflow
        long lower = stepBy < 0 ? -1 : 0;
        long upper = stepBy < 0 ? length - 1 : length;
        long from = bound(start, bindings, context, stepBy < 0 ? upper : lower, length, lower, upper);
        long to = bound(stop, bindings, context, stepBy < 0 ? lower : upper, length, lower, upper);
        List<Long> out = new ArrayList<>();
        for (long i = from; stepBy > 0 ? i < to : i > to; i += stepBy) {
            out.add(i);
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    private static long bound(AstNode node, Bindings bindings, ELContext context, long absent, int length, long lower,
            long upper) {
        if (node == null || node.eval(bindings, context) == null) {
            return absent;
        }
        long i = index(node, bindings, context, 0);
        if (i < 0) {
            i += length;
        }
        return Math.max(lower, Math.min(upper, i));
    }

    private static long index(AstNode node, Bindings bindings, ELContext context, long absent) {
        Object v = node == null ? null : node.eval(bindings, context);
        if (v == null) {
            return absent;
        }
        if (v instanceof Number n && n.doubleValue() == n.longValue()) {
            return n.longValue();
        }
        throw new ELException("slice indices must be integers or none, not " + v);
    }
}
