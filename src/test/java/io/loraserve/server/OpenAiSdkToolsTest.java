package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionNamedToolChoice;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.StructuredChatCompletion;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK, unmodified, against the demo server started with
 * {@code --tool-call-parser hermes}: structured output through the SDK's own class-to-schema
 * API, tool calls with {@code required} and a named function (plain and streamed, the stream put
 * together by the SDK's accumulator), each parsed by the SDK and checked against the schema; and
 * {@code auto}, not enabled on this server, as the SDK's BadRequestException.
 */
class OpenAiSdkToolsTest {
    private static TestServer server;
    private static OpenAIClient client;

    /** What the SDK turns into a JSON schema for {@code response_format}. */
    public enum City { PARIS, OSLO }

    /** The structured output's class: all fields required, no others (the SDK's strict schema). */
    public static class Forecast {
        @JsonProperty(required = true)
        public City city;
        @JsonProperty(required = true)
        public boolean sunny;
    }

    /** get_weather's arguments, read by the SDK from the call's JSON. */
    public static class WeatherArguments {
        @JsonProperty(required = true)
        public String city;
        @JsonProperty(required = true)
        public long days;
    }

    @BeforeAll
    static void start() {
        server = TestServer.demo(Path.of("").toAbsolutePath(), "--tool-call-parser", "hermes");
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.server.port() + "/v1").apiKey("none")
                .maxRetries(0).build();
    }

    @AfterAll
    static void stop() {
        client.close();
        server.close();
    }

    private static ChatCompletionCreateParams.Builder chat(String model, long seed) {
        return ChatCompletionCreateParams.builder().model(model).addUserMessage("Weather in Oslo?")
                .maxCompletionTokens(150).temperature(1.0).seed(seed);
    }

    private static ChatCompletionFunctionTool weatherTool() {
        Map<String, Object> parameters = Map.of("type", "object",
                "properties", Map.of("city", Map.of("type", "string", "enum", List.of("Paris", "Oslo")),
                        "days", Map.of("type", "integer", "minimum", 1, "maximum", 7)),
                "required", List.of("city", "days"), "additionalProperties", false);
        FunctionParameters.Builder p = FunctionParameters.builder();
        parameters.forEach((k, v) -> p.putAdditionalProperty(k, JsonValue.from(v)));
        return ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder().name("get_weather")
                .description("Weather in a city").parameters(p.build()).build()).build();
    }

    private static ChatCompletionFunctionTool timeTool() {
        FunctionParameters p = FunctionParameters.builder().putAdditionalProperty("type", JsonValue.from("object"))
                .putAdditionalProperty("properties", JsonValue.from(Map.of("utc", Map.of("type", "boolean"))))
                .putAdditionalProperty("required", JsonValue.from(List.of("utc")))
                .putAdditionalProperty("additionalProperties", JsonValue.from(false)).build();
        return ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder().name("get_time").parameters(p)
                .build()).build();
    }

    @Test
    void structuredOutputParsesIntoTheClass() {
        for (String model : StructuredOutputTest.MODELS) {
            StructuredChatCompletion<Forecast> c = client.chat().completions().create(chat(model, 5)
                    .responseFormat(Forecast.class).build());
            Forecast f = c.choices().getFirst().message().content().orElseThrow();
            assertNotNull(f.city, model);
            assertEquals(ChatCompletion.Choice.FinishReason.STOP, c.choices().getFirst().finishReason());
        }
    }

    @Test
    void requiredAndNamedToolCallsParse() {
        for (String model : StructuredOutputTest.MODELS) {
            ChatCompletion required = client.chat().completions().create(chat(model, 7).addTool(weatherTool())
                    .addTool(timeTool()).toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).parallelToolCalls(false)
                    .build());
            ChatCompletion.Choice c = required.choices().getFirst();
            assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, c.finishReason(), model);
            ChatCompletionMessageFunctionToolCall call = c.message().toolCalls().orElseThrow().getFirst().asFunction();
            assertTrue(ToolCallingTest.validArguments(call.function().name(), call.function().arguments()), call.toString());

            ChatCompletion named = client.chat().completions().create(chat(model, 8).addTool(weatherTool())
                    .addTool(timeTool()).toolChoice(ChatCompletionNamedToolChoice.builder()
                            .function(ChatCompletionNamedToolChoice.Function.builder().name("get_weather").build()).build())
                    .parallelToolCalls(false).build());
            ChatCompletionMessageFunctionToolCall weather = named.choices().getFirst().message().toolCalls().orElseThrow()
                    .getFirst().asFunction();
            assertEquals("get_weather", weather.function().name());
            assertTrue(ToolCallingTest.validArguments("get_weather", weather.function().arguments()));
            WeatherArguments args = weather.function().arguments(WeatherArguments.class);
            assertTrue(List.of("Paris", "Oslo").contains(args.city) && args.days >= 1 && args.days <= 7, weather.toString());
        }
    }

    @Test
    void streamedToolCallAccumulatesToTheSameCall() {
        ChatCompletionCreateParams params = chat("legal", 9).addTool(weatherTool()).addTool(timeTool())
                .toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).parallelToolCalls(false).build();
        ChatCompletionMessageFunctionToolCall whole = client.chat().completions().create(params).choices().getFirst()
                .message().toolCalls().orElseThrow().getFirst().asFunction();
        ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(acc::accumulate);
        }
        ChatCompletion.Choice streamed = acc.chatCompletion().choices().getFirst();
        assertEquals(ChatCompletion.Choice.FinishReason.TOOL_CALLS, streamed.finishReason());
        ChatCompletionMessageFunctionToolCall call = streamed.message().toolCalls().orElseThrow().getFirst().asFunction();
        assertEquals(whole.function().name(), call.function().name());
        assertEquals(whole.function().arguments(), call.function().arguments());
        assertTrue(call.id().startsWith("call_"));
    }

    @Test
    void autoIsRefusedUnlessEnabled() {
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.chat().completions()
                .create(chat("code", 1).addTool(timeTool()).build()));
        assertEquals(400, e.statusCode());
        assertTrue(e.getMessage().contains("--enable-auto-tool-choice"), e.getMessage());
    }
}
