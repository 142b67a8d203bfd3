package io.loraserve.server;

import jakarta.json.JsonArray;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of request fields. Every wrong type or out-of-range value is a 400 that names the
 * field and what it accepts; an absent field or JSON null gives the default.
 */
final class Params {
    private final JsonObject body;

    Params(JsonObject body) {
        this.body = body;
    }

    boolean has(String key) {
        JsonValue v = body.get(key);
        return v != null && v != JsonValue.NULL;
    }

    JsonValue raw(String key) {
        return body.get(key);
    }

    String string(String key, String fallback) {
        if (!has(key)) {
            return fallback;
        }
        if (body.get(key) instanceof JsonString s) {
            return s.getString();
        }
        throw ApiException.badRequest(key, "'" + key + "' must be a string");
    }

    boolean bool(String key, boolean fallback) {
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
        throw ApiException.badRequest(key, "'" + key + "' must be true or false");
    }

    /** An integer in [min, max]. */
    int integer(String key, int fallback, long min, long max) {
        if (!has(key)) {
            return fallback;
        }
        if (!(body.get(key) instanceof JsonNumber n) || !n.isIntegral()) {
            throw ApiException.badRequest(key, "'" + key + "' must be an integer");
        }
        if (n.bigDecimalValue().compareTo(java.math.BigDecimal.valueOf(min)) < 0
                || n.bigDecimalValue().compareTo(java.math.BigDecimal.valueOf(max)) > 0) {
            throw ApiException.badRequest(key, "'" + key + "' must be between " + min + " and " + max
                    + ", got " + n);
        }
        return n.intValue();
    }

    /** A finite number in [min, max] (bounds inclusive unless {@code minExclusive}). */
    double number(String key, double fallback, double min, boolean minExclusive, double max) {
        if (!has(key)) {
            return fallback;
        }
        if (!(body.get(key) instanceof JsonNumber n)) {
            throw ApiException.badRequest(key, "'" + key + "' must be a number");
        }
        double d = n.doubleValue();
        if (!Double.isFinite(d) || d > max || d < min || (minExclusive && d == min)) {
            throw ApiException.badRequest(key, "'" + key + "' must be " + (minExclusive ? "> " : ">= ") + min
                    + " and <= " + max + ", got " + n);
        }
        return d;
    }

    Long longValue(String key) {
        if (!has(key)) {
            return null;
        }
        if (!(body.get(key) instanceof JsonNumber n) || !n.isIntegral()
                || n.bigIntegerValue().bitLength() > 63) {
            throw ApiException.badRequest(key, "'" + key + "' must be a 64-bit integer");
        }
        return n.longValue();
    }

    /** A string or a list of strings, at most {@code max}. */
    List<String> strings(String key, int max) {
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
                    throw ApiException.badRequest(key, "'" + key + "' must be a string or a list of strings");
                }
                out.add(s.getString());
            }
        } else {
            throw ApiException.badRequest(key, "'" + key + "' must be a string or a list of strings");
        }
        if (out.size() > max) {
            throw ApiException.badRequest(key, "'" + key + "' takes at most " + max + " entries, got " + out.size());
        }
        if (out.stream().anyMatch(String::isEmpty)) {
            throw ApiException.badRequest(key, "'" + key + "' entries must not be empty");
        }
        return out;
    }

    /** A list of integers in [0, bound). */
    static int[] tokenIds(String key, JsonArray a, int bound) {
        int[] ids = new int[a.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!(a.get(i) instanceof JsonNumber n) || !n.isIntegral()) {
                throw ApiException.badRequest(key, "'" + key + "' token ids must be integers");
            }
            if (n.bigDecimalValue().signum() < 0 || n.bigDecimalValue().compareTo(java.math.BigDecimal.valueOf(bound)) >= 0) {
                throw ApiException.badRequest(key, "token id " + n + " in '" + key + "' is outside the vocabulary [0, "
                        + bound + ")");
            }
            ids[i] = n.intValue();
        }
        return ids;
    }
}
