package io.loraserve.constraint;

import jakarta.json.JsonArray;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A JSON schema to a {@link Grammar} of the JSON texts it accepts, written as Python's
 * {@code json.dumps} writes them: separators {@code ", "} and {@code ": "}, no other whitespace,
 * object properties in the schema's order (required ones always, optional ones may be left out;
 * no properties beyond those listed, so every output is valid whether or not
 * {@code additionalProperties} is false).
 *
 * <p>Keywords: {@code type} (one or a list), {@code properties}, {@code required},
 * {@code additionalProperties}, {@code items}, {@code minItems}, {@code maxItems}, {@code enum},
 * {@code const}, {@code pattern}, {@code format} (date, date-time, time, uuid, email),
 * {@code minLength}, {@code maxLength}, {@code minimum}, {@code maximum},
 * {@code exclusiveMinimum}, {@code exclusiveMaximum} (see {@link NumberRanges}), {@code anyOf},
 * {@code oneOf} (as anyOf: the schema's branches should not overlap), {@code $ref} to local
 * pointers ({@code #}, {@code #/$defs/…}, {@code #/definitions/…}; recursion allowed), and
 * annotations ({@code title}, {@code description}, …) ignored. Any other keyword is refused with
 * a {@link ConstraintException} naming it and where it is. Unbounded numbers are limited to
 * 16 integer and 15 fraction digits.
 */
final class JsonSchemaCompiler {
    private static final Set<String> KEYWORDS = Set.of("type", "properties", "required", "additionalProperties",
            "items", "minItems", "maxItems", "enum", "const", "pattern", "format", "minLength", "maxLength",
            "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "$ref", "$defs",
            "definitions");
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "$comment",
            "default", "examples", "deprecated", "readOnly", "writeOnly", "strict");
    private static final int MAX_BOUND = 1000;
    /** Characters a JSON string holds unescaped. */
    static final CharClass STRING_CHARS = new CharClass().add(0x20, CharClass.MAX).minus('"', '"').minus('\\', '\\');

    private final JsonValue root;
    private final Grammar grammar = new Grammar("root");
    private final Map<String, String> refRules = new HashMap<>();
    private int nextRule;

    private JsonSchemaCompiler(JsonValue root) {
        this.root = root;
    }

    /** The grammar of documents valid under {@code schema}. */
    static Grammar compile(JsonValue schema) {
        JsonSchemaCompiler c = new JsonSchemaCompiler(schema);
        c.grammar.rule("root", Expr.EMPTY);
        c.grammar.rule("root", c.schema(schema, "#"));
        c.refRules.put("#", "root");
        return c.grammar;
    }

    /** Any JSON object ({@code response_format: json_object}). */
    static Grammar anyObject() {
        Grammar g = new Grammar("root");
        addJsonValueRules(g);
        return g.rule("root", new Expr.Ref("json_object"));
    }

    private static void addJsonValueRules(Grammar g) {
        if (g.rules.containsKey("json_value")) {
            return;
        }
        Expr value = new Expr.Ref("json_value");
        Expr member = Expr.seq(new Expr.Ref("json_string"), Expr.literal(": "), value);
        g.rule("json_value", Expr.alt(new Expr.Ref("json_object"), new Expr.Ref("json_array"),
                new Expr.Ref("json_string"), number(), Expr.literal("true"), Expr.literal("false"), Expr.literal("null")));
        g.rule("json_object", Expr.seq(Expr.literal("{"), Expr.optional(Expr.seq(member,
                Expr.star(Expr.seq(Expr.literal(", "), member)))), Expr.literal("}")));
        g.rule("json_array", Expr.seq(Expr.literal("["), Expr.optional(Expr.seq(value,
                Expr.star(Expr.seq(Expr.literal(", "), value)))), Expr.literal("]")));
        g.rule("json_string", string(0, -1));
    }

    /** A JSON string of {@code min..max} characters (max -1: unbounded); escapes allowed except \\u. */
    static Expr string(int min, int max) {
        Expr ch = Expr.alt(STRING_CHARS.toExpr(), Expr.seq(Expr.literal("\\"),
                new CharClass().add('"', '"').add('\\', '\\').add('/', '/').add('b', 'b').add('f', 'f')
                        .add('n', 'n').add('r', 'r').add('t', 't').toExpr()));
        return Expr.seq(Expr.literal("\""), new Expr.Repeat(ch, min, max), Expr.literal("\""));
    }

    static Expr number() {
        Expr digits = new Expr.Repeat(Expr.ascii('0', '9'), 0, 15);
        return Expr.seq(Expr.optional(Expr.literal("-")),
                Expr.alt(Expr.literal("0"), Expr.seq(Expr.ascii('1', '9'), digits)),
                Expr.optional(NumberRanges.FRACTION),
                Expr.optional(Expr.seq(Expr.ascii('e', 'e'), Expr.optional(Expr.alt(Expr.literal("+"), Expr.literal("-"))),
                        new Expr.Repeat(Expr.ascii('0', '9'), 1, 3))));
    }

    private String newRule(Expr e) {
        String name = "s" + nextRule++;
        grammar.rule(name, e);
        return name;
    }

    private Expr schema(JsonValue v, String at) {
        if (v == JsonValue.TRUE) {
            addJsonValueRules(grammar);
            return new Expr.Ref("json_value");
        }
        if (v == JsonValue.FALSE) {
            return Expr.NOTHING;
        }
        if (!(v instanceof JsonObject s)) {
            throw new ConstraintException("invalid JSON schema at " + at + ": a schema must be an object or a boolean");
        }
        Set<String> unknown = new TreeSet<>();
        for (String k : s.keySet()) {
            if (!KEYWORDS.contains(k) && !ANNOTATIONS.contains(k)) {
                unknown.add(k);
            }
        }
        if (!unknown.isEmpty()) {
            throw new ConstraintException("unsupported JSON schema keyword" + (unknown.size() > 1 ? "s " : " ")
                    + String.join(", ", unknown) + " at " + at);
        }
        if (s.containsKey("$ref")) {
            return ref(str(s, "$ref", at), at);
        }
        if (s.containsKey("const")) {
            return Expr.literal(JsonText.write(s.get("const")));
        }
        if (s.containsKey("enum")) {
            JsonArray values = array(s, "enum", at);
            List<Expr> options = new ArrayList<>();
            values.forEach(e -> options.add(Expr.literal(JsonText.write(e))));
            return Expr.alt(options);
        }
        for (String combinator : List.of("anyOf", "oneOf")) {
            if (s.containsKey(combinator)) {
                JsonArray branches = array(s, combinator, at);
                List<Expr> options = new ArrayList<>();
                for (int i = 0; i < branches.size(); i++) {
                    options.add(schema(branches.get(i), at + "/" + combinator + "/" + i));
                }
                return Expr.alt(options);
            }
        }
        List<String> types = types(s, at);
        List<Expr> options = new ArrayList<>();
        for (String t : types) {
            options.add(switch (t) {
                case "object" -> object(s, at);
                case "array" -> array(s, at);
                case "string" -> stringSchema(s, at);
                case "integer" -> NumberRanges.integer(longBound(s, "minimum", "exclusiveMinimum", true, at),
                        longBound(s, "maximum", "exclusiveMaximum", false, at));
                case "number" -> numberSchema(s, at);
                case "boolean" -> Expr.alt(Expr.literal("true"), Expr.literal("false"));
                case "null" -> Expr.literal("null");
                default -> throw new ConstraintException("invalid JSON schema at " + at + ": unknown type '" + t + "'");
            });
        }
        return Expr.alt(options);
    }

    private List<String> types(JsonObject s, String at) {
        JsonValue t = s.get("type");
        if (t == null) {
            if (s.containsKey("properties") || s.containsKey("additionalProperties")) {
                return List.of("object");
            }
            if (s.containsKey("items") || s.containsKey("minItems") || s.containsKey("maxItems")) {
                return List.of("array");
            }
            if (s.containsKey("pattern") || s.containsKey("format") || s.containsKey("minLength") || s.containsKey("maxLength")) {
                return List.of("string");
            }
            return List.of("object", "array", "string", "number", "boolean", "null");
        }
        if (t instanceof JsonString one) {
            return List.of(one.getString());
        }
        if (t instanceof JsonArray list && !list.isEmpty()) {
            Set<String> out = new LinkedHashSet<>();
            for (JsonValue e : list) {
                if (!(e instanceof JsonString name)) {
                    throw new ConstraintException("invalid JSON schema at " + at + "/type: entries must be strings");
                }
                out.add(name.getString());
            }
            if (out.contains("integer") && out.contains("number")) {
                out.remove("integer");
            }
            return List.copyOf(out);
        }
        throw new ConstraintException("invalid JSON schema at " + at + "/type: must be a string or a non-empty list");
    }

    private Expr ref(String pointer, String at) {
        String rule = refRules.get(pointer);
        if (rule != null) {
            return new Expr.Ref(rule);
        }
        if (!pointer.startsWith("#")) {
            throw new ConstraintException("unsupported $ref '" + pointer + "' at " + at + ": only local references (#/…)");
        }
        JsonValue target = root;
        for (String part : pointer.substring(1).split("/")) {
            if (part.isEmpty()) {
                continue;
            }
            String key = part.replace("~1", "/").replace("~0", "~");
            if (target instanceof JsonObject o && o.containsKey(key)) {
                target = o.get(key);
            } else if (target instanceof JsonArray a && key.matches("[0-9]+") && Integer.parseInt(key) < a.size()) {
                target = a.get(Integer.parseInt(key));
            } else {
                throw new ConstraintException("invalid JSON schema at " + at + ": $ref '" + pointer + "' points nowhere");
            }
        }
        String name = "r" + nextRule++;
        refRules.put(pointer, name);
        grammar.rule(name, Expr.EMPTY);  // reserved, so a recursive reference finds it
        grammar.rule(name, schema(target, pointer));
        return new Expr.Ref(name);
    }

    private Expr object(JsonObject s, String at) {
        JsonObject props = s.containsKey("properties") ? object(s, "properties", at) : JsonValue.EMPTY_JSON_OBJECT;
        Set<String> required = new LinkedHashSet<>();
        if (s.containsKey("required")) {
            for (JsonValue r : array(s, "required", at)) {
                if (!(r instanceof JsonString name)) {
                    throw new ConstraintException("invalid JSON schema at " + at + "/required: entries must be strings");
                }
                required.add(name.getString());
            }
        }
        for (String r : required) {
            if (!props.containsKey(r)) {
                throw new ConstraintException("unsupported JSON schema at " + at + ": required property '" + r
                        + "' is not among 'properties'");
            }
        }
        JsonValue additional = s.getOrDefault("additionalProperties", JsonValue.TRUE);
        if (props.isEmpty()) {
            if (additional == JsonValue.FALSE) {
                return Expr.literal("{}");
            }
            Expr value = schema(additional, at + "/additionalProperties");
            addJsonValueRules(grammar);
            Expr member = Expr.seq(new Expr.Ref("json_string"), Expr.literal(": "), value);
            return new Expr.Ref(newRule(Expr.seq(Expr.literal("{"), Expr.optional(Expr.seq(member,
                    Expr.star(Expr.seq(Expr.literal(", "), member)))), Expr.literal("}"))));
        }
        if (additional instanceof JsonObject) {
            schema(additional, at + "/additionalProperties");  // checked, though only listed properties are written
        }
        List<String> names = new ArrayList<>(props.keySet());
        List<Expr> members = new ArrayList<>();
        for (String name : names) {
            Expr value = schema(props.get(name), at + "/properties/" + name);
            members.add(Expr.seq(Expr.literal(JsonText.write(jakarta.json.Json.createValue(name)) + ": "), value));
        }
        // tail(i, c): properties i.. given whether one was already written (c), each a rule so options do not multiply
        String[][] tail = new String[names.size() + 1][2];
        tail[names.size()][0] = newRule(Expr.EMPTY);
        tail[names.size()][1] = tail[names.size()][0];
        for (int i = names.size() - 1; i >= 0; i--) {
            for (int c = 0; c < 2; c++) {
                Expr present = Expr.seq(c == 1 ? Expr.literal(", ") : Expr.EMPTY, members.get(i),
                        new Expr.Ref(tail[i + 1][1]));
                Expr e = required.contains(names.get(i)) ? present : Expr.alt(present, new Expr.Ref(tail[i + 1][c]));
                tail[i][c] = newRule(e);
            }
        }
        return Expr.seq(Expr.literal("{"), new Expr.Ref(tail[0][0]), Expr.literal("}"));
    }

    private Expr array(JsonObject s, String at) {
        Expr item;
        if (s.containsKey("items")) {
            item = new Expr.Ref(newRule(schema(s.get("items"), at + "/items")));
        } else {
            addJsonValueRules(grammar);
            item = new Expr.Ref("json_value");
        }
        int min = bound(s, "minItems", 0, at);
        int max = s.containsKey("maxItems") ? bound(s, "maxItems", 0, at) : -1;
        if (max >= 0 && max < min) {
            throw new ConstraintException("the JSON schema at " + at + " matches nothing: maxItems < minItems");
        }
        if (max == 0) {
            return Expr.literal("[]");
        }
        Expr rest = new Expr.Repeat(Expr.seq(Expr.literal(", "), item), Math.max(0, min - 1), max < 0 ? -1 : max - 1);
        Expr items = Expr.seq(item, rest);
        return Expr.seq(Expr.literal("["), min == 0 ? Expr.optional(items) : items, Expr.literal("]"));
    }

    private Expr stringSchema(JsonObject s, String at) {
        int min = bound(s, "minLength", 0, at);
        int max = s.containsKey("maxLength") ? bound(s, "maxLength", 0, at) : -1;
        if (max >= 0 && max < min) {
            throw new ConstraintException("the JSON schema at " + at + " matches nothing: maxLength < minLength");
        }
        boolean lengths = s.containsKey("minLength") || s.containsKey("maxLength");
        if (s.containsKey("pattern") || s.containsKey("format")) {
            if (lengths) {
                throw new ConstraintException("unsupported JSON schema at " + at + ": minLength/maxLength together"
                        + " with pattern or format");
            }
            String regex = s.containsKey("pattern") ? str(s, "pattern", at) : format(str(s, "format", at), at);
            return Expr.seq(Expr.literal("\""), RegexParser.parse(regex, STRING_CHARS), Expr.literal("\""));
        }
        return string(min, max);
    }

    private static String format(String f, String at) {
        String date = "[1-9][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
                + "|02-(0[1-9]|1[0-9]|2[0-8]))";
        String time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
        return switch (f) {
            case "date" -> date;
            case "time" -> time;
            case "date-time" -> date + "T" + time;
            case "uuid" -> "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
            case "email" -> "[a-zA-Z0-9_+-]{1,32}(\\.[a-zA-Z0-9_+-]{1,32}){0,3}@[a-zA-Z0-9]{1,32}(\\.[a-zA-Z0-9]{1,32}){0,3}"
                    + "\\.[a-zA-Z]{2,6}";
            default -> throw new ConstraintException("unsupported JSON schema format '" + f + "' at " + at
                    + " (supported: date, time, date-time, uuid, email)");
        };
    }

    private Expr numberSchema(JsonObject s, String at) {
        Double min = num(s, "minimum", at);
        Double max = num(s, "maximum", at);
        Double exMin = num(s, "exclusiveMinimum", at);
        Double exMax = num(s, "exclusiveMaximum", at);
        if (min == null && max == null && exMin == null && exMax == null) {
            return number();
        }
        boolean minEx = exMin != null && (min == null || exMin >= min);
        boolean maxEx = exMax != null && (max == null || exMax <= max);
        Double lo = minEx ? exMin : min;
        Double hi = maxEx ? exMax : max;
        if (lo != null && hi != null && (lo > hi || (lo.equals(hi) && (minEx || maxEx)))) {
            throw new ConstraintException("the JSON schema at " + at + " matches nothing: its bounds exclude every number");
        }
        return NumberRanges.number(lo, minEx, hi, maxEx);
    }

    /** An integer bound: minimum / exclusiveMinimum (lower) or maximum / exclusiveMaximum (upper), tightest wins. */
    private Long longBound(JsonObject s, String inclusive, String exclusive, boolean lower, String at) {
        Double in = num(s, inclusive, at);
        Double ex = num(s, exclusive, at);
        Long a = in == null ? null : lower ? (long) Math.ceil(in) : (long) Math.floor(in);
        Long b = ex == null ? null : lower ? (long) Math.floor(ex) + 1 : (long) Math.ceil(ex) - 1;
        Long bound = a == null ? b : b == null ? a : Long.valueOf(lower ? Math.max(a, b) : Math.min(a, b));
        if (lower && bound != null) {
            Long hi = longUpper(s, at);
            if (hi != null && bound > hi) {
                throw new ConstraintException("the JSON schema at " + at + " matches nothing: minimum > maximum");
            }
        }
        return bound;
    }

    private Long longUpper(JsonObject s, String at) {
        return longBound(s, "maximum", "exclusiveMaximum", false, at);
    }

    private static Double num(JsonObject s, String key, String at) {
        JsonValue v = s.get(key);
        if (v == null) {
            return null;
        }
        if (!(v instanceof JsonNumber n)) {
            throw new ConstraintException("invalid JSON schema at " + at + "/" + key + ": must be a number");
        }
        return n.doubleValue();
    }

    private static int bound(JsonObject s, String key, int fallback, String at) {
        JsonValue v = s.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof JsonNumber n) || !n.isIntegral() || n.longValue() < 0) {
            throw new ConstraintException("invalid JSON schema at " + at + "/" + key + ": must be a non-negative integer");
        }
        if (n.longValue() > MAX_BOUND) {
            throw new ConstraintException("unsupported JSON schema at " + at + "/" + key + ": at most " + MAX_BOUND);
        }
        return n.intValue();
    }

    private static String str(JsonObject s, String key, String at) {
        if (s.get(key) instanceof JsonString v) {
            return v.getString();
        }
        throw new ConstraintException("invalid JSON schema at " + at + "/" + key + ": must be a string");
    }

    private static JsonArray array(JsonObject s, String key, String at) {
        if (s.get(key) instanceof JsonArray a) {
            return a;
        }
        throw new ConstraintException("invalid JSON schema at " + at + "/" + key + ": must be a list");
    }

    private static JsonObject object(JsonObject s, String key, String at) {
        if (s.get(key) instanceof JsonObject o) {
            return o;
        }
        throw new ConstraintException("invalid JSON schema at " + at + "/" + key + ": must be an object");
    }
}
