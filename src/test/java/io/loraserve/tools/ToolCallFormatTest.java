package io.loraserve.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.constraint.Constraint;
import io.loraserve.constraint.ConstraintCache;
import io.loraserve.constraint.Vocabulary;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonReader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The tool-call formats: calls read out of text written as each model family writes them (the
 * examples follow vLLM's parser tests and the models' chat templates), and the constraint each
 * builds from the tools, checked on whole texts against hand-written valid and invalid calls.
 */
class ToolCallFormatTest {
    static final String WEATHER = """
            {"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":
             {"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo"]},
              "days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"],"additionalProperties":false}}}""";
    static final String TIME = """
            {"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":
             {"utc":{"type":"boolean"}},"required":["utc"],"additionalProperties":false}}}""";

    /** Every byte a token of its own, EOS = 256: the constraint's language, byte by byte. */
    private static final ConstraintCache CACHE = new ConstraintCache(bytes(), 16);

    private static Vocabulary bytes() {
        byte[][] tokens = new byte[257][];
        for (int b = 0; b < 256; b++) {
            tokens[b] = new byte[] {(byte) b};
        }
        return new Vocabulary(tokens, new int[] {256});
    }

    static List<Tool> tools() {
        return Tool.parseAll(read("[" + WEATHER + "," + TIME + "]"));
    }

    static JsonArray read(String json) {
        try (JsonReader r = Json.createReader(new StringReader(json))) {
            return r.readArray();
        }
    }

    private static boolean allows(Constraint c, String text) {
        return c.matches(text.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void hermesReadsEveryBlockAndTheContentBefore() {
        ToolCallFormat.Parsed p = ToolCallFormat.HERMES.parse("Let me check.\n<tool_call>\n{\"name\": \"get_weather\","
                + " \"arguments\": {\"city\": \"Oslo\", \"days\": 2}}\n</tool_call>\n<tool_call>{\"name\":\"get_time\","
                + "\"arguments\":{\"utc\":true}}</tool_call>");
        assertEquals("Let me check.", p.content());
        assertEquals(List.of(new ToolCall("get_weather", "{\"city\":\"Oslo\",\"days\":2}"),
                new ToolCall("get_time", "{\"utc\":true}")), p.calls());
    }

    @Test
    void hermesTakesAnUnclosedLastBlockAndArgumentsAsAString() {
        ToolCallFormat.Parsed p = ToolCallFormat.HERMES.parse("<tool_call>{\"name\":\"get_time\",\"arguments\":\"{\\\"utc\\\":false}\"}");
        assertNull(p.content());
        assertEquals(List.of(new ToolCall("get_time", "{\"utc\":false}")), p.calls());
    }

    @Test
    void textThatHoldsNoCallIsContent() {
        for (ToolCallFormat f : ToolCallFormat.values()) {
            for (String text : List.of("Sunny, 20 degrees.", "<tool_call>{\"name\": \"get_time\", \"arguments\": {",
                    "{\"city\": \"Oslo\"}", "[TOOL_CALLS][{\"arguments\": {}}]", "[TOOL_CALLS] not json")) {
                ToolCallFormat.Parsed p = f.parse(text);
                assertEquals(text, p.content(), f + ": " + text);
                assertTrue(p.calls().isEmpty(), f + ": " + text);
            }
        }
    }

    @Test
    void llama3ReadsCallsSeparatedBySemicolonsAfterAnOptionalPythonTag() {
        ToolCallFormat.Parsed p = ToolCallFormat.LLAMA3_JSON.parse("<|python_tag|>{\"name\": \"get_weather\", \"parameters\":"
                + " {\"city\": \"Paris\", \"days\": 1}}; {\"name\": \"get_time\", \"parameters\": {\"utc\": true}}");
        assertNull(p.content());
        assertEquals(List.of(new ToolCall("get_weather", "{\"city\":\"Paris\",\"days\":1}"),
                new ToolCall("get_time", "{\"utc\":true}")), p.calls());
        assertEquals(List.of(new ToolCall("get_time", "{\"text\":\"a}; {b\"}")), ToolCallFormat.LLAMA3_JSON
                .parse(" {\"name\":\"get_time\",\"arguments\":{\"text\":\"a}; {b\"}} ").calls(), "brackets inside strings");
        assertTrue(ToolCallFormat.LLAMA3_JSON.parse("{\"name\":\"get_time\",\"parameters\":{}} and more").calls().isEmpty());
    }

    @Test
    void mistralReadsTheListAfterTheTag() {
        ToolCallFormat.Parsed p = ToolCallFormat.MISTRAL.parse("Sure. [TOOL_CALLS][{\"name\": \"get_time\", \"arguments\":"
                + " {\"utc\": false}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 7}}]");
        assertEquals("Sure.", p.content());
        assertEquals(List.of(new ToolCall("get_time", "{\"utc\":false}"),
                new ToolCall("get_weather", "{\"city\":\"Oslo\",\"days\":7}")), p.calls());
    }

    @Test
    void hermesConstraintAllowsValidCallsOnly() {
        Constraint one = CACHE.get(ToolCallFormat.HERMES.constraint(tools(), false));
        String weather = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 3}}\n</tool_call>";
        String time = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"utc\": true}}\n</tool_call>";
        assertTrue(allows(one, weather));
        assertTrue(allows(one, time));
        assertFalse(allows(one, weather + "\n" + time), "one call only without parallel_tool_calls");
        assertFalse(allows(one, weather.replace("Oslo", "Rome")), "city outside the enum");
        assertFalse(allows(one, weather.replace("3", "9")), "days above the maximum");
        assertFalse(allows(one, weather.replace("get_weather", "get_wether")), "unknown function");
        assertFalse(allows(one, time.replace("true}", "true, \"x\": 1}")), "additional property");
        assertFalse(allows(one, "Sunny" + weather), "text before the call");
        Constraint parallel = CACHE.get(ToolCallFormat.HERMES.constraint(tools(), true));
        assertTrue(allows(parallel, weather + "\n" + time + "\n" + weather));
    }

    @Test
    void namedChoiceConstrainsToThatFunction() {
        List<Tool> tools = tools();
        ToolChoice named = ToolChoice.parse(Json.createObjectBuilder().add("type", "function")
                .add("function", Json.createObjectBuilder().add("name", "get_time")).build(), tools);
        Constraint c = CACHE.get(ToolCallFormat.LLAMA3_JSON.constraint(named.callable(tools), false));
        assertTrue(allows(c, "{\"name\": \"get_time\", \"parameters\": {\"utc\": false}}"));
        assertFalse(allows(c, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\", \"days\": 3}}"));
    }

    @Test
    void llama3AndMistralConstraintsMatchWhatTheirParsersRead() {
        Constraint llama = CACHE.get(ToolCallFormat.LLAMA3_JSON.constraint(tools(), true));
        String two = "{\"name\": \"get_time\", \"parameters\": {\"utc\": false}}; {\"name\": \"get_weather\","
                + " \"parameters\": {\"city\": \"Paris\", \"days\": 5}}";
        assertTrue(allows(llama, two));
        assertEquals(2, ToolCallFormat.LLAMA3_JSON.parse(two).calls().size());
        assertFalse(allows(llama, "{\"name\": \"get_time\", \"arguments\": {\"utc\": false}}"), "llama3 writes 'parameters'");
        Constraint mistral = CACHE.get(ToolCallFormat.MISTRAL.constraint(tools(), false));
        String call = "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"utc\": true}}]";
        assertTrue(allows(mistral, call));
        assertEquals(List.of(new ToolCall("get_time", "{\"utc\":true}")), ToolCallFormat.MISTRAL.parse(call).calls());
        assertFalse(allows(mistral, "[TOOL_CALLS][]"), "at least one call");
        assertFalse(allows(mistral, "[TOOL_CALLS][" + call.substring(13, call.length() - 1) + ", "
                + call.substring(13, call.length() - 1) + "]"), "one call only without parallel_tool_calls");
    }

    @Test
    void badToolsAndChoicesAreRefusedNamingTheField() {
        record Case(String tools, String choice, String param, String reason) {
        }
        for (Case c : List.of(
                new Case("{}", null, "tools", "must be a list"),
                new Case("[{\"type\":\"function\"}]", null, "tools[0].function", "must be an object"),
                new Case("[{\"type\":\"retrieval\",\"function\":{\"name\":\"a\"}}]", null, "tools[0].type", "'function'"),
                new Case("[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]", null, "tools[0].function.name", "1 to 64"),
                new Case("[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{\"type\":\"object\","
                        + "\"properties\":{\"x\":{\"type\":\"strin\"}}}}}]", null, "tools[0].function.parameters", "JSON schema"),
                new Case("[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{\"type\":\"object\","
                        + "\"patternProperties\":{}}}}]", null, "tools[0].function.parameters", "patternProperties"),
                new Case("[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{\"$defs\":{\"x\":{}},"
                        + "\"$ref\":\"#/$defs/x\"}}}]", null, "tools[0].function.parameters", "$ref"),
                new Case("[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":[]}}]", null,
                        "tools[0].function.parameters", "JSON schema object"),
                new Case("[" + TIME + "," + TIME + "]", null, "tools[1].function.name", "twice"),
                new Case("[" + TIME + "]", "\"always\"", "tool_choice", "'always'"),
                new Case("[" + TIME + "]", "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}", "tool_choice",
                        "not in 'tools'"),
                new Case("[" + TIME + "]", "{\"type\":\"function\"}", "tool_choice", "must be"),
                new Case(null, "\"required\"", "tool_choice", "needs 'tools'"))) {
            ToolException e = assertThrows(ToolException.class, () -> ToolRequest.parse(
                    c.tools() == null ? null : value(c.tools()), c.choice() == null ? null : value(c.choice()), null), c.toString());
            assertEquals(c.param(), e.param(), c.toString());
            assertTrue(e.getMessage().contains(c.reason()), c + ": " + e.getMessage());
        }
        ToolException e = assertThrows(ToolException.class, () -> ToolRequest.parse(null, null, value("\"yes\"")));
        assertEquals("parallel_tool_calls", e.param());
    }

    @Test
    void toolChoiceDefaultsToAutoWithToolsAndNoneWithout() {
        assertEquals(ToolChoice.Mode.AUTO, ToolRequest.parse(value("[" + TIME + "]"), null, null).choice().mode());
        assertEquals(ToolChoice.Mode.NONE, ToolRequest.parse(null, null, null).choice().mode());
        assertEquals(ToolChoice.Mode.NONE, ToolRequest.parse(value("[]"), null, null).choice().mode());
        assertFalse(ToolRequest.parse(value("[" + TIME + "]"), null, jakarta.json.JsonValue.FALSE).parallel());
    }

    private static jakarta.json.JsonValue value(String json) {
        try (JsonReader r = Json.createReader(new StringReader(json))) {
            return r.readValue();
        }
    }
}
