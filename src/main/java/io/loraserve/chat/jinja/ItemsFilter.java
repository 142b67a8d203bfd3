package io.loraserve.chat.jinja;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import jinjava.javax.el.ELException;

/** Jinja2 3.1's {@code items}: a mapping's (key, value) pairs in order, none for an undefined value (Qwen3-Coder's tool schemas). */
final class ItemsFilter implements Filter {
    @Override
    public String getName() {
        return "items";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        if (var == null) {
            return List.of();
        }
        if (!(var instanceof Map<?, ?> map)) {
            throw new ELException("items: can only get item pairs from a mapping, not " + var.getClass().getSimpleName());
        }
        List<List<Object>> pairs = new ArrayList<>();
        map.forEach((k, v) -> pairs.add(Arrays.asList(k, v)));
        return pairs;
    }
}
