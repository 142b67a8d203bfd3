package io.loraserve.chat.jinja;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import jinjava.javax.el.ELException;

/**
 * {@code tojson} as transformers defines it for chat templates: Python's
 * {@code json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)},
 * each of those four settable by name or position. So {@code ", "} and {@code ": "} between
 * items, non-ASCII kept, no HTML escaping (Jinja2's own {@code tojson} escapes {@code <>&'}).
 */
final class ToJsonFilter implements Filter {
    private static final List<String> PARAMETERS = List.of("ensure_ascii", "indent", "separators", "sort_keys");

    @Override
    public String getName() {
        return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        return filter(var, interpreter, args, Map.of());
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object[] settings = new Object[PARAMETERS.size()];
        for (int i = 0; i < args.length; i++) {
            settings[i] = args[i];
        }
        kwargs.forEach((name, value) -> {
            int i = PARAMETERS.indexOf(name);
            if (i < 0) {
                throw new ELException("tojson() got an unexpected keyword argument '" + name + "'");
            }
            settings[i] = value;
        });
        String indent = settings[1] == null ? null
                : settings[1] instanceof Number n ? " ".repeat(Math.max(0, n.intValue())) : settings[1].toString();
        String itemSeparator = indent == null ? ", " : ",";
        String keySeparator = ": ";
        if (settings[2] instanceof List<?> separators && separators.size() == 2) {
            itemSeparator = separators.get(0).toString();
            keySeparator = separators.get(1).toString();
        }
        StringBuilder out = new StringBuilder();
        new Writer(Boolean.TRUE.equals(settings[0]), indent, itemSeparator, keySeparator,
                Boolean.TRUE.equals(settings[3]), out).value(var, 0);
        return out.toString();
    }

    private record Writer(boolean ensureAscii, String indent, String itemSeparator, String keySeparator,
            boolean sortKeys, StringBuilder out) {
        void value(Object v, int level) {
            switch (v) {
                case null -> out.append("null");
                case Boolean b -> out.append(b ? "true" : "false");
                case String s -> string(s);
                case Double d -> out.append(number(d));
                case Float f -> out.append(number(f.doubleValue()));
                case Number n -> out.append(n);
                case Map<?, ?> map -> {
                    List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
                    if (sortKeys) {
                        entries.sort((a, b) -> String.valueOf(a.getKey()).compareTo(String.valueOf(b.getKey())));
                    }
                    container('{', '}', entries, level, e -> {
                        string(String.valueOf(e.getKey()));
                        out.append(keySeparator);
                        value(e.getValue(), level + 1);
                    });
                }
                case Iterable<?> items -> {
                    List<Object> list = new ArrayList<>();
                    items.forEach(list::add);
                    container('[', ']', list, level, item -> value(item, level + 1));
                }
                case Object[] array -> value(Arrays.asList(array), level);
                default -> throw new ELException("Object of type " + v.getClass().getSimpleName()
                        + " is not JSON serializable");
            }
        }

        <T> void container(char open, char close, List<T> items, int level, java.util.function.Consumer<T> item) {
            out.append(open);
            if (items.isEmpty()) {
                out.append(close);
                return;
            }
            for (int i = 0; i < items.size(); i++) {
                if (i > 0) {
                    out.append(itemSeparator);
                }
                newline(level + 1);
                item.accept(items.get(i));
            }
            newline(level);
            out.append(close);
        }

        void newline(int level) {
            if (indent != null) {
                out.append('\n').append(indent.repeat(level));
            }
        }

        void string(String s) {
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    default -> {
                        if (c < 0x20 || (ensureAscii && c > 0x7e)) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        }

        /** Python's {@code repr(float)}: shortest digits, exponent form below 1e-4 and from 1e16. */
        static String number(double d) {
            if (Double.isNaN(d)) {
                return "NaN";
            }
            if (Double.isInfinite(d)) {
                return d > 0 ? "Infinity" : "-Infinity";
            }
            if (d == 0) {
                return 1 / d < 0 ? "-0.0" : "0.0";
            }
            BigDecimal b = new BigDecimal(Double.toString(d)).stripTrailingZeros();
            String digits = b.unscaledValue().abs().toString();
            int exponent = digits.length() - 1 - b.scale();
            if (exponent >= -4 && exponent < 16) {
                String plain = b.toPlainString();
                return plain.contains(".") ? plain : plain + ".0";
            }
            String mantissa = digits.charAt(0) + (digits.length() > 1 ? "." + digits.substring(1) : "");
            return (d < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+")
                    + String.format("%02d", Math.abs(exponent));
        }
    }
}
