package io.loraserve.chat.jinja;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;
import jinjava.javax.el.ELResolver;

/**
 * The methods of Python's {@code str} that chat templates call ({@code content.startswith(…)},
 * {@code content.split('</think>')[-1].lstrip('\n')}), with Python's semantics: {@code split}
 * takes a literal separator and keeps empty parts, {@code strip(chars)} strips a set of
 * characters, {@code format} fills {@code {}} and {@code {n}} fields, and {@code s[i]} is the
 * i-th character (from the end when negative). Any other method called on a
 * string is an error: Jinjava would otherwise call the Java method of that name, and a template's
 * {@code '{}'.format(content)} would make the client's content a Java format string.
 */
final class PythonStrings extends ELResolver {
    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || !(method instanceof String name)) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        checkArity(name, args);
        Object result = switch (name) {
            case "startswith" -> affix(s, args, true);
            case "endswith" -> affix(s, args, false);
            case "strip" -> rstrip(lstrip(s, chars(args)), chars(args));
            case "lstrip" -> lstrip(s, chars(args));
            case "rstrip" -> rstrip(s, chars(args));
            case "split" -> split(s, args);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "replace" -> replace(s, args);
            case "title" -> title(s);
            case "format" -> format(s, args);
            default -> throw new ELException("'str' object has no attribute '" + name + "' (or this server does"
                    + " not implement it)");
        };
        context.setPropertyResolved(true);
        return result;
    }

    /** Python's {@code str.format} for auto-numbered and numbered fields without a format spec. */
    private static String format(String s, Object[] args) {
        StringBuilder out = new StringBuilder();
        int auto = 0;
        boolean numbered = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if ((c == '{' || c == '}') && i + 1 < s.length() && s.charAt(i + 1) == c) {
                out.append(c);
                i++;
            } else if (c == '{') {
                int close = s.indexOf('}', i);
                String field = close < 0 ? null : s.substring(i + 1, close);
                if (field == null || !field.matches("[0-9]*")) {
                    throw new ELException("str.format: only {} and {n} fields are supported, not '"
                            + s.substring(i, close < 0 ? s.length() : close + 1) + "'");
                }
                if (field.isEmpty() ? numbered : auto > 0) {
                    throw new ELException("str.format: cannot switch between automatic and manual field numbering");
                }
                numbered = !field.isEmpty();
                int n = field.isEmpty() ? auto++ : Integer.parseInt(field);
                if (n >= args.length) {
                    throw new ELException("str.format: replacement index " + n + " out of range");
                }
                out.append(args[n]);
                i = close;
            } else if (c == '}') {
                throw new ELException("str.format: single '}' encountered");
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static String text(Object[] args, int i) {
        if (args.length <= i || !(args[i] instanceof String t)) {
            throw new ELException("expected a string argument " + (i + 1));
        }
        return t;
    }

    private static Boolean affix(String s, Object[] args, boolean prefix) {
        List<String> options = new ArrayList<>();
        if (args.length == 1 && args[0] instanceof Iterable<?> many) {
            many.forEach(o -> options.add(String.valueOf(o)));
        } else {
            options.add(text(args, 0));
        }
        return options.stream().anyMatch(o -> prefix ? s.startsWith(o) : s.endsWith(o));
    }

    /** The characters to strip: Python's whitespace when none are given. */
    private static String chars(Object[] args) {
        return args.length == 0 || args[0] == null ? null : text(args, 0);
    }

    private static boolean strips(int c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    private static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && strips(s.codePointAt(i), chars)) {
            i += Character.charCount(s.codePointAt(i));
        }
        return s.substring(i);
    }

    private static String rstrip(String s, String chars) {
        int end = s.length();
        while (end > 0 && strips(s.codePointBefore(end), chars)) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(0, end);
    }

    private static List<String> split(String s, Object[] args) {
        String sep = args.length == 0 || args[0] == null ? null : text(args, 0);
        long max = args.length > 1 ? ((Number) args[1]).longValue() : -1;
        List<String> parts = new ArrayList<>();
        if (sep == null) {
            String rest = lstrip(s, null);
            while (!rest.isEmpty()) {
                int end = 0;
                while (end < rest.length() && !strips(rest.codePointAt(end), null)) {
                    end += Character.charCount(rest.codePointAt(end));
                }
                if (max >= 0 && parts.size() == max) {
                    parts.add(rstrip(rest, null));
                    break;
                }
                parts.add(rest.substring(0, end));
                rest = lstrip(rest.substring(end), null);
            }
            return parts;
        }
        if (sep.isEmpty()) {
            throw new ELException("empty separator");
        }
        int from = 0;
        for (int at = s.indexOf(sep); at >= 0 && (max < 0 || parts.size() < max); at = s.indexOf(sep, from)) {
            parts.add(s.substring(from, at));
            from = at + sep.length();
        }
        parts.add(s.substring(from));
        return parts;
    }

    /** Refuses arguments beyond those implemented: Python would use them, ignoring them would render wrong. */
    private static void checkArity(String method, Object[] args) {
        int max = switch (method) {
            case "upper", "lower", "title" -> 0;
            case "startswith", "endswith", "strip", "lstrip", "rstrip" -> 1;
            case "split" -> 2;
            case "replace" -> 3;
            default -> Integer.MAX_VALUE;
        };
        if (args.length > max) {
            throw new ELException("str." + method + "() takes at most " + max + " arguments here (" + args.length
                    + " given)");
        }
    }

    /** Python's {@code replace(old, new[, count])}: at most {@code count} replacements, left to right. */
    private static String replace(String s, Object[] args) {
        String old = text(args, 0);
        String replacement = text(args, 1);
        long count = args.length > 2 ? ((Number) args[2]).longValue() : -1;
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (long n = 0; n < count; n++) {
            int at = old.isEmpty() ? (from <= s.length() ? from : -1) : s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            out.append(s, from, at).append(replacement);
            if (old.isEmpty()) {
                if (at < s.length()) {
                    out.append(s.charAt(at));
                }
                from = at + 1;
            } else {
                from = at + old.length();
            }
        }
        return from <= s.length() ? out.append(s.substring(from)).toString() : out.toString();
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder();
        boolean previousCased = false;
        for (int i = 0; i < s.length(); i += Character.charCount(s.codePointAt(i))) {
            int c = s.codePointAt(i);
            out.appendCodePoint(previousCased ? Character.toLowerCase(c) : Character.toTitleCase(c));
            previousCased = Character.isLetter(c);
        }
        return out.toString();
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        // Jinjava hands a bracket index over as its text: s[0] arrives as "0"
        if (!(base instanceof String s) || property == null || !property.toString().matches("-?[0-9]{1,9}")) {
            return null;
        }
        int[] codePoints = s.codePoints().toArray();  // Python indexes characters, not UTF-16 units
        long index = Long.parseLong(property.toString());
        long i = index < 0 ? index + codePoints.length : index;
        if (i < 0 || i >= codePoints.length) {
            throw new ELException("string index out of range: " + index);
        }
        context.setPropertyResolved(true);
        return new String(codePoints, (int) i, 1);
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
