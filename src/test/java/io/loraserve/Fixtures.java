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
 * The test data, all inside the project: the tiny random Llama with three adapters and the demo
 * model's reference outputs in {@code src/test/data}, the demo model itself where it ships.
 */
public final class Fixtures {
    private Fixtures() {
    }

    /**
     * The project's test data, {@code src/test/data} ({@code -Dloraserve.testdata=DIR} elsewhere):
     * copies of {@code ../shared/fixtures} (tiny model, adapters, expected.json) and of the demo's
     * reference {@code ../shared/demo/expected.json}; see {@code src/test/data/README.md}.
     */
    public static Path data() {
        return Path.of(System.getProperty("loraserve.testdata", "src/test/data")).toAbsolutePath().normalize();
    }

    public static Path tinyModel() {
        return data().resolve("fixtures/tiny-llama");
    }

    /** The fixture adapters' directory (an adapter root). */
    public static Path tinyAdapters() {
        return data().resolve("fixtures/adapters");
    }

    public static Path tinyAdapter(String name) {
        return tinyAdapters().resolve(name);
    }

    /** The tiny models of other Llama-family architectures: {@code llama3}, {@code qwen3}, {@code phi3}. */
    public static final List<String> FAMILIES = List.of("llama3", "qwen3", "phi3");

    /** A tiny model of {@code family} (one of {@link #FAMILIES}), with its tokenizer and {@code expected.json}. */
    public static Path familyModel(String family) {
        return data().resolve("fixtures/families").resolve(family);
    }

    /** The family adapters' directory (an adapter root). */
    public static Path familyAdapters() {
        return data().resolve("fixtures/families/adapters");
    }

    /** The reference cases of {@code family}'s model: its base and its one adapter. */
    public static List<Case> familyCases(String family) {
        return cases(familyModel(family).resolve("expected.json"));
    }

    /** The demo model the project ships ({@code demo/}), the same files as {@code ../shared/demo/model}. */
    public static Path demoModel() {
        return Path.of("demo/loraserve-demo").toAbsolutePath();
    }

    /** The demo adapters the project ships ({@code adapters/}), the same files as {@code ../shared/demo/adapters}. */
    public static Path demoAdapters() {
        return Path.of("adapters").toAbsolutePath();
    }

    public static Path demoAdapter(String name) {
        return demoAdapters().resolve(name);
    }

    /** One reference generation: greedy, EOS not a stop. {@code adapter} is null for the base model. */
    public record Case(String adapter, String prompt, int[] promptIds, int[] tokens, double[] logprobs) {
        public String label() {
            return (adapter == null ? "base" : adapter) + " / " + prompt;
        }
    }

    public static List<Case> tinyCases() {
        return cases(data().resolve("fixtures/expected.json"));
    }

    public static List<Case> demoCases() {
        return cases(data().resolve("demo/expected.json"));
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
