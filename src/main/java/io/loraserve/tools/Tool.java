package io.loraserve.tools;

import io.loraserve.constraint.ConstraintException;
import io.loraserve.constraint.ConstraintSpec;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One function a chat request offers the model, as OpenAI's {@code tools[]} entry
 * {@code {"type":"function","function":{"name","description","parameters"}}}. {@code parameters}
 * is a JSON schema the arguments must match (absent = an object with any members); it must compile
 * with the structured-output engine, so a tool call can be constrained to it. {@code $ref} is refused
 * in parameters: its pointers are relative to the parameters schema, which a tool-call constraint
 * nests inside the call object.
 *
 * @param source the {@code tools[]} entry as given, passed on to the chat template
 */
public record Tool(String name, String description, JsonObject parameters, JsonObject source) {
    static final JsonObject ANY_OBJECT = Json.createObjectBuilder().add("type", "object").build();

    /** The {@code tools} list of a request body (empty = no tools); throws {@link ToolException} naming what is wrong. */
    public static List<Tool> parseAll(JsonValue tools) {
        if (!(tools instanceof JsonArray list)) {
            throw new ToolException("tools", "'tools' must be a list of {\"type\":\"function\",\"function\":{…}}");
        }
        List<Tool> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < list.size(); i++) {
            Tool t = parse(list.get(i), "tools[" + i + "]");
            if (!names.add(t.name())) {
                throw new ToolException("tools[" + i + "].function.name", "'tools[" + i + "].function.name': the function"
                        + " name '" + t.name() + "' is given twice");
            }
            out.add(t);
        }
        return out;
    }

    private static Tool parse(JsonValue v, String at) {
        if (!(v instanceof JsonObject o)) {
            throw new ToolException(at, "'" + at + "' must be an object {\"type\":\"function\",\"function\":{…}}");
        }
        if (!(o.get("type") instanceof JsonString type) || !type.getString().equals("function")) {
            throw new ToolException(at + ".type", "'" + at + ".type' must be 'function'");
        }
        if (!(o.get("function") instanceof JsonObject f)) {
            throw new ToolException(at + ".function", "'" + at + ".function' must be an object with 'name'");
        }
        if (!(f.get("name") instanceof JsonString n) || !n.getString().matches("[a-zA-Z0-9_.-]{1,64}")) {
            throw new ToolException(at + ".function.name", "'" + at + ".function.name' must be 1 to 64 of"
                    + " a-z, A-Z, 0-9, '_', '.', '-'");
        }
        JsonValue d = f.get("description");
        if (d != null && d != JsonValue.NULL && !(d instanceof JsonString)) {
            throw new ToolException(at + ".function.description", "'" + at + ".function.description' must be a string");
        }
        JsonValue p = f.get("parameters");
        JsonObject params;
        if (p == null || p == JsonValue.NULL) {
            params = ANY_OBJECT;
        } else if (p instanceof JsonObject po) {
            params = po;
        } else {
            throw new ToolException(at + ".function.parameters", "'" + at + ".function.parameters' must be a JSON schema object");
        }
        if (p != null && p.toString().contains("\"$ref\"")) {
            throw new ToolException(at + ".function.parameters", "'" + at + ".function.parameters': $ref is not"
                    + " supported in tool parameters");
        }
        try {
            ConstraintSpec.jsonSchema(params).check();
        } catch (ConstraintException e) {
            throw new ToolException(at + ".function.parameters", "'" + at + ".function.parameters' is not a usable"
                    + " JSON schema: " + e.getMessage());
        }
        return new Tool(n.getString(), d instanceof JsonString ds ? ds.getString() : null, params, o);
    }
}
