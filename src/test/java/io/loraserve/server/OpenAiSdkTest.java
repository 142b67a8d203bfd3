package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import io.loraserve.Fixtures;
import java.net.http.HttpRequest;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK, unmodified, against a real server with an API key: completions,
 * streamed completions, chat, streamed chat, and errors as the SDK's exceptions. Answers are
 * compared with what plain HTTP gets, which the golden tests pin to the reference.
 */
class OpenAiSdkTest {
    private static final String KEY = "sk-sdk-test";
    private static final String PROMPT = "Hello, world";
    private static TestServer server;
    private static OpenAIClient client;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--api-key", KEY);
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.server.port() + "/v1").apiKey(KEY)
                .maxRetries(0).build();
    }

    @AfterAll
    static void stop() {
        client.close();
        server.close();
    }

    /** The same request over plain HTTP, for the reference answer. */
    private static String plainHttp(String path, String body) {
        return TestServer.send(HttpRequest.newBuilder(server.uri(path))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build()).body();
    }

    private static CompletionCreateParams completionParams() {
        return CompletionCreateParams.builder().model("tiny-llama").prompt(PROMPT).maxTokens(12).temperature(0.0)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
    }

    private static ChatCompletionCreateParams chatParams() {
        return ChatCompletionCreateParams.builder().model("tiny-llama").addUserMessage("Hello").maxCompletionTokens(12)
                .temperature(0.0).putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
    }

    private static String expectedCompletion() {
        return TestServer.parse(plainHttp("/v1/completions", "{\"prompt\":\"" + PROMPT
                + "\",\"max_tokens\":12,\"temperature\":0,\"ignore_eos\":true}"))
                .getJsonArray("choices").getJsonObject(0).getString("text");
    }

    private static String expectedChat() {
        return TestServer.parse(plainHttp("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                + "\"max_completion_tokens\":12,\"temperature\":0,\"ignore_eos\":true}"))
                .getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content");
    }

    @Test
    void completion() {
        Completion c = client.completions().create(completionParams());
        assertEquals(expectedCompletion(), c.choices().getFirst().text());
        assertEquals(12, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void streamedCompletion() {
        StringBuilder text = new StringBuilder();
        try (StreamResponse<Completion> stream = client.completions().createStreaming(completionParams())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(choice -> text.append(choice.text())));
        }
        assertEquals(expectedCompletion(), text.toString());
    }

    @Test
    void chat() {
        ChatCompletion c = client.chat().completions().create(chatParams());
        assertEquals(expectedChat(), c.choices().getFirst().message().content().orElseThrow());
        assertEquals(12, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void streamedChatWithUsage() {
        StringBuilder text = new StringBuilder();
        long[] usage = {-1};
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(chatParams().toBuilder()
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunk -> {
                chunk.choices().forEach(choice -> choice.delta().content().ifPresent(text::append));
                chunk.usage().ifPresent(u -> usage[0] = u.completionTokens());
            });
        }
        assertEquals(expectedChat(), text.toString());
        assertEquals(12, usage[0]);
    }

    @Test
    void badRequestAndWrongKeyBecomeTheSdksExceptions() {
        BadRequestException bad = assertThrows(BadRequestException.class, () -> client.completions()
                .create(completionParams().toBuilder().temperature(7.0).build()));
        assertTrue(bad.getMessage().contains("temperature"), bad.getMessage());
        OpenAIClient wrongKey = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.server.port() + "/v1")
                .apiKey("sk-wrong").maxRetries(0).build();
        try {
            assertThrows(UnauthorizedException.class, () -> wrongKey.completions().create(completionParams()));
        } finally {
            wrongKey.close();
        }
    }

    @Test
    void modelsListAndRetrieve() {
        List<String> ids = client.models().list().data().stream().map(Model::id).toList();
        assertTrue(ids.contains(server.server.served().name()), ids.toString());
        assertEquals(server.server.served().name(), client.models().retrieve(server.server.served().name()).id());
        assertThrows(NotFoundException.class, () -> client.models().retrieve("no-such-model"));
    }
}
