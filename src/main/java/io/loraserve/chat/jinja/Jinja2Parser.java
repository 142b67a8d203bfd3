package io.loraserve.chat.jinja;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.AstRangeBracket;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import com.hubspot.jinjava.el.ext.NamedParameterOperator;
import java.util.ArrayDeque;
import java.util.Deque;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner.ScanException;
import jinjava.de.odysseus.el.tree.impl.Scanner.Symbol;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;

/**
 * Jinjava's expression parser with three of Python Jinja2's grammar rules it gets wrong:
 * <ul>
 * <li>{@code not} applies to a whole comparison: {@code not x is defined} is
 * {@code not (x is defined)} and {@code not a == b} is {@code not (a == b)} (Jinjava binds
 * {@code not} to the operand alone);
 * <li>a keyword argument's value is a whole expression: {@code namespace(n=xs|length - 1)}
 * (Jinjava reads {@code (n=xs|length) - 1});
 * <li>slices take a step, {@code xs[::-1]}, and every slice has Python's semantics
 * ({@link SliceNode}).
 * </ul>
 * A slice is read by Jinjava as {@code [start:stop]}; this parser notices when the stop is
 * followed by a second colon, reads the step, and hands it to the slice node it builds.
 */
final class Jinja2Parser extends ExtendedParser {
    /** Steps read, each with the stop expression it follows, until their slice node is built. */
    private final Deque<Step> steps = new ArrayDeque<>();
    /** The next optional expression is a slice's stop: Jinjava has just read {@code [start:}. */
    private boolean stopExpected;

    private record Step(AstNode stop, AstNode step) {
    }

    Jinja2Parser(Builder builder, String input) {
        super(builder, input);
    }

    /** Builds {@link Jinja2Parser}s; named by class in the expression factory's properties. */
    public static final class Builder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        public Builder() {
            super();
        }

        public Builder(Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new Jinja2Parser(this, expression);
        }
    }

    @Override
    protected AstNode expr(boolean required) throws ScanException, ParseException {
        boolean stop = stopExpected && !required;
        stopExpected = false;
        if (getToken().getSymbol() == Symbol.IDENTIFIER && lookahead(0).getSymbol() == Symbol.EXTENSION
                && NamedParameterOperator.TOKEN.getImage().equals(lookahead(0).getImage())) {
            AstNode name = identifier(consumeToken().getImage());
            consumeToken();
            return NamedParameterOperator.HANDLER.createAstNode(name, expr(true));
        }
        AstNode v = super.expr(required);
        if (stop && isColon()) {
            consumeToken();
            steps.push(new Step(v, expr(false)));
        } else if (!stop && isColon()) {
            stopExpected = true;
        }
        return v;
    }

    private boolean isColon() {
        return getToken().getSymbol() == Symbol.COLON && ":".equals(getToken().getImage());
    }

    @Override
    protected AstNode eq(boolean required) throws ScanException, ParseException {
        if (getToken().getSymbol() == Symbol.NOT) {
            consumeToken();
            return createAstUnary(eq(true), AstUnary.NOT);
        }
        return super.eq(required);
    }

    @Override
    protected AstRangeBracket createAstRangeBracket(AstNode base, AstNode start, AstNode stop, boolean lvalue,
            boolean strict) {
        AstNode step = null;
        if (!steps.isEmpty() && steps.peek().stop() == stop) {
            step = steps.pop().step();
        }
        return new SliceNode(base, start, stop, step, lvalue, strict);
    }
}
