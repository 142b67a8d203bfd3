package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.assertMatches;
import static io.loraserve.server.BaseModelGoldenTest.body;
import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The validation table of the API issue: every bad input gets its status and an OpenAI error
 * naming the parameter (and, for ranges, what is allowed), and bad requests never disturb good
 * ones. The tiny fixture model has a 256-token context, a 512-token vocabulary and the default
 * {@code --max-n} of 8.
 */
class ValidationTest {
    private static final String CMPL = "/v1/completions";
    private static final String CHAT = "/v1/chat/completions";
    private static TestServer server;

    /**
     * One row: what is sent, the status and {@code param} expected, and a text the message must
     * hold (the range allowed, the numbers compared); {@code param} null means the body as a whole.
     */
    record Row(String name, String path, String body, int status, String param, String mentions) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static Row cmpl(String name, String fields, int status, String param, String mentions) {
        return new Row(name, CMPL, "{\"prompt\":\"Hello\",\"max_tokens\":2" + (fields.isEmpty() ? "" : "," + fields) + "}",
                status, param, mentions);
    }

    private static Row chat(String name, String fields, int status, String param, String mentions) {
        return new Row(name, CHAT, "{\"max_tokens\":2," + fields + "}", status, param, mentions);
    }

    private static final String HI = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]";

    static Stream<Row> table() {
        return Stream.of(
                // wrong JSON types, field by field
                new Row("prompt number", CMPL, "{\"prompt\":5}", 400, "prompt", "string"),
                new Row("prompt object", CMPL, "{\"prompt\":{\"a\":1}}", 400, "prompt", "string"),
                new Row("prompt mixed list", CMPL, "{\"prompt\":[\"a\",1]}", 400, "prompt", null),
                new Row("prompt ids with a string", CMPL, "{\"prompt\":[1,\"a\"]}", 400, "prompt", "integers"),
                new Row("prompt id fraction", CMPL, "{\"prompt\":[1.5]}", 400, "prompt", "integers"),
                cmpl("max_tokens string", "\"max_tokens\":\"16\"", 400, "max_tokens", "integer"),
                cmpl("max_tokens fraction", "\"max_tokens\":1.5", 400, "max_tokens", "integer"),
                cmpl("max_tokens boolean", "\"max_tokens\":true", 400, "max_tokens", "integer"),
                cmpl("temperature string", "\"temperature\":\"hot\"", 400, "temperature", "number"),
                cmpl("top_p list", "\"top_p\":[]", 400, "top_p", "number"),
                cmpl("top_k fraction", "\"top_k\":1.5", 400, "top_k", "integer"),
                cmpl("min_p string", "\"min_p\":\"0\"", 400, "min_p", "number"),
                cmpl("seed string", "\"seed\":\"42\"", 400, "seed", "integer"),
                cmpl("stop number", "\"stop\":5", 400, "stop", "string"),
                cmpl("stop list of numbers", "\"stop\":[1]", 400, "stop", "string"),
                cmpl("stop_token_ids number", "\"stop_token_ids\":5", 400, "stop_token_ids", "list"),
                cmpl("stop_token_ids strings", "\"stop_token_ids\":[\"a\"]", 400, "stop_token_ids", "integers"),
                cmpl("n string", "\"n\":\"2\"", 400, "n", "integer"),
                cmpl("best_of string", "\"best_of\":\"x\"", 400, "best_of", "integer"),
                cmpl("echo string", "\"echo\":\"yes\"", 400, "echo", "true or false"),
                cmpl("logprobs boolean", "\"logprobs\":true", 400, "logprobs", "integer"),
                cmpl("presence_penalty string", "\"presence_penalty\":\"x\"", 400, "presence_penalty", "number"),
                cmpl("frequency_penalty object", "\"frequency_penalty\":{}", 400, "frequency_penalty", "number"),
                cmpl("repetition_penalty string", "\"repetition_penalty\":\"x\"", 400, "repetition_penalty", "number"),
                cmpl("ignore_eos number", "\"ignore_eos\":1", 400, "ignore_eos", "true or false"),
                cmpl("return_token_ids string", "\"return_token_ids\":\"true\"", 400, "return_token_ids", "true or false"),
                cmpl("stream string", "\"stream\":\"true\"", 400, "stream", "true or false"),
                cmpl("stream_options boolean", "\"stream\":true,\"stream_options\":true", 400, "stream_options", "object"),
                cmpl("include_usage string", "\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}", 400,
                        "stream_options.include_usage", "true or false"),
                cmpl("stream_options without stream", "\"stream_options\":{\"include_usage\":true}", 400,
                        "stream_options", "stream"),
                cmpl("model number", "\"model\":5", 400, "model", "string"),
                cmpl("adapter number", "\"adapter\":5", 400, "adapter", "string"),
                cmpl("user number", "\"user\":5", 400, "user", "string"),
                cmpl("suffix", "\"suffix\":\"x\"", 400, "suffix", "not supported"),
                cmpl("logit_bias list", "\"logit_bias\":[5]", 400, "logit_bias", "object"),
                cmpl("logit_bias word key", "\"logit_bias\":{\"the\":5}", 400, "logit_bias", "token ids in [0, 512)"),
                cmpl("logit_bias negative key", "\"logit_bias\":{\"-1\":5}", 400, "logit_bias", "token ids"),
                cmpl("logit_bias key out of vocabulary", "\"logit_bias\":{\"512\":5}", 400, "logit_bias", "[0, 512)"),
                cmpl("logit_bias string value", "\"logit_bias\":{\"5\":\"x\"}", 400, "logit_bias.5", "number"),
                cmpl("logit_bias value 101", "\"logit_bias\":{\"5\":101}", 400, "logit_bias.5", "<= 100"),
                cmpl("logit_bias value -1e400", "\"logit_bias\":{\"5\":-1e400}", 400, "logit_bias.5", ">= -100"),
                // NaN, Infinity, huge numbers
                cmpl("NaN literal", "\"temperature\":NaN", 400, null, "JSON"),
                cmpl("Infinity literal", "\"temperature\":Infinity", 400, null, "JSON"),
                cmpl("temperature 1e400", "\"temperature\":1e400", 400, "temperature", "<= 2"),
                cmpl("max_tokens 1e999999999", "\"max_tokens\":1e999999999", 400, "max_tokens", "between 1 and"),
                cmpl("seed 1e999999999", "\"seed\":1e999999999", 400, "seed", "between"),
                cmpl("seed above 64 bits", "\"seed\":99999999999999999999", 400, "seed", "between"),
                cmpl("top_k 1e30", "\"top_k\":1e30", 400, "top_k", "between -1 and"),
                cmpl("number of 1200 digits", "\"seed\":1" + "0".repeat(1200), 400, null, "number"),
                cmpl("stop token id 1e999999999", "\"stop_token_ids\":[1e999999999]", 400, "stop_token_ids", "[0, 512)"),
                new Row("prompt id 1e999999999", CMPL, "{\"prompt\":[1e999999999]}", 400, "prompt", "[0, 512)"),
                // ranges
                cmpl("max_tokens zero", "\"max_tokens\":0", 400, "max_tokens", "between 1 and"),
                cmpl("max_tokens negative with echo", "\"max_tokens\":-1,\"echo\":true", 400, "max_tokens", "between 0 and"),
                cmpl("max_tokens zero streamed", "\"max_tokens\":0,\"echo\":true,\"stream\":true", 400, "max_tokens",
                        "cannot be streamed"),
                cmpl("max_tokens negative", "\"max_tokens\":-1", 400, "max_tokens", "between 1 and"),
                cmpl("temperature negative", "\"temperature\":-0.1", 400, "temperature", ">= 0 and <= 2"),
                cmpl("temperature above 2", "\"temperature\":2.5", 400, "temperature", ">= 0 and <= 2"),
                cmpl("top_p zero", "\"top_p\":0", 400, "top_p", "> 0 and <= 1"),
                cmpl("top_p above 1", "\"top_p\":1.5", 400, "top_p", "> 0 and <= 1"),
                cmpl("top_k zero", "\"top_k\":0", 400, "top_k", "-1 (off) or >= 1"),
                cmpl("top_k -2", "\"top_k\":-2", 400, "top_k", "between -1 and"),
                cmpl("min_p above 1", "\"min_p\":1.5", 400, "min_p", ">= 0 and <= 1"),
                cmpl("presence_penalty above 2", "\"presence_penalty\":2.5", 400, "presence_penalty", ">= -2 and <= 2"),
                cmpl("frequency_penalty below -2", "\"frequency_penalty\":-3", 400, "frequency_penalty", ">= -2 and <= 2"),
                cmpl("repetition_penalty zero", "\"repetition_penalty\":0", 400, "repetition_penalty", "> 0"),
                cmpl("logprobs 6", "\"logprobs\":6", 400, "logprobs", "between 0 and 5"),
                cmpl("logprobs -1", "\"logprobs\":-1", 400, "logprobs", "between 0 and 5"),
                cmpl("n zero", "\"n\":0", 400, "n", "between 1 and 8"),
                cmpl("n above --max-n", "\"n\":9", 400, "n", "between 1 and 8"),
                cmpl("best_of not n", "\"best_of\":3", 400, "best_of", "equal 'n'"),
                cmpl("five stop strings", "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", 400, "stop", "at most 4"),
                cmpl("empty stop string", "\"stop\":[\"\"]", 400, "stop", "empty"),
                // context length
                cmpl("max_tokens over the context", "\"max_tokens\":300", 400, "max_tokens", "256"),
                new Row("prompt over the context", CMPL, "{\"prompt\":" + ids(300) + "}", 400, "prompt", "300"),
                // prompts
                new Row("prompt missing", CMPL, "{\"max_tokens\":2}", 400, "prompt", "required"),
                new Row("prompt empty string", CMPL, "{\"prompt\":\"\"}", 400, "prompt", "empty"),
                new Row("prompt empty list", CMPL, "{\"prompt\":[]}", 400, "prompt", "empty"),
                new Row("prompt empty id list", CMPL, "{\"prompt\":[[]]}", 400, "prompt", "empty"),
                new Row("prompt list with empty string", CMPL, "{\"prompt\":[\"a\",\"\"]}", 400, "prompt", "empty"),
                new Row("prompt id 512", CMPL, "{\"prompt\":[1,512]}", 400, "prompt", "[0, 512)"),
                new Row("prompt id -1", CMPL, "{\"prompt\":[-1]}", 400, "prompt", "[0, 512)"),
                cmpl("stop token id out of vocabulary", "\"stop_token_ids\":[600]", 400, "stop_token_ids", "[0, 512)"),
                // models and adapters
                cmpl("unknown adapter", "\"adapter\":\"nope\"", 404, null, "nope"),
                cmpl("empty adapter", "\"adapter\":\"\"", 400, "adapter", "must not be empty"),
                cmpl("empty model", "\"model\":\"\"", 400, "model", "must not be empty"),
                cmpl("unknown model", "\"model\":\"nope\"", 404, null, "nope"),
                // the body as a whole
                new Row("not JSON", CMPL, "prompt=hello", 400, null, "JSON"),
                new Row("JSON array", CMPL, "[1,2]", 400, null, "object"),
                new Row("empty body", CMPL, "", 400, null, "empty"),
                new Row("deeply nested", CMPL, "{\"prompt\":" + "[".repeat(100) + "]".repeat(100) + "}", 400, null, "deeper"),
                // chat
                new Row("messages missing", CHAT, "{}", 400, "messages", "required"),
                chat("messages string", "\"messages\":\"hi\"", 400, "messages", "list"),
                chat("add_generation_prompt string", HI + ",\"add_generation_prompt\":\"no\"", 400, "add_generation_prompt",
                        "true or false"),
                chat("continue_final_message number", HI + ",\"continue_final_message\":1", 400, "continue_final_message",
                        "true or false"),
                chat("messages empty", "\"messages\":[]", 400, "messages", "non-empty"),
                chat("message not an object", "\"messages\":[5]", 400, "messages[0]", "object"),
                chat("role missing", "\"messages\":[{\"content\":\"Hi\"}]", 400, "messages[0].role", "system, user"),
                chat("role unknown", "\"messages\":[{\"role\":\"robot\",\"content\":\"Hi\"}]", 400, "messages[0].role", "robot"),
                chat("content number", "\"messages\":[{\"role\":\"user\",\"content\":5}]", 400, "messages[0].content", "string"),
                chat("content null for user", "\"messages\":[{\"role\":\"user\",\"content\":null}]", 400,
                        "messages[0].content", "string"),
                chat("image part", "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]",
                        400, "messages[0].content[0].type", "image_url"),
                chat("text part without text", "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]", 400,
                        "messages[0].content[0].text", "required"),
                chat("part not an object", "\"messages\":[{\"role\":\"user\",\"content\":[5]}]", 400,
                        "messages[0].content[0]", "object"),
                chat("logprobs number", HI + ",\"logprobs\":1", 400, "logprobs", "true or false"),
                chat("top_logprobs 21", HI + ",\"logprobs\":true,\"top_logprobs\":21", 400, "top_logprobs", "between 0 and 20"),
                chat("top_logprobs without logprobs", HI + ",\"top_logprobs\":2", 400, "top_logprobs", "logprobs"),
                chat("max_completion_tokens zero", HI + ",\"max_completion_tokens\":0", 400, "max_completion_tokens",
                        "between 1 and"),
                chat("max_tokens over the context", HI + ",\"max_tokens\":1000", 400, "max_tokens", "1000"),
                chat("n above --max-n", HI + ",\"n\":9", 400, "n", "between 1 and 8"),
                chat("temperature above 2", HI + ",\"temperature\":3", 400, "temperature", "<= 2"),
                chat("tool without a function", HI + ",\"tools\":[{\"type\":\"function\"}]", 400, "tools[0].function",
                        "must be an object"),
                chat("tools, auto by default, without a tool-call parser", HI + ",\"tools\":[" + ToolCallingTest.TIME + "]",
                        400, "tool_choice", "--tool-call-parser"),
                chat("required without a tool-call parser", HI + ",\"tools\":[" + ToolCallingTest.TIME + "],"
                        + "\"tool_choice\":\"required\"", 400, "tool_choice", "needs the server started with --tool-call-parser"),
                chat("response_format type unknown", HI + ",\"response_format\":{\"type\":\"xml\"}", 400,
                        "response_format.type", "json_schema"),
                chat("unknown adapter", HI + ",\"adapter\":\"nope\"", 404, null, "nope"));
    }

    private static String ids(int count) {
        return IntStream.range(0, count).mapToObj(i -> "5").collect(java.util.stream.Collectors.joining(",", "[", "]"));
    }

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static void assertRow(Row row, TestServer.Reply r) {
        assertEquals(row.status(), r.status(), row.name() + ": " + r.body());
        JsonObject error = r.error();
        assertEquals("invalid_request_error", error.getString("type"), row.name());
        assertEquals(row.param() == null ? JsonValue.NULL : jakarta.json.Json.createValue(row.param()),
                error.get("param"), row.name() + ": " + r.body());
        String message = error.getString("message");
        if (row.param() != null) {
            assertTrue(message.contains("'" + row.param() + "'"), row.name() + " names its parameter: " + message);
        }
        if (row.mentions() != null) {
            assertTrue(message.contains(row.mentions()), row.name() + " mentions '" + row.mentions() + "': " + message);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void badInputGetsItsStatusAndNamesTheParameter(Row row) {
        assertRow(row, server.post(row.path(), row.body()));
    }

    @Test
    void contextLengthErrorStatesBothNumbersAndTheLimit() {
        String message = server.post(CMPL, "{\"prompt\":" + ids(200) + ",\"max_tokens\":100}").error().getString("message");
        assertTrue(message.contains("256") && message.contains("200") && message.contains("100"), message);
    }

    @Test
    void unknownFieldsAreIgnored() {
        TestServer.Reply r = server.post(CMPL, "{\"prompt\":\"Hello\",\"max_tokens\":1,\"frobnicate\":{\"x\":[1]}}");
        assertEquals(200, r.status(), r.body());
    }

    @Test
    void integralNumbersAreAcceptedForIntegerFields() {
        TestServer.Reply r = server.post(CMPL, "{\"prompt\":\"Hello\",\"max_tokens\":2.0,\"n\":1e0,\"ignore_eos\":true}");
        assertEquals(200, r.status(), r.body());
        assertEquals(2, r.json().getJsonObject("usage").getInt("completion_tokens"));
    }

    @Test
    void wrongContentTypeIs415() {
        TestServer.Reply r = TestServer.send(HttpRequest.newBuilder(server.uri(CMPL)).header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hello\"}")).build());
        assertEquals(415, r.status());
        assertTrue(r.error().getString("message").contains("application/json"));
    }

    @Test
    void invalidUtf8Is400() {
        byte[] body = "{\"prompt\":\"caf\u00e9\"}".getBytes(StandardCharsets.ISO_8859_1);
        TestServer.Reply r = TestServer.send(HttpRequest.newBuilder(server.uri(CMPL)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
        assertEquals(400, r.status());
        assertTrue(r.error().getString("message").contains("UTF-8"));
    }

    /** Helidon refuses a declared length before routing, a chunked body while it is read: both get the JSON error. */
    @Test
    void bodyOverMaxBodyBytesIs413WithTheLimitInTheMessage() {
        try (TestServer small = new TestServer(Fixtures.tinyModel(), "--max-body-bytes", "1024")) {
            String big = "{\"prompt\":\"" + "a".repeat(2000) + "\"}";
            TestServer.Reply declared = TestServer.send(HttpRequest.newBuilder(small.uri(CMPL))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(big)).build());
            TestServer.Reply chunked = TestServer.send(HttpRequest.newBuilder(small.uri(CMPL))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8))))
                    .build());
            for (TestServer.Reply r : List.of(declared, chunked)) {
                assertEquals(413, r.status(), r.body());
                assertEquals("body_too_large", r.error().getString("code"));
                assertEquals("invalid_request_error", r.error().getString("type"));
                assertTrue(r.error().getString("message").contains("1024"), r.body());
            }
            assertEquals(200, small.post(CMPL, "{\"prompt\":\"Hello\",\"max_tokens\":1}").status());
        }
    }

    /** Every bad row of the table, three times over, fired concurrently between the reference requests. */
    @Test
    void burstOfBadRequestsLeavesGoodOnesWithTheirReferenceOutput() throws InterruptedException {
        List<Fixtures.Case> cases = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).toList();
        List<Row> bad = table().toList();
        List<CompletableFuture<Runnable>> checks = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(16)) {
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < bad.size(); i++) {
                    Row row = bad.get(i);
                    checks.add(CompletableFuture.supplyAsync(() -> {
                        TestServer.Reply r = server.post(row.path(), row.body());
                        return () -> assertRow(row, r);
                    }, pool));
                    if (i % 10 == 0) {
                        Fixtures.Case c = cases.get((i / 10) % cases.size());
                        checks.add(CompletableFuture.supplyAsync(() -> {
                            TestServer.Reply r = server.post(CMPL, body(quoted(c.prompt()), c.tokens().length));
                            return () -> {
                                assertEquals(200, r.status(), r.body());
                                assertMatches(c, r.json().getJsonArray("choices").getJsonObject(0));
                            };
                        }, pool));
                    }
                }
            }
            checks.forEach(f -> f.join().run());
        }
        assertEquals(0, server.awaitEngineIdle(Duration.ofSeconds(5)).kvBlocksUsed());
    }
}
