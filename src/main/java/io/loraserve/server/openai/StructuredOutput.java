package io.loraserve.server.openai;

import io.loraserve.constraint.Constraint;
import io.loraserve.constraint.ConstraintCache;
import io.loraserve.constraint.ConstraintException;
import io.loraserve.constraint.ConstraintSpec;
import io.loraserve.constraint.Vocabulary;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Params;
import io.loraserve.tokenizer.Tokenizer;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The structured-output fields of completions and chat, as OpenAI and vLLM take them:
 * {@code response_format} ({@code text}, {@code json_object}, {@code json_schema} with
 * {@code json_schema.schema}), vLLM's {@code guided_json}, {@code guided_regex},
 * {@code guided_choice}, {@code guided_grammar}, and its newer {@code structured_outputs} object
 * ({@code json}, {@code regex}, {@code choice}, {@code grammar}, {@code json_object}). At most one
 * may be given. A constraint that cannot be compiled (invalid schema, unsupported keyword,
 * grammar syntax error, a regex that matches nothing) is a 400 naming the field and the reason.
 */
public final class StructuredOutput {
    private StructuredOutput() {
    }

    /** The field that set the constraint and what it asks for. */
    record Field(String param, ConstraintSpec spec) {
    }

    /** The constraint the body asks for, or null. */
    static Field parse(Params p) {
        List<Field> found = new ArrayList<>();
        if (p.has("response_format")) {
            Params rf = new Params(p.object("response_format"), "response_format.");
            String type = rf.string("type", "text");
            switch (type) {
                case "text" -> {
                }
                case "json_object" -> found.add(new Field("response_format", ConstraintSpec.jsonObject()));
                case "json_schema" -> {
                    Params js = new Params(rf.object("json_schema"), "response_format.json_schema.");
                    js.string("name", null);
                    js.bool("strict", false);
                    if (!js.has("schema")) {
                        throw js.bad("schema", "is required");
                    }
                    found.add(new Field("response_format", ConstraintSpec.jsonSchema(js.raw("schema"))));
                }
                default -> throw rf.bad("type", "must be one of text, json_object, json_schema; got '" + type + "'");
            }
        }
        addGuided(p, "guided_", found);
        if (p.has("structured_outputs")) {
            Params so = new Params(p.object("structured_outputs"), "structured_outputs.");
            addGuided(so, "", found);
            if (so.bool("json_object", false)) {
                found.add(new Field("structured_outputs.json_object", ConstraintSpec.jsonObject()));
            }
        }
        if (found.size() > 1) {
            throw ApiException.badRequest(found.get(1).param(), "only one structured-output constraint may be given,"
                    + " got " + String.join(" and ", found.stream().map(Field::param).toList()));
        }
        return found.isEmpty() ? null : found.get(0);
    }

    /** {@code json}, {@code regex}, {@code choice}, {@code grammar}, each with {@code prefix}. */
    private static void addGuided(Params p, String prefix, List<Field> found) {
        String name = p.prefix() + prefix;
        if (p.has(prefix + "json")) {
            JsonValue v = p.raw(prefix + "json");
            if (v instanceof JsonString s) {  // vLLM also takes the schema as a JSON string
                try (var r = jakarta.json.Json.createReader(new java.io.StringReader(s.getString()))) {
                    v = r.readValue();
                } catch (RuntimeException e) {
                    throw p.bad(prefix + "json", "is a string that is not a JSON schema: " + e.getMessage());
                }
            }
            found.add(new Field(name + "json", ConstraintSpec.jsonSchema(v)));
        }
        if (p.has(prefix + "regex")) {
            found.add(new Field(name + "regex", ConstraintSpec.regex(p.string(prefix + "regex", null))));
        }
        if (p.has(prefix + "choice")) {
            if (!(p.raw(prefix + "choice") instanceof JsonArray a) || a.isEmpty()
                    || !a.stream().allMatch(e -> e instanceof JsonString s && !s.getString().isEmpty())) {
                throw p.bad(prefix + "choice", "must be a non-empty list of non-empty strings");
            }
            found.add(new Field(name + "choice", ConstraintSpec.choice(
                    a.stream().map(e -> ((JsonString) e).getString()).toList())));
        }
        if (p.has(prefix + "grammar")) {
            found.add(new Field(name + "grammar", ConstraintSpec.grammar(p.string(prefix + "grammar", null))));
        }
    }

    /** Compiles {@code f} (null: no constraint); a 400 naming its field says why it cannot be. */
    static Constraint compile(ConstraintCache cache, Field f) {
        if (f == null) {
            return null;
        }
        try {
            return cache.get(f.spec());
        } catch (ConstraintException e) {
            throw ApiException.badRequest(f.param(), "'" + f.param() + "': " + e.getMessage());
        }
    }

    /**
     * The vocabulary constraints are masked over: each token's bytes; special tokens (those that
     * decode to nothing, e.g. BOS) never allowed; {@code eos} allowed where an output may end.
     */
    public static Vocabulary vocabulary(Tokenizer tokenizer, Collection<Integer> eos) {
        byte[][] tokens = new byte[tokenizer.vocabSize()][];
        for (int id = 0; id < tokens.length; id++) {
            if (!eos.contains(id) && !tokenizer.decode(new int[] {id}).isEmpty()) {
                tokens[id] = tokenizer.tokenBytes(id);
            }
        }
        return new Vocabulary(tokens, eos.stream().mapToInt(Integer::intValue).toArray());
    }
}
