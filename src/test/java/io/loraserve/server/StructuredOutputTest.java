package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.io.StringReader;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Structured output end to end on the demo model and each demo adapter: 200 seeded, sampled
 * requests per constraint type (50 per model, all four models at once, so batches mix adapters),
 * every output checked by an independent check (java.util.regex, a JSON parser and a hand-written
 * validator of the schema); the first choice of each model again alone gives the same text.
 */
class StructuredOutputTest {
    static final List<String> MODELS = List.of("loraserve-demo", "code", "legal", "verse");
    private static final List<String> PROMPTS = List.of("The answer is", "Once upon a time", "def main():",
            "The court held", "Roses are red", "Hello", "JSON:", "Name:", "1, 2, 3,", "Q: why?");
    static final String SCHEMA = """
            {"type":"object","properties":{
              "name":{"type":"string","maxLength":6},
              "age":{"type":"integer","minimum":-3,"maximum":120},
              "role":{"enum":["admin","user"]},
              "born":{"type":"string","format":"date"},
              "score":{"anyOf":[{"type":"number","minimum":0,"maximum":10},{"type":"null"}]},
              "ok":{"type":"boolean"}},
             "required":["name","age","ok"],"additionalProperties":false}""";
    static final String REGEX = "[A-Z][a-z]{1,6} (is|was) [0-9]{1,3}(\\.[0-9])?!?";
    static final List<String> CHOICES = List.of("yes", "no", "maybe later", "🙂 fine");
    static final String GRAMMAR = """
            root ::= "(" item ("," item){0,2} ")"
            item ::= [a-z]{1,4} | "[" [0-9]{1,3} "]"
            """;
    private static final Pattern GRAMMAR_AS_REGEX =
            Pattern.compile("\\((?:[a-z]{1,4}|\\[[0-9]{1,3}\\])(?:,(?:[a-z]{1,4}|\\[[0-9]{1,3}\\])){0,2}\\)");
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = TestServer.noArguments(Path.of("").toAbsolutePath());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void jsonSchemaOutputsAllValidate() {
        everyOutputIsValid("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\","
                + "\"strict\":true,\"schema\":" + SCHEMA + "}}", StructuredOutputTest::validPerson);
    }

    @Test
    void regexOutputsAllMatch() {
        everyOutputIsValid("\"guided_regex\":" + Json.createValue(REGEX), s -> Pattern.matches(REGEX, s));
    }

    @Test
    void choiceOutputsAreAllOneOfTheChoices() {
        JsonArray choices = Json.createArrayBuilder(CHOICES).build();
        everyOutputIsValid("\"structured_outputs\":{\"choice\":" + choices + "}", CHOICES::contains);
    }

    @Test
    void grammarOutputsAllParse() {
        everyOutputIsValid("\"guided_grammar\":" + Json.createValue(GRAMMAR), s -> GRAMMAR_AS_REGEX.matcher(s).matches());
    }

    @Test
    void chatTakesResponseFormatJsonSchemaAndJsonObject() {
        String messages = "\"messages\":[{\"role\":\"user\",\"content\":\"Who are you?\"}],\"seed\":3";
        TestServer.Reply r = server.post("/v1/chat/completions", "{\"model\":\"verse\"," + messages + ",\"n\":4,\"max_tokens\":128,"
                + "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"schema\":" + SCHEMA + "}}}");
        assertEquals(200, r.status(), r.body());
        for (JsonObject c : r.json().getJsonArray("choices").getValuesAs(JsonObject.class)) {
            String content = c.getJsonObject("message").getString("content");
            assertEquals("stop", c.getString("finish_reason"), content);
            assertTrue(validPerson(content), content);
        }
        TestServer.Reply any = server.post("/v1/chat/completions", "{\"model\":\"code\"," + messages + ",\"temperature\":0,\"max_tokens\":40,"
                + "\"response_format\":{\"type\":\"json_object\"}}");
        JsonObject c = any.json().getJsonArray("choices").getJsonObject(0);
        String content = c.getJsonObject("message").getString("content");
        if (c.getString("finish_reason").equals("stop")) {
            try (JsonReader reader = Json.createReader(new StringReader(content))) {
                reader.readObject();
            }
        } else {
            assertEquals("length", c.getString("finish_reason"));
            assertTrue(content.startsWith("{"), content);
        }
    }

    @Test
    void constraintsThatCannotBeCompiledAre400sWithTheReasonAndServingGoesOn() {
        refused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"strin\"}}}",
                "response_format", "unknown type 'strin'");
        refused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}",
                "response_format.json_schema.schema", "required");
        refused("\"guided_json\":{\"type\":\"object\",\"patternProperties\":{\"a\":{}}}", "guided_json",
                "unsupported JSON schema keyword patternProperties");
        refused("\"guided_json\":{\"type\":\"string\",\"pattern\":\"(a\"}", "guided_json", "missing ')'");
        refused("\"guided_grammar\":\"root ::= (\\\"a\\\"\"", "guided_grammar", "grammar syntax error");
        refused("\"structured_outputs\":{\"grammar\":\"start ::= \\\"a\\\"\"}", "structured_outputs.grammar",
                "no 'root' rule");
        refused("\"guided_regex\":\"a[^\\\\s\\\\S]\"", "guided_regex", "matches nothing");
        refused("\"guided_choice\":[]", "guided_choice", "non-empty list");
        refused("\"guided_regex\":\"a\",\"guided_choice\":[\"b\"]", "guided_choice", "only one");
        TestServer.Reply ok = server.post("/v1/completions", body("legal", "\"Hi\"", 1, "\"guided_choice\":[\"x\"]"));
        assertEquals("x", ok.json().getJsonArray("choices").getJsonObject(0).getString("text"));
    }

    private static void refused(String constraint, String param, String reason) {
        TestServer.Reply r = server.post("/v1/completions", body("code", "\"Hi\"", 1, constraint));
        assertEquals(400, r.status(), r.body());
        assertEquals(param, r.error().getString("param"), r.body());
        assertTrue(r.error().getString("message").contains(reason), r.body());
    }

    /** 4 models × 10 prompts × n 5, concurrently; then choice 0 of each model alone must repeat its text. */
    private static void everyOutputIsValid(String constraint, Predicate<String> valid) {
        List<CompletableFuture<TestServer.Reply>> replies = new ArrayList<>();
        for (String model : MODELS) {
            replies.add(server.postAsync("/v1/completions", body(model, Json.createArrayBuilder(PROMPTS).build()
                    .toString(), 5, constraint)));
        }
        int checked = 0;
        for (int m = 0; m < MODELS.size(); m++) {
            TestServer.Reply r = replies.get(m).join();
            assertEquals(200, r.status(), r.body());
            List<JsonObject> choices = r.json().getJsonArray("choices").getValuesAs(JsonObject.class);
            assertEquals(PROMPTS.size() * 5, choices.size());
            for (JsonObject c : choices) {
                String text = c.getString("text");
                assertEquals("stop", c.getString("finish_reason"), MODELS.get(m) + ": " + text);
                assertTrue(valid.test(text), MODELS.get(m) + " produced an invalid output: " + text);
                checked++;
            }
            TestServer.Reply alone = server.post("/v1/completions", body(MODELS.get(m),
                    Json.createValue(PROMPTS.get(0)).toString(), 1, constraint));
            assertEquals(choices.get(0).getString("text"),
                    alone.json().getJsonArray("choices").getJsonObject(0).getString("text"),
                    MODELS.get(m) + ": alone vs in the mixed batch");
        }
        assertEquals(200, checked);
    }

    private static String body(String model, String prompt, int n, String constraint) {
        return "{\"model\":\"" + model + "\",\"prompt\":" + prompt + ",\"n\":" + n
                + ",\"max_tokens\":128,\"temperature\":1,\"seed\":17," + constraint + "}";
    }

    /** The schema above, checked by hand on the parsed document. */
    static boolean validPerson(String text) {
        JsonObject o;
        try (JsonReader r = Json.createReader(new StringReader(text))) {
            o = r.readObject();
        } catch (RuntimeException e) {
            return false;
        }
        if (!o.keySet().containsAll(Set.of("name", "age", "ok"))
                || !Set.of("name", "age", "role", "born", "score", "ok").containsAll(o.keySet())) {
            return false;
        }
        boolean ok = o.get("name") instanceof JsonString name && name.getString().codePointCount(0, name.getString().length()) <= 6
                && o.get("age") instanceof JsonNumber age && age.isIntegral() && age.longValue() >= -3 && age.longValue() <= 120
                && (o.get("ok") == JsonValue.TRUE || o.get("ok") == JsonValue.FALSE);
        if (o.containsKey("role")) {
            ok &= Set.of("admin", "user").contains(o.getString("role", ""));
        }
        if (o.containsKey("born")) {
            ok &= o.get("born") instanceof JsonString born && isDate(born.getString());
        }
        if (o.containsKey("score")) {
            ok &= o.get("score") == JsonValue.NULL || (o.get("score") instanceof JsonNumber s
                    && s.doubleValue() >= 0 && s.doubleValue() <= 10);
        }
        return ok;
    }

    private static boolean isDate(String s) {
        try {
            return s.length() == 10 && LocalDate.parse(s) != null;
        } catch (RuntimeException e) {
            return false;
        }
    }
}
