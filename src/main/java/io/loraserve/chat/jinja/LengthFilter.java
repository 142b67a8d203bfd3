package io.loraserve.chat.jinja;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

/**
 * Jinja2's {@code length} (and its alias {@code count}): a string's characters (Jinjava counts
 * UTF-16 units, so an emoji was two); anything else as Jinjava counts it.
 */
final class LengthFilter implements Filter {
    private final String name;
    private final Filter jinjava;

    LengthFilter(String name, Filter jinjava) {
        this.name = name;
        this.jinjava = jinjava;
    }

    @Override
    public String getName() {
        return name;
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        return var instanceof String s ? (Object) (long) s.codePointCount(0, s.length())
                : jinjava.filter(var, interpreter, args);
    }
}
