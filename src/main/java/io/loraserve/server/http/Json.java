package io.loraserve.server.http;

import jakarta.json.JsonBuilderFactory;
import jakarta.json.JsonException;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonReaderFactory;
import jakarta.json.JsonStructure;
import jakarta.json.JsonValue;
import jakarta.json.JsonWriterFactory;
import jakarta.json.stream.JsonParsingException;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** The JSON-P factories (created once) and the request-body parser shared by every service. */
public final class Json {
    public static final JsonBuilderFactory BUILDERS = jakarta.json.Json.createBuilderFactory(Map.of());
    private static final JsonReaderFactory READERS = jakarta.json.Json.createReaderFactory(Map.of());
    private static final JsonWriterFactory WRITERS = jakarta.json.Json.createWriterFactory(Map.of());
    /** Deeper JSON than this is refused before parsing (no request needs more than a few levels). */
    static final int MAX_DEPTH = 64;

    private Json() {
    }

    /** Parses a request body that must be a JSON object; any other input is a 400. */
    public static JsonObject parseObject(byte[] body) {
        if (body.length == 0) {
            throw ApiException.badRequest(null, "the request body is empty; send a JSON object");
        }
        try {
            StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body));
        } catch (CharacterCodingException e) {
            throw ApiException.badRequest(null, "the request body is not valid UTF-8");
        }
        checkDepth(body);
        try (JsonReader r = READERS.createReader(new ByteArrayInputStream(body), StandardCharsets.UTF_8)) {
            JsonStructure s = r.read();
            if (s.getValueType() != JsonValue.ValueType.OBJECT) {
                throw ApiException.badRequest(null, "the request body must be a JSON object");
            }
            return s.asJsonObject();
        } catch (JsonParsingException e) {
            throw ApiException.badRequest(null, "the request body is not valid JSON: " + e.getMessage());
        } catch (UnsupportedOperationException e) {
            // Parsson refuses numbers longer than 1100 characters or with huge scales
            throw ApiException.badRequest(null, "the request body holds a number too long to parse: " + e.getMessage());
        } catch (JsonException e) {
            throw ApiException.badRequest(null, "the request body is not valid JSON");
        }
    }

    /** Counts bracket nesting outside strings, so a hostile body cannot exhaust the parser's stack. */
    private static void checkDepth(byte[] body) {
        int depth = 0;
        boolean inString = false;
        for (int i = 0; i < body.length; i++) {
            byte b = body[i];
            if (inString) {
                if (b == '\\') {
                    i++;
                } else if (b == '"') {
                    inString = false;
                }
            } else if (b == '"') {
                inString = true;
            } else if (b == '{' || b == '[') {
                if (++depth > MAX_DEPTH) {
                    throw ApiException.badRequest(null, "the request body nests JSON deeper than " + MAX_DEPTH + " levels");
                }
            } else if (b == '}' || b == ']') {
                depth--;
            }
        }
    }

    public static String write(JsonStructure value) {
        StringWriter w = new StringWriter();
        try (var writer = WRITERS.createWriter(w)) {
            writer.write(value);
        }
        return w.toString();
    }

    /** The OpenAI error body. */
    public static JsonObject error(String message, String type, String param, String code) {
        var e = BUILDERS.createObjectBuilder().add("message", message).add("type", type);
        if (param == null) {
            e.addNull("param");
        } else {
            e.add("param", param);
        }
        if (code == null) {
            e.addNull("code");
        } else {
            e.add("code", code);
        }
        return BUILDERS.createObjectBuilder().add("error", e).build();
    }
}
