package io.loraserve.chat.jinja;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateSyntaxException;
import com.hubspot.jinjava.lib.tag.ElseTag;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.parse.TagToken;
import com.hubspot.jinjava.util.ForLoop;
import com.hubspot.jinjava.util.ObjectIterator;
import com.hubspot.jinjava.util.ObjectTruthValue;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Jinjava's {@code for} with Jinja2's loop filter: {@code {% for x in xs if cond %}} iterates
 * only the items for which {@code cond} holds, so {@code loop.index}, {@code loop.length} and
 * {@code loop.last} count the kept items, as in Jinja2. (Jinjava reads {@code xs if cond} as a
 * conditional expression and renders every item, or none.) Refused, loudly, where Jinjava would
 * render something else than Jinja2: a filter that reads {@code loop}, and {@code for … else}.
 */
final class FilteredForTag extends ForTag {
    private static final long serialVersionUID = 1L;
    private static final Pattern LOOP = Pattern.compile("\\bloop\\b");

    @Override
    public String interpretUnchecked(TagNode tagNode, JinjavaInterpreter interpreter) {
        TagToken token = (TagToken) tagNode.getMaster();
        for (Node child : tagNode.getChildren()) {
            if (child instanceof TagNode tag && tag.getTag() instanceof ElseTag) {
                throw unsupported(token, "'for ... else' is not supported");
            }
        }
        List<String> vars = getLoopVarsAndExpression(token).getLeft();
        String expression = getLoopVarsAndExpression(token).getRight();
        int at = topLevelIf(expression);
        if (at < 0) {
            return super.interpretUnchecked(tagNode, interpreter);
        }
        String condition = expression.substring(at + 2).trim();
        if (LOOP.matcher(condition).find()) {
            throw unsupported(token, "a loop filter that reads 'loop' is not supported");
        }
        Object collection = interpreter.resolveELExpression(expression.substring(0, at), tagNode.getLineNumber());
        List<Object> kept = new ArrayList<>();
        ForLoop items = ObjectIterator.getLoop(collection);
        try (var scope = interpreter.enterScope()) {
            while (items.hasNext()) {
                Object item = interpreter.wrap(items.next());
                bind(vars, item, interpreter, token);
                if (ObjectTruthValue.evaluate(interpreter.resolveELExpression(condition, tagNode.getLineNumber()))) {
                    kept.add(item);
                }
            }
        }
        return renderForCollection(tagNode, interpreter, vars, kept);
    }

    private static void bind(List<String> vars, Object item, JinjavaInterpreter interpreter, TagToken token) {
        if (vars.size() == 1) {
            interpreter.getContext().put(vars.get(0), item);
            return;
        }
        List<?> parts;
        if (item instanceof Map.Entry<?, ?> entry) {
            parts = java.util.Arrays.asList(entry.getKey(), entry.getValue());
        } else if (item instanceof List<?> list) {
            parts = list;
        } else {
            throw unsupported(token, "cannot unpack " + item + " into " + vars);
        }
        if (parts.size() != vars.size()) {
            throw unsupported(token, "cannot unpack " + parts.size() + " values into " + vars);
        }
        for (int i = 0; i < vars.size(); i++) {
            interpreter.getContext().put(vars.get(i), parts.get(i));
        }
    }

    /** Where {@code if} starts the loop filter: the first {@code if} outside brackets and strings. */
    static int topLevelIf(String expression) {
        int depth = 0;
        char quote = 0;
        for (int i = 0; i < expression.length(); i++) {
            char c = expression.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if ("([{".indexOf(c) >= 0) {
                depth++;
            } else if (")]}".indexOf(c) >= 0) {
                depth--;
            } else if (depth == 0 && expression.startsWith("if", i) && i > 0
                    && Character.isWhitespace(expression.charAt(i - 1)) && i + 2 < expression.length()
                    && !Character.isJavaIdentifierPart(expression.charAt(i + 2))) {
                return i;
            }
        }
        return -1;
    }

    private static TemplateSyntaxException unsupported(TagToken token, String message) {
        return new TemplateSyntaxException(token.getImage(), message, token.getLineNumber(), token.getStartPosition());
    }
}
