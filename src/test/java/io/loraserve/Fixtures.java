package io.loraserve;

import jakarta.json.Json;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The shared test data: {@code ../shared/fixtures} (tiny random Llama + three adapters) and
 * {@code ../shared/demo} (the trained demo model), with their independent reference outputs.
 */
public final class Fixtures {
    private Fixtures() {
    }

    public static Path shared() {
        return Path.of(System.getProperty("loraserve.shared", "../shared")).toAbsolutePath().normalize();
    }

    public static Path tinyModel() {
        return shared().resolve("fixtures/tiny-llama");
    }

    public static Path tinyAdapter(String name) {
        return shared().resolve("fixtures/adapters").resolve(name);
    }

    public static Path demoModel() {
        return shared().resolve("demo/model");
    }

    public static Path demoAdapter(String name) {
        return shared().resolve("demo/adapters").resolve(name);
    }

    /** One reference generation: greedy, EOS not a stop. {@code adapter} is null for the base model. */
    public record Case(String adapter, String prompt, int[] promptIds, int[] tokens, double[] logprobs) {
        public String label() {
            return (adapter == null ? "base" : adapter) + " / " + prompt;
        }
    }

    public static List<Case> tinyCases() {
        return cases(shared().resolve("fixtures/expected.json"));
    }

    public static List<Case> demoCases() {
        return cases(shared().resolve("demo/expected.json"));
    }

    private static List<Case> cases(Path file) {
        try (Reader r = Files.newBufferedReader(file); JsonReader jr = Json.createReader(r)) {
            return jr.readObject().getJsonArray("cases").getValuesAs(JsonObject.class).stream()
                    .map(c -> new Case(
                            c.get("adapter") == JsonValue.NULL ? null : c.getString("adapter"),
                            c.getString("prompt"),
                            ints(c, "prompt_ids"),
                            ints(c, "tokens"),
                            c.getJsonArray("logprobs").getValuesAs(JsonNumber.class).stream()
                                    .mapToDouble(JsonNumber::doubleValue).toArray()))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int[] ints(JsonObject o, String key) {
        return o.getJsonArray(key).getValuesAs(JsonNumber.class).stream().mapToInt(JsonNumber::intValue).toArray();
    }
}
