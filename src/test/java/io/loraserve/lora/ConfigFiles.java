package io.loraserve.lora;

import io.loraserve.Fixtures;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared adapter configs, and variants of them written into a test's temp dir. Overrides are written with
 * single quotes for readability ({@code "{'r': 0}"}) and turned into JSON's double quotes here.
 */
final class ConfigFiles {

    private ConfigFiles() {}

    static Path fixture(String adapter) {
        return Fixtures.tinyAdapter(adapter).resolve("adapter_config.json");
    }

    static Path demo(String adapter) {
        return Fixtures.demoAdapter(adapter).resolve("adapter_config.json");
    }

    /** attn-r4's config (r 4, alpha 8, q_proj and v_proj) with {@code overrides} applied, {@code removed} dropped. */
    static Path variant(Path dir, String overrides, String... removed) {
        JsonObjectBuilder config = Json.createObjectBuilder(readObject(fixture("attn-r4")));
        Json.createReader(new StringReader(overrides.replace('\'', '"'))).readObject().forEach(config::add);
        for (String field : removed) {
            config.remove(field);
        }
        return write(dir, config.build().toString());
    }

    static Path write(Path dir, String text) {
        Path file = dir.resolve("adapter_config.json");
        try {
            return Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonObject readObject(Path file) {
        try (Reader in = Files.newBufferedReader(file)) {
            return Json.createReader(in).readObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
