package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.ids;
import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.tokenizer.Tokenizer;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /v1/chat/completions} over real HTTP: a chat is a completion of the rendered template.
 * Every check compares the chat answer with {@code /v1/completions} given the token ids the
 * template must produce, so the template, the tokenization (no special tokens added) and the
 * response shapes are each pinned down.
 */
class ChatCompletionsTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String HELLO = "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]";
    private static TestServer server;
    private static Tokenizer tokenizer;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel());
        tokenizer = Tokenizer.load(Fixtures.tinyModel());
    }

    @AfterAll
    static void stop() {
        server.close();
        tokenizer.close();
    }

    /** What {@code /v1/completions} generates greedily from {@code promptIds}. */
    private static JsonObject completion(TestServer s, int[] promptIds, int maxTokens) {
        TestServer.Reply r = s.post("/v1/completions", "{\"prompt\":" + ids(promptIds) + ",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"ignore_eos\":true}");
        assertEquals(200, r.status(), r.body());
        return r.json();
    }

    private static String greedy(String messages, int maxTokens, String extra) {
        return "{" + messages + ",\"max_tokens\":" + maxTokens + ",\"temperature\":0,\"ignore_eos\":true" + extra + "}";
    }

    @Test
    void answerIsTheCompletionOfTheDefaultTemplate() {
        int[] prompt = tokenizer.encodeWithoutSpecial("<s><|user|>\nHello\n<|assistant|>\n");
        TestServer.Reply r = server.post(CHAT, greedy(HELLO, 8, ""));
        assertEquals(200, r.status(), r.body());
        JsonObject chat = r.json();
        assertEquals("chat.completion", chat.getString("object"));
        assertTrue(chat.getString("id").startsWith("chatcmpl-"));
        assertEquals("tiny-llama", chat.getString("model"));
        JsonObject choice = chat.getJsonArray("choices").getJsonObject(0);
        assertEquals(0, choice.getInt("index"));
        assertEquals("assistant", choice.getJsonObject("message").getString("role"));
        assertEquals("length", choice.getString("finish_reason"));
        assertEquals(JsonValue.NULL, choice.get("logprobs"));
        JsonObject completion = completion(server, prompt, 8);
        assertEquals(completion.getJsonArray("choices").getJsonObject(0).getString("text"),
                choice.getJsonObject("message").getString("content"));
        assertEquals(completion.getJsonObject("usage"), chat.getJsonObject("usage"));
        assertEquals(prompt.length, chat.getJsonObject("usage").getInt("prompt_tokens"));
    }

    @Test
    void modelsOwnTemplateFromTokenizerConfigIsUsed(@TempDir Path dir) throws IOException {
        Path model = dir.resolve("chatml-llama");
        Files.createDirectories(model);
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            Files.createSymbolicLink(model.resolve(f), Fixtures.tinyModel().resolve(f));
        }
        String chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
                + " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        Files.writeString(model.resolve("tokenizer_config.json"), "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\","
                + "\"chat_template\":" + quoted(chatml) + "}");
        try (TestServer own = new TestServer(model)) {
            int[] prompt = tokenizer.encodeWithoutSpecial("<|im_start|>system\nBe brief.<|im_end|>\n"
                    + "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
            TestServer.Reply r = own.post(CHAT, greedy("\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                    + "{\"role\":\"user\",\"content\":\"Hello\"}]", 6, ""));
            assertEquals(200, r.status(), r.body());
            assertEquals(prompt.length, r.json().getJsonObject("usage").getInt("prompt_tokens"));
            assertEquals(completion(own, prompt, 6).getJsonArray("choices").getJsonObject(0).getString("text"),
                    r.json().getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"));
        }
    }

    @Test
    void templateThatRaisesGivesA400(@TempDir Path dir) throws IOException {
        Path model = dir.resolve("strict-llama");
        Files.createDirectories(model);
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            Files.createSymbolicLink(model.resolve(f), Fixtures.tinyModel().resolve(f));
        }
        Files.writeString(model.resolve("tokenizer_config.json"), "{\"chat_template\":" + quoted(
                "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
                        + "{{ messages[0]['content'] }}") + "}");
        try (TestServer strict = new TestServer(model)) {
            TestServer.Reply r = strict.post(CHAT, greedy("\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]", 2, ""));
            assertEquals(400, r.status(), r.body());
            assertEquals("messages", r.error().getString("param"));
            assertTrue(r.error().getString("message").contains("System role not supported"));
            assertEquals(200, strict.post(CHAT, greedy(HELLO, 2, "")).status());
        }
    }

    @Test
    void streamOpensWithTheRoleAndConcatenatesToTheAnswer() {
        String content = server.post(CHAT, greedy(HELLO, 10, "")).json().getJsonArray("choices").getJsonObject(0)
                .getJsonObject("message").getString("content");
        List<JsonObject> chunks = server.postStream(CHAT, greedy(HELLO, 10,
                ",\"stream\":true,\"stream_options\":{\"include_usage\":true}")).chunks();
        JsonObject first = chunks.getFirst().getJsonArray("choices").getJsonObject(0);
        assertEquals("assistant", first.getJsonObject("delta").getString("role"));
        StringBuilder streamed = new StringBuilder();
        String finish = null;
        for (JsonObject chunk : chunks.subList(0, chunks.size() - 1)) {
            assertEquals("chat.completion.chunk", chunk.getString("object"));
            JsonObject choice = chunk.getJsonArray("choices").getJsonObject(0);
            streamed.append(choice.getJsonObject("delta").getString("content", ""));
            if (choice.get("finish_reason") != JsonValue.NULL) {
                finish = choice.getString("finish_reason");
            }
        }
        assertEquals(content, streamed.toString());
        assertEquals("length", finish);
        assertEquals(10, chunks.getLast().getJsonObject("usage").getInt("completion_tokens"));
        assertEquals(0, chunks.getLast().getJsonArray("choices").size());
    }

    @Test
    void maxCompletionTokensIsTheNewNameOfMaxTokensAndWins() {
        TestServer.Reply r = server.post(CHAT, "{" + HELLO + ",\"max_completion_tokens\":3,\"max_tokens\":7,\"ignore_eos\":true}");
        assertEquals(200, r.status(), r.body());
        assertEquals(3, r.json().getJsonObject("usage").getInt("completion_tokens"));
    }

    @Test
    void withoutALimitTheAnswerMayFillTheContext() {
        JsonObject usage = server.post(CHAT, "{" + HELLO + ",\"temperature\":0,\"ignore_eos\":true}").json()
                .getJsonObject("usage");
        assertEquals(256, usage.getInt("total_tokens"));
    }

    @Test
    void logprobsListEveryTokenWithItsTopAlternatives() {
        JsonObject choice = server.post(CHAT, greedy(HELLO, 4, ",\"logprobs\":true,\"top_logprobs\":2")).json()
                .getJsonArray("choices").getJsonObject(0);
        List<JsonObject> content = choice.getJsonObject("logprobs").getJsonArray("content").getValuesAs(JsonObject.class);
        assertEquals(4, content.size());
        for (JsonObject token : content) {
            List<JsonObject> top = token.getJsonArray("top_logprobs").getValuesAs(JsonObject.class);
            assertEquals(2, top.size());
            assertEquals(token.getString("token"), top.getFirst().getString("token"), "greedy picks the most likely");
            assertEquals(token.getJsonNumber("logprob").doubleValue(), top.getFirst().getJsonNumber("logprob").doubleValue());
            assertTrue(token.getJsonNumber("logprob").doubleValue() <= 0);
            assertTrue(token.containsKey("bytes"));
        }
    }

    @Test
    void textPartsAreJoinedWithNewlines() {
        String parts = "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hel\"},"
                + "{\"type\":\"text\",\"text\":\"lo\"}]}]";
        int[] prompt = tokenizer.encodeWithoutSpecial("<s><|user|>\nHel\nlo\n<|assistant|>\n");
        assertEquals(prompt.length, server.post(CHAT, greedy(parts, 1, "")).json().getJsonObject("usage")
                .getInt("prompt_tokens"));
    }

    @Test
    void nChoicesAreNumberedFromZero() {
        JsonObject chat = server.post(CHAT, greedy(HELLO, 3, ",\"n\":3")).json();
        assertEquals(3, chat.getJsonArray("choices").size());
        for (int i = 0; i < 3; i++) {
            assertEquals(i, chat.getJsonArray("choices").getJsonObject(i).getInt("index"));
        }
        assertEquals(9, chat.getJsonObject("usage").getInt("completion_tokens"));
    }

    /**
     * A token that holds only part of a character shows as U+FFFD but reports its own bytes, as
     * OpenAI's do: forced with logit_bias, the first token of "中" reports the first byte(s) of
     * its UTF-8, not those of U+FFFD.
     */
    @Test
    void logprobBytesOfAPartialCharacterAreTheTokensOwn() {
        JsonObject t = server.post("/tokenize", "{\"prompt\":\"中\",\"add_special_tokens\":false,\"return_token_strs\":true}")
                .json();
        int partial = t.getJsonArray("tokens").getInt(0);
        assertEquals("\uFFFD", t.getJsonArray("token_strs").getString(0), "the first token of 中 is part of it");
        TestServer.Reply r = server.post(CHAT, greedy(HELLO, 2, ",\"logprobs\":true,\"logit_bias\":{\"" + partial
                + "\":100}"));
        assertEquals(200, r.status(), r.body());
        JsonObject entry = r.json().getJsonArray("choices").getJsonObject(0).getJsonObject("logprobs")
                .getJsonArray("content").getJsonObject(0);
        assertEquals("\uFFFD", entry.getString("token"));
        byte[] utf8 = "中".getBytes(StandardCharsets.UTF_8);
        List<Integer> bytes = entry.getJsonArray("bytes").getValuesAs(JsonNumber.class).stream()
                .map(JsonNumber::intValue).toList();
        assertTrue(!bytes.isEmpty() && bytes.size() < utf8.length, "a part of the character: " + bytes);
        for (int i = 0; i < bytes.size(); i++) {
            assertEquals(utf8[i] & 0xff, bytes.get(i), "byte " + i + " of " + bytes);
        }
    }

    /** vLLM's rendering switches: both at once is a 400; a continued final message is billed as /tokenize counts it. */
    @Test
    void continueFinalMessageAndAddGenerationPrompt() {
        String chat = "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"},{\"role\":\"assistant\",\"content\":\"Hi the\"}]";
        TestServer.Reply both = server.post(CHAT, "{" + chat + ",\"continue_final_message\":true}");
        assertEquals(400, both.status(), both.body());
        assertEquals("continue_final_message", both.error().getString("param"));
        String continued = ",\"continue_final_message\":true,\"add_generation_prompt\":false";
        TestServer.Reply r = server.post(CHAT, "{" + chat + continued + ",\"max_tokens\":2}");
        assertEquals(200, r.status(), r.body());
        int counted = server.post("/tokenize", "{" + chat + continued + "}").json().getInt("count");
        assertEquals(counted, r.json().getJsonObject("usage").getInt("prompt_tokens"));
        int opened = server.post("/tokenize", "{" + chat + "}").json().getInt("count");
        assertTrue(opened > counted, "the generation prompt adds tokens: " + opened + " vs " + counted);
    }
}
