package io.loraserve.server.http;

import jakarta.json.JsonArray;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of request fields. Every wrong type or out-of-range value is a 400 that names the
 * field and what it accepts; an absent field or JSON null gives the default.
 *
 * <p>Numbers are compared as {@link BigDecimal}s before any conversion, so {@code 1e999999999}
 * or a 1,000-digit integer is refused by its range without being expanded; an integer field
 * accepts any integral value ({@code 16}, {@code 16.0}, {@code 1.6e1}) as pydantic does for
 * OpenAI's and vLLM's servers.
 */
public final class Params {
    /** How much of a bad value an error message quotes. */
    private static final int SHOWN = 40;

    private final JsonObject body;
    private final String prefix;

    public Params(JsonObject body) {
        this(body, "");
    }

    /** Fields of a nested object, named {@code prefix + key} in errors (e.g. {@code stream_options.include_usage}). */
    public Params(JsonObject body, String prefix) {
        this.body = body;
        this.prefix = prefix;
    }

    /** What error messages put before a key ("" at the top level). */
    public String prefix() {
        return prefix;
    }

    public boolean has(String key) {
        JsonValue v = body.get(key);
        return v != null && v != JsonValue.NULL;
    }

    public JsonValue raw(String key) {
        return body.get(key);
    }

    public String string(String key, String fallback) {
        if (!has(key)) {
            return fallback;
        }
        if (body.get(key) instanceof JsonString s) {
            return s.getString();
        }
        throw bad(key, "must be a string");
    }

    public boolean bool(String key, boolean fallback) {
        if (!has(key)) {
            return fallback;
        }
        JsonValue v = body.get(key);
        if (v == JsonValue.TRUE) {
            return true;
        }
        if (v == JsonValue.FALSE) {
            return false;
        }
        throw bad(key, "must be true or false, got " + shown(v));
    }

    public JsonObject object(String key) {
        if (body.get(key) instanceof JsonObject o) {
            return o;
        }
        throw bad(key, "must be an object");
    }

    /** An integer in [min, max], or {@code fallback} when absent. */
    public int integer(String key, int fallback, long min, long max) {
        if (!has(key)) {
            return fallback;
        }
        return Math.toIntExact(inRange(key, min, max).longValue());
    }

    /** A 64-bit integer, or null when absent. */
    public Long longValue(String key) {
        if (!has(key)) {
            return null;
        }
        return inRange(key, Long.MIN_VALUE, Long.MAX_VALUE).longValue();
    }

    /** A finite number in [min, max] (bounds inclusive unless {@code minExclusive}). */
    public double number(String key, double fallback, double min, boolean minExclusive, double max) {
        if (!has(key)) {
            return fallback;
        }
        if (!(body.get(key) instanceof JsonNumber n)) {
            throw bad(key, "must be a number, got " + shown(body.get(key)));
        }
        double d = n.doubleValue();
        if (!Double.isFinite(d) || d > max || d < min || (minExclusive && d == min)) {
            throw bad(key, "must be " + (minExclusive ? "> " : ">= ") + plain(min)
                    + (max == Double.MAX_VALUE ? "" : " and <= " + plain(max)) + ", got " + shown(n));
        }
        return d;
    }

    /** A string or a list of strings, at most {@code max}, none empty. */
    public List<String> strings(String key, int max) {
        if (!has(key)) {
            return List.of();
        }
        JsonValue v = body.get(key);
        List<String> out = new ArrayList<>();
        if (v instanceof JsonString s) {
            out.add(s.getString());
        } else if (v instanceof JsonArray a) {
            for (JsonValue e : a) {
                if (!(e instanceof JsonString s)) {
                    throw bad(key, "must be a string or a list of strings");
                }
                out.add(s.getString());
            }
        } else {
            throw bad(key, "must be a string or a list of strings");
        }
        if (out.size() > max) {
            throw bad(key, "takes at most " + max + " entries, got " + out.size());
        }
        if (out.stream().anyMatch(String::isEmpty)) {
            throw bad(key, "entries must not be empty");
        }
        return out;
    }

    /** Refuses a field this server does not implement when it is given a non-empty value. */
    public void unsupported(String key, String why) {
        JsonValue v = body.get(key);
        boolean empty = v == null || v == JsonValue.NULL || v == JsonValue.FALSE
                || (v instanceof JsonArray a && a.isEmpty()) || (v instanceof JsonObject o && o.isEmpty());
        if (!empty) {
            throw bad(key, "is not supported: " + why);
        }
    }

    public ApiException bad(String key, String what) {
        return ApiException.badRequest(prefix + key, "'" + prefix + key + "' " + what);
    }

    /** A list of integers in [0, bound). */
    public static int[] tokenIds(String key, JsonArray a, int bound) {
        int[] ids = new int[a.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!(a.get(i) instanceof JsonNumber n) || !integral(n)) {
                throw ApiException.badRequest(key, "'" + key + "' token ids must be integers, got " + shown(a.get(i)));
            }
            if (n.bigDecimalValue().signum() < 0 || n.bigDecimalValue().compareTo(BigDecimal.valueOf(bound)) >= 0) {
                throw ApiException.badRequest(key, "token id " + shown(n) + " in '" + key
                        + "' is outside the vocabulary [0, " + bound + ")");
            }
            ids[i] = n.intValue();
        }
        return ids;
    }

    /** The value of {@code key} as an integer in [min, max]; 400 otherwise. */
    private BigDecimal inRange(String key, long min, long max) {
        JsonValue v = body.get(key);
        if (!(v instanceof JsonNumber n) || !integral(n)) {
            throw bad(key, "must be an integer, got " + shown(v));
        }
        BigDecimal d = n.bigDecimalValue();
        if (d.compareTo(BigDecimal.valueOf(min)) < 0 || d.compareTo(BigDecimal.valueOf(max)) > 0) {
            throw bad(key, "must be between " + min + " and " + max + ", got " + shown(n));
        }
        return d;
    }

    private static boolean integral(JsonNumber n) {
        BigDecimal d = n.bigDecimalValue();
        return d.signum() == 0 || d.stripTrailingZeros().scale() <= 0;
    }

    /** A value as JSON, cut short so a huge value cannot bloat the error message. */
    public static String shown(JsonValue v) {
        String s = v.toString();
        return s.length() <= SHOWN ? s : s.substring(0, SHOWN) + "…";
    }

    private static String plain(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
