package io.loraserve.tokenizer;

import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import jakarta.json.JsonValue.ValueType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * The fields of a model's {@code tokenizer_config.json} that loraserve reads; every field is
 * empty when the file is absent. Token fields accept both forms HF writes: a plain string or an
 * {@code AddedToken} object with {@code content}. {@code chat_template} accepts a string or HF's
 * list of named templates, of which the one named {@code default} is taken.
 */
record ConfigFile(
        Path file,
        Optional<String> bosToken,
        Optional<String> eosToken,
        Optional<Boolean> addBosToken,
        Optional<String> chatTemplate) {

    static ConfigFile read(Path file) {
        if (!Files.exists(file)) {
            return new ConfigFile(
                    file, Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty());
        }
        JsonObject json = Tokenizer.readJsonObject(file);
        try {
            return new ConfigFile(
                    file,
                    token(json, "bos_token"),
                    token(json, "eos_token"),
                    addBosToken(json.get("add_bos_token")),
                    chatTemplate(json.get("chat_template")));
        } catch (ClassCastException | IllegalArgumentException e) {
            throw new TokenizerLoadException(file, e.getMessage(), e);
        }
    }

    private static Optional<String> token(JsonObject json, String key) {
        JsonValue value = json.get(key);
        if (value == null || value.getValueType() == ValueType.NULL) {
            return Optional.empty();
        }
        if (value instanceof JsonString token) {
            return Optional.of(token.getString());
        }
        String content = value.asJsonObject().getString("content", null);
        if (content == null) {
            throw new IllegalArgumentException(key + " has no string content: " + value);
        }
        return Optional.of(content);
    }

    private static Optional<Boolean> addBosToken(JsonValue value) {
        if (value == null || value.getValueType() == ValueType.NULL) {
            return Optional.empty();
        }
        return switch (value.getValueType()) {
            case TRUE -> Optional.of(true);
            case FALSE -> Optional.of(false);
            default -> throw new IllegalArgumentException(
                    "add_bos_token must be true or false: " + value);
        };
    }

    private static Optional<String> chatTemplate(JsonValue value) {
        if (value == null || value.getValueType() == ValueType.NULL) {
            return Optional.empty();
        }
        if (value instanceof JsonString template) {
            return Optional.of(template.getString());
        }
        return value.asJsonArray().stream()
                .map(JsonValue::asJsonObject)
                .filter(named -> "default".equals(named.getString("name", null)))
                .map(named -> named.getString("template", null))
                .filter(Objects::nonNull)
                .findFirst();
    }
}
