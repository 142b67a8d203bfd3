package io.loraserve.constraint;

import jakarta.json.Json;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;

/**
 * What a request asks its output to match, before compiling: a kind and its source text (the
 * schema as JSON, the regex, the choices as a JSON list, the GBNF text). Equal specs share one
 * compiled {@link Constraint} ({@link ConstraintCache}).
 */
public record ConstraintSpec(Kind kind, String source) {
    public enum Kind { JSON_SCHEMA, JSON_OBJECT, REGEX, CHOICE, GRAMMAR, FRAMED_JSON }

    public static ConstraintSpec jsonSchema(JsonValue schema) {
        return new ConstraintSpec(Kind.JSON_SCHEMA, schema.toString());
    }

    public static ConstraintSpec jsonObject() {
        return new ConstraintSpec(Kind.JSON_OBJECT, "");
    }

    public static ConstraintSpec regex(String regex) {
        return new ConstraintSpec(Kind.REGEX, regex);
    }

    public static ConstraintSpec choice(List<String> choices) {
        JsonArrayBuilder b = Json.createArrayBuilder();
        choices.forEach(b::add);
        return new ConstraintSpec(Kind.CHOICE, b.build().toString());
    }

    public static ConstraintSpec grammar(String gbnf) {
        return new ConstraintSpec(Kind.GRAMMAR, gbnf);
    }

    /**
     * {@code open}, a document valid under {@code schema}, {@code close}; repeated 1 to {@code max}
     * times (-1 = unbounded) with {@code separator} between: the shape of tool calls in a model's
     * own format, e.g. {@code <tool_call>{…}</tool_call>}.
     */
    public static ConstraintSpec framedJson(String open, JsonValue schema, String close, String separator, int max) {
        return new ConstraintSpec(Kind.FRAMED_JSON, Json.createObjectBuilder().add("open", open).add("schema", schema)
                .add("close", close).add("separator", separator).add("max", max).build().toString());
    }

    /** Throws {@link ConstraintException} saying what is wrong when this spec cannot be compiled. */
    public void check() {
        toGrammar();
    }

    /** The grammar this spec stands for; throws {@link ConstraintException} saying what is wrong. */
    Grammar toGrammar() {
        return switch (kind) {
            case JSON_SCHEMA -> JsonSchemaCompiler.compile(parse(source));
            case JSON_OBJECT -> JsonSchemaCompiler.anyObject();
            case REGEX -> Grammar.of(RegexParser.parse(source, null));
            case CHOICE -> {
                List<Expr> options = new ArrayList<>();
                parse(source).asJsonArray().forEach(v -> options.add(Expr.literal(((jakarta.json.JsonString) v).getString())));
                if (options.isEmpty()) {
                    throw new ConstraintException("the list of choices is empty");
                }
                yield Grammar.of(Expr.alt(options));
            }
            case GRAMMAR -> Gbnf.parse(source);
            case FRAMED_JSON -> framed(parse(source).asJsonObject());
        };
    }

    private static Grammar framed(jakarta.json.JsonObject f) {
        Grammar inner = JsonSchemaCompiler.compile(f.get("schema"));
        Grammar g = new Grammar("framed");
        g.rules.putAll(inner.rules);
        Expr one = Expr.seq(Expr.literal(f.getString("open")), new Expr.Ref(inner.start), Expr.literal(f.getString("close")));
        int max = f.getInt("max");
        if (max == 1) {
            return g.rule("framed", one);
        }
        Expr more = new Expr.Repeat(Expr.seq(Expr.literal(f.getString("separator")), one), 0, max < 0 ? -1 : max - 1);
        return g.rule("framed", Expr.seq(one, more));
    }

    private static JsonValue parse(String json) {
        try (JsonReader r = Json.createReader(new StringReader(json))) {
            return r.readValue();
        }
    }

    /** Short, for logs and messages. */
    String describe() {
        String s = kind.name().toLowerCase(java.util.Locale.ROOT) + (source.isEmpty() ? "" : " " + source);
        return s.length() <= 80 ? s : s.substring(0, 80) + "…";
    }
}
