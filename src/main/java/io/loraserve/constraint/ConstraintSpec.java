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
    public enum Kind { JSON_SCHEMA, JSON_OBJECT, REGEX, CHOICE, GRAMMAR }

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
        };
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
