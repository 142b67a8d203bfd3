package io.loraserve.lora;

import io.loraserve.lora.AdapterException.Reason;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import jakarta.json.stream.JsonLocation;
import jakarta.json.stream.JsonParser;
import jakarta.json.stream.JsonParserFactory;
import jakarta.json.stream.JsonParsingException;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Turns an {@code adapter_config.json} into an {@link AdapterConfig}: JSON types, PEFT's defaults for absent
 * optional fields, and refusal of PEFT options that change the math or add weights we do not serve. Semantic
 * invariants (ranks, alphas, targets) are the record's own.
 *
 * <p>JSON {@code null} means absent, as it does for PEFT. Fields not named here ({@code lora_dropout},
 * {@code init_lora_weights}, {@code inference_mode}, {@code task_type}, {@code revision}, the training-only configs
 * PEFT adds with each release…) are accepted and ignored.
 */
final class AdapterConfigReader {

    private static final JsonParserFactory JSON = Json.createParserFactory(Map.of());
    /** Largest config read; PEFT writes about a kilobyte. */
    static final int MAX_BYTES = 4 << 20;
    /** Deepest nesting accepted; PEFT's configs nest three or four levels. */
    static final int MAX_DEPTH = 64;

    private static final String ALL_LINEAR = "all-linear";

    /** PEFT options that, when set to anything but their default, make the adapter something a plain bypass is not. */
    private static final List<String> UNSUPPORTED_WHEN_SET = List.of(
            "use_dora", "lora_bias", "modules_to_save", "layer_replication", "target_parameters",
            "trainable_token_indices", "alora_invocation_tokens", "use_qalora", "velora_config",
            "monteclora_config", "use_bdlora", "arrow_config", "kasa_config");

    private final String adapter;
    private final JsonObject json;

    private AdapterConfigReader(String adapter, JsonObject json) {
        this.adapter = adapter;
        this.json = json;
    }

    static AdapterConfig read(String adapter, Path file) {
        return new AdapterConfigReader(adapter, readObject(adapter, file)).toConfig();
    }

    /**
     * One JSON object and nothing after it, as Python's {@code json.load} demands. Only a regular file of at most
     * {@value #MAX_BYTES} bytes is read, and JSON nested deeper than {@value #MAX_DEPTH} levels is refused before
     * it is built. No refusal quotes the file: a parse error says where, not what it found.
     */
    private static JsonObject readObject(String adapter, Path file) {
        String text = readText(adapter, file);
        try {
            checkDepth(adapter, file, text);
            try (JsonParser parser = JSON.createParser(new StringReader(text))) {
                if (!parser.hasNext() || parser.next() != JsonParser.Event.START_OBJECT) {
                    throw new AdapterException(adapter, Reason.MALFORMED_JSON, file + " does not hold a JSON object");
                }
                JsonObject object = parser.getObject();
                if (parser.hasNext()) {
                    throw new AdapterException(adapter, Reason.MALFORMED_JSON, file + " has data after its JSON object");
                }
                return object;
            }
        } catch (JsonParsingException e) {
            JsonLocation at = e.getLocation();
            throw new AdapterException(adapter, Reason.MALFORMED_JSON, file + " is not valid JSON (line "
                    + at.getLineNumber() + ", column " + at.getColumnNumber() + ")", e);
        } catch (JsonException e) {
            throw new AdapterException(adapter, Reason.MALFORMED_JSON, file + " is not valid JSON", e);
        } catch (UnsupportedOperationException e) {
            // Parsson's own refusal of numbers longer than 1100 characters, which is no JsonException
            throw new AdapterException(adapter, Reason.MALFORMED_JSON, file + " holds a number too long to parse", e);
        }
    }

    /** The file's text: a regular file (a FIFO is never opened), at most MAX_BYTES, UTF-8. */
    private static String readText(String adapter, Path file) {
        byte[] bytes;
        try {
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            if (!attributes.isRegularFile()) {
                throw new AdapterException(adapter, Reason.CONFIG_UNREADABLE, file + " is not a regular file");
            }
            if (attributes.size() > MAX_BYTES) {
                throw tooLarge(adapter, file);
            }
            try (InputStream in = Files.newInputStream(file)) {
                bytes = in.readNBytes(MAX_BYTES + 1);  // the file may have grown since
            }
        } catch (NoSuchFileException e) {
            throw new AdapterException(adapter, Reason.CONFIG_UNREADABLE, "no such file " + file, e);
        } catch (IOException e) {
            throw new AdapterException(adapter, Reason.CONFIG_UNREADABLE, "cannot read " + file + ": " + e, e);
        }
        if (bytes.length > MAX_BYTES) {
            throw tooLarge(adapter, file);
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new AdapterException(adapter, Reason.MALFORMED_JSON, file + " is not valid UTF-8", e);
        }
    }

    private static AdapterException tooLarge(String adapter, Path file) {
        return new AdapterException(adapter, Reason.CONFIG_TOO_LARGE, file + " is larger than " + MAX_BYTES
                + " bytes; a PEFT config is a few kilobytes");
    }

    /** Walks the events (no recursion) so that a hostile nesting is refused before anything recurses into it. */
    private static void checkDepth(String adapter, Path file, String text) {
        try (JsonParser parser = JSON.createParser(new StringReader(text))) {
            int depth = 0;
            while (parser.hasNext()) {
                switch (parser.next()) {
                    case START_OBJECT, START_ARRAY -> {
                        if (++depth > MAX_DEPTH) {
                            throw new AdapterException(adapter, Reason.MALFORMED_JSON, file
                                    + " nests JSON deeper than " + MAX_DEPTH + " levels");
                        }
                    }
                    case END_OBJECT, END_ARRAY -> depth--;
                    default -> {
                    }
                }
            }
        }
    }

    private AdapterConfig toConfig() {
        String peftType = string("peft_type", null);
        if (peftType == null) {
            throw missing("peft_type");
        }
        if (!peftType.equals("LORA")) {
            throw new AdapterException(adapter, Reason.NOT_LORA, "peft_type is '" + peftType + "', not 'LORA'");
        }
        for (String field : UNSUPPORTED_WHEN_SET) {
            if (isSet(json.get(field))) {
                throw new AdapterException(adapter, Reason.UNSUPPORTED_FEATURE,
                        field + " is " + json.get(field) + "; only plain LoRA is served");
            }
        }
        String bias = string("bias", "none");
        if (!bias.equals("none")) {
            throw new AdapterException(adapter, Reason.UNSUPPORTED_FEATURE,
                    "bias is '" + bias + "'; only 'none' is served (no trained biases)");
        }
        return new AdapterConfig(adapter, integer(required("r"), "r"), number(required("lora_alpha"), "lora_alpha"),
                bool("use_rslora"), bool("fan_in_fan_out"), string("base_model_name_or_path", null),
                targetModules(), excludeModules(), layersToTransform(), strings("layers_pattern"),
                map("rank_pattern", (key, value) -> integer(value, "rank_pattern['" + key + "']")),
                map("alpha_pattern", (key, value) -> number(value, "alpha_pattern['" + key + "']")));
    }

    private ModuleSelector targetModules() {
        JsonValue value = required("target_modules");
        if (value instanceof JsonString text && text.getString().toLowerCase(Locale.ROOT).equals(ALL_LINEAR)) {
            return new ModuleSelector.AllLinear();
        }
        return selector(value, "target_modules");
    }

    /** Like target_modules but without the all-linear shorthand; absent excludes nothing. */
    private ModuleSelector excludeModules() {
        JsonValue value = json.get("exclude_modules");
        return absent(value) ? new ModuleSelector.Names(List.of()) : selector(value, "exclude_modules");
    }

    private ModuleSelector selector(JsonValue value, String field) {
        if (value instanceof JsonString text) {
            try {
                return new ModuleSelector.Regex(Pattern.compile(text.getString()));
            } catch (PatternSyntaxException e) {
                throw new AdapterException(adapter, Reason.INVALID_PATTERN,
                        field + " '" + text.getString() + "' is not a valid regex: " + e.getDescription(), e);
            }
        }
        return new ModuleSelector.Names(strings(value, field));
    }

    /** An int or a list of ints; {@code null} when absent. An empty list stays empty (PEFT: every layer). */
    private List<Integer> layersToTransform() {
        JsonValue value = json.get("layers_to_transform");
        if (absent(value)) {
            return null;
        }
        if (value instanceof JsonNumber) {
            return List.of(integer(value, "layers_to_transform"));
        }
        return elements(value, "layers_to_transform", element -> integer(element, "layers_to_transform entry"));
    }

    /** A string or a list of strings; empty when absent or "". */
    private List<String> strings(String field) {
        JsonValue value = json.get(field);
        if (absent(value)) {
            return List.of();
        }
        if (value instanceof JsonString text) {
            return text.getString().isEmpty() ? List.of() : List.of(text.getString());
        }
        return strings(value, field);
    }

    private List<String> strings(JsonValue value, String field) {
        return elements(value, field, element -> {
            if (element instanceof JsonString text) {
                return text.getString();
            }
            throw wrongType(field + " entry", "a string", element);
        });
    }

    private <T> List<T> elements(JsonValue value, String field, Function<JsonValue, T> element) {
        if (!(value instanceof JsonArray array)) {
            throw wrongType(field, "a list", value);
        }
        List<T> result = new ArrayList<>(array.size());
        for (JsonValue each : array) {
            result.add(element.apply(each));
        }
        return result;
    }

    private <T> Map<String, T> map(String field, BiFunction<String, JsonValue, T> entry) {
        JsonValue value = json.get(field);
        if (absent(value)) {
            return Map.of();
        }
        if (!(value instanceof JsonObject object)) {
            throw wrongType(field, "an object", value);
        }
        Map<String, T> result = new LinkedHashMap<>();
        object.forEach((key, each) -> result.put(key, entry.apply(key, each)));
        return result;
    }

    private JsonValue required(String field) {
        JsonValue value = json.get(field);
        if (absent(value)) {
            throw missing(field);
        }
        return value;
    }

    private int integer(JsonValue value, String field) {
        if (!(value instanceof JsonNumber number) || !number.isIntegral()) {
            throw wrongType(field, "an integer", value);
        }
        try {
            return number.intValueExact();
        } catch (ArithmeticException | UnsupportedOperationException e) {  // the latter: Parsson's scale limit
            throw wrongType(field, "an integer that fits 32 bits", value);
        }
    }

    private double number(JsonValue value, String field) {
        if (!(value instanceof JsonNumber number)) {
            throw wrongType(field, "a number", value);
        }
        return number.doubleValue();
    }

    private boolean bool(String field) {
        JsonValue value = json.get(field);
        if (absent(value)) {
            return false;
        }
        if (value.getValueType() == JsonValue.ValueType.TRUE) {
            return true;
        }
        if (value.getValueType() == JsonValue.ValueType.FALSE) {
            return false;
        }
        throw wrongType(field, "true or false", value);
    }

    private String string(String field, String fallback) {
        JsonValue value = json.get(field);
        if (absent(value)) {
            return fallback;
        }
        if (!(value instanceof JsonString text)) {
            throw wrongType(field, "a string", value);
        }
        return text.getString();
    }

    private static boolean absent(JsonValue value) {
        return value == null || value.getValueType() == JsonValue.ValueType.NULL;
    }

    /** Python truthiness, which is how PEFT decides whether an option is on. */
    private static boolean isSet(JsonValue value) {
        if (absent(value)) {
            return false;
        }
        return switch (value.getValueType()) {
            case FALSE -> false;
            case ARRAY -> !value.asJsonArray().isEmpty();
            case OBJECT -> !value.asJsonObject().isEmpty();
            case STRING -> !((JsonString) value).getString().isEmpty();
            case NUMBER -> ((JsonNumber) value).doubleValue() != 0;
            default -> true;
        };
    }

    private AdapterException missing(String field) {
        return new AdapterException(adapter, Reason.MISSING_FIELD, field + " is missing");
    }

    private AdapterException wrongType(String field, String expected, JsonValue actual) {
        return new AdapterException(adapter, Reason.WRONG_TYPE, field + " must be " + expected + ", got " + actual);
    }
}
