package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.json.Json;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tool calling over HTTP on the demo model and each demo adapter, started with
 * {@code --tool-call-parser hermes --enable-auto-tool-choice}: {@code required} and a named
 * function always give calls that parse, name an offered function and whose arguments are valid
 * under its schema (checked by hand below, not by the server's schema compiler); {@code none}
 * gives text; a streamed answer's {@code tool_calls} deltas carry the same calls; and the
 * refusals.
 */
class ToolCallingTest {
    static final String WEATHER = "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
            + "\"Weather in a city\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
            + "\"enum\":[\"Paris\",\"Oslo\"]},\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7}},"
            + "\"required\":[\"city\",\"days\"],\"additionalProperties\":false}}}";
    static final String TIME = "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":"
            + "{\"type\":\"object\",\"properties\":{\"utc\":{\"type\":\"boolean\"}},\"required\":[\"utc\"],"
            + "\"additionalProperties\":false}}}";
    static final String TOOLS = "[" + WEATHER + "," + TIME + "]";
    static final String NAMED = "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}";
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = TestServer.demo(Path.of("").toAbsolutePath(), "--tool-call-parser", "hermes", "--enable-auto-tool-choice");
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String body(String model, int n, int seed, String choice, String extra) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Oslo?\"}],"
                + "\"tools\":" + TOOLS + ",\"tool_choice\":" + choice + ",\"parallel_tool_calls\":false,\"n\":" + n
                + ",\"max_tokens\":150,\"temperature\":1,\"seed\":" + seed + extra + "}";
    }

    /** Whether {@code arguments} is valid under the schema of the function {@code name} (by hand). */
    static boolean validArguments(String name, String arguments) {
        JsonObject a;
        try (JsonReader r = Json.createReader(new StringReader(arguments))) {
            a = r.readObject();
        } catch (RuntimeException e) {
            return false;
        }
        return switch (name) {
            case "get_weather" -> a.keySet().equals(Set.of("city", "days"))
                    && Set.of("Paris", "Oslo").contains(a.getString("city", ""))
                    && a.get("days") instanceof JsonNumber d && d.isIntegral() && d.longValue() >= 1 && d.longValue() <= 7;
            case "get_time" -> a.keySet().equals(Set.of("utc")) && (a.get("utc") == JsonValue.TRUE || a.get("utc") == JsonValue.FALSE);
            default -> false;
        };
    }

    @Test
    void requiredAndNamedChoicesAlwaysGiveValidCalls() {
        List<CompletableFuture<TestServer.Reply>> replies = new ArrayList<>();
        List<String> expectedNames = new ArrayList<>();
        for (String model : StructuredOutputTest.MODELS) {
            replies.add(server.postAsync("/v1/chat/completions", body(model, 7, 11, "\"required\"", "")));
            expectedNames.add(null);
            replies.add(server.postAsync("/v1/chat/completions", body(model, 6, 12, NAMED, "")));
            expectedNames.add("get_weather");
        }
        int checked = 0;
        Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < replies.size(); i++) {
            TestServer.Reply r = replies.get(i).join();
            assertEquals(200, r.status(), r.body());
            for (JsonObject c : r.json().getJsonArray("choices").getValuesAs(JsonObject.class)) {
                assertEquals("tool_calls", c.getString("finish_reason"), r.body());
                JsonObject m = c.getJsonObject("message");
                assertTrue(m.isNull("content"), r.body());
                assertEquals(1, m.getJsonArray("tool_calls").size(), r.body());
                JsonObject call = m.getJsonArray("tool_calls").getJsonObject(0);
                assertTrue(call.getString("id").matches("call_[0-9a-f]{24}"), call.toString());
                assertEquals("function", call.getString("type"));
                String name = call.getJsonObject("function").getString("name");
                if (expectedNames.get(i) != null) {
                    assertEquals(expectedNames.get(i), name);
                }
                assertTrue(validArguments(name, call.getJsonObject("function").getString("arguments")), call.toString());
                names.add(name);
                checked++;
            }
        }
        assertEquals(52, checked);
        assertEquals(Set.of("get_weather", "get_time"), names, "required lets the model pick either function");
    }

    @Test
    void noneGivesTextWithoutCalls() {
        for (String model : StructuredOutputTest.MODELS) {
            TestServer.Reply r = server.post("/v1/chat/completions", body(model, 3, 5, "\"none\"", ""));
            assertEquals(200, r.status(), r.body());
            for (JsonObject c : r.json().getJsonArray("choices").getValuesAs(JsonObject.class)) {
                assertFalse(c.getJsonObject("message").containsKey("tool_calls"), r.body());
                assertFalse(c.getJsonObject("message").getString("content").contains("<tool_call>"), r.body());
                assertTrue(Set.of("stop", "length").contains(c.getString("finish_reason")), r.body());
            }
        }
    }

    @Test
    void streamedCallsAreTheNonStreamedCalls() {
        for (String model : StructuredOutputTest.MODELS) {
            for (String choice : List.of("\"required\"", NAMED)) {
                JsonObject whole = server.post("/v1/chat/completions", body(model, 2, 23, choice, "")).json();
                TestServer.Stream s = server.postStream("/v1/chat/completions", body(model, 2, 23, choice, ",\"stream\":true"));
                assertEquals(200, s.status());
                for (int i = 0; i < 2; i++) {
                    JsonObject expected = whole.getJsonArray("choices").getJsonObject(i);
                    JsonObject call = expected.getJsonObject("message").getJsonArray("tool_calls").getJsonObject(0);
                    StringBuilder name = new StringBuilder();
                    StringBuilder arguments = new StringBuilder();
                    String finish = null;
                    for (JsonObject chunk : s.chunks()) {
                        for (JsonObject c : chunk.getJsonArray("choices").getValuesAs(JsonObject.class)) {
                            if (c.getInt("index") != i) {
                                continue;
                            }
                            JsonObject delta = c.getJsonObject("delta");
                            assertFalse(delta.containsKey("content") && !delta.getString("content").isEmpty(), chunk.toString());
                            if (delta.containsKey("tool_calls")) {
                                JsonObject d = delta.getJsonArray("tool_calls").getJsonObject(0);
                                assertEquals(0, d.getInt("index"));
                                assertTrue(d.getString("id").startsWith("call_"));
                                name.append(d.getJsonObject("function").getString("name", ""));
                                arguments.append(d.getJsonObject("function").getString("arguments", ""));
                            }
                            if (!c.isNull("finish_reason")) {
                                finish = c.getString("finish_reason");
                            }
                        }
                    }
                    assertEquals(call.getJsonObject("function").getString("name"), name.toString(), model);
                    assertEquals(call.getJsonObject("function").getString("arguments"), arguments.toString(), model);
                    assertEquals("tool_calls", finish);
                }
            }
        }
    }

    @Test
    void badToolRequestsAreRefused() {
        refused("\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_tide\"}}",
                "tool_choice", "'get_tide', which is not in 'tools'");
        refused("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"x\":{\"type\":\"integer\",\"minimum\":\"one\"}}}}}]", "tools[0].function.parameters",
                "not a usable JSON schema");
        refused("\"tools\":[{\"function\":{\"name\":\"f\"}}]", "tools[0].type", "must be 'function'");
        refused("\"tools\":\"get_weather\"", "tools", "must be a list");
        refused("\"tools\":" + TOOLS + ",\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"}",
                "tool_choice", "cannot be combined with 'response_format'");
        refused("\"tools\":" + TOOLS + ",\"tool_choice\":\"sometimes\"", "tool_choice", "must be none, auto, required");
        refused("\"tool_choice\":\"required\"", "tool_choice", "needs 'tools'");
        refused("\"tools\":" + TOOLS + ",\"parallel_tool_calls\":1", "parallel_tool_calls", "true or false");
    }

    @Test
    void assistantToolCallsAndToolResultsAreAccepted() {
        TestServer.Reply r = server.post("/v1/chat/completions", "{\"model\":\"code\",\"max_tokens\":4,\"tools\":" + TOOLS
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"Time?\"},{\"role\":\"assistant\",\"content\":null,"
                + "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
                + "\"arguments\":\"{\\\"utc\\\":true}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"12:00\"}]}");
        assertEquals(200, r.status(), r.body());
        TestServer.Reply bad = server.post("/v1/chat/completions", "{\"model\":\"code\",\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Hi\",\"tool_calls\":[]}]}");
        assertEquals(400, bad.status(), bad.body());
        assertEquals("messages[0].tool_calls", bad.error().getString("param"));
    }

    private static void refused(String fields, String param, String reason) {
        TestServer.Reply r = server.post("/v1/chat/completions",
                "{\"model\":\"code\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]," + fields + "}");
        assertEquals(400, r.status(), r.body());
        assertEquals(param, r.error().getString("param"), r.body());
        assertTrue(r.error().getString("message").contains(reason), r.body());
        assertNull(r.json().get("choices"));
    }
}
