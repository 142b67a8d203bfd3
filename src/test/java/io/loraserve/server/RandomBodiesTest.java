package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.assertMatches;
import static io.loraserve.server.BaseModelGoldenTest.body;
import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.Json;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Seeded random bodies: every known field of completions, chat and the tokenizer given values of
 * every JSON type, in- and out-of-range, several at a time. Each answer is a success or a 4xx in
 * the error shape, never a 5xx; a stream that succeeds ends with {@code [DONE]}; and a reference
 * request between them still gets its exact output.
 */
class RandomBodiesTest {
    private static final int BODIES = 300;
    private static final Set<Integer> ACCEPTABLE = Set.of(200, 400, 404, 413, 415);
    private static final List<JsonValue> VALUES = List.of(JsonValue.NULL, JsonValue.TRUE, JsonValue.FALSE,
            Json.createValue(0), Json.createValue(1), Json.createValue(-1), Json.createValue(2), Json.createValue(5),
            Json.createValue(0.5), Json.createValue(1.5), Json.createValue(-0.5), Json.createValue(1e308),
            Json.createValue(Long.MAX_VALUE), Json.createValue(511), Json.createValue(512), Json.createValue(""),
            Json.createValue("a"), Json.createValue("é中😀"), Json.createValue("1"), JsonValue.EMPTY_JSON_ARRAY,
            Json.createArrayBuilder().add(1).build(), Json.createArrayBuilder().add(1).add(2).build(),
            Json.createArrayBuilder().add(Json.createArrayBuilder().add(1)).build(),
            Json.createArrayBuilder().add("a").add("b").build(), JsonValue.EMPTY_JSON_OBJECT,
            Json.createObjectBuilder().add("a", 1).build(), Json.createObjectBuilder().add("include_usage", true).build(),
            Json.createObjectBuilder().add("1", 5).build(), Json.createObjectBuilder().add("type", "text").build(),
            Json.createArrayBuilder().add(Json.createObjectBuilder().add("role", "user").add("content", "hi")).build());
    private static final List<String> COMPLETION = List.of("prompt", "max_tokens", "temperature", "top_p", "top_k",
            "min_p", "seed", "stop", "stop_token_ids", "n", "best_of", "echo", "logprobs", "presence_penalty",
            "frequency_penalty", "repetition_penalty", "ignore_eos", "return_token_ids", "user", "stream",
            "stream_options", "model", "adapter", "logit_bias", "suffix");
    private static final List<String> CHAT = List.of("messages", "max_tokens", "max_completion_tokens", "temperature",
            "top_p", "n", "stream", "logprobs", "top_logprobs", "model", "adapter", "stop", "seed", "response_format",
            "tools", "logit_bias", "stream_options");
    private static final List<String> TOKENIZER = List.of("prompt", "messages", "tokens", "model", "add_special_tokens",
            "return_token_strs");
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void randomBodiesGetAnAnswerOrAClearRefusalAndHurtNobody() {
        Random random = new Random(20261124);
        Fixtures.Case reference = Fixtures.tinyCases().getFirst();
        for (int i = 0; i < BODIES; i++) {
            double kind = random.nextDouble();
            String path;
            JsonObjectBuilder b = Json.createObjectBuilder();
            List<String> fields;
            if (kind < 0.45) {
                path = "/v1/completions";
                b.add("prompt", "Hi");
                fields = COMPLETION;
            } else if (kind < 0.85) {
                path = "/v1/chat/completions";
                b.add("messages", Json.createArrayBuilder().add(Json.createObjectBuilder().add("role", "user")
                        .add("content", "Hi")));
                fields = CHAT;
            } else {
                path = random.nextBoolean() ? "/tokenize" : "/detokenize";
                fields = TOKENIZER;
            }
            b.add("max_tokens", 1 + random.nextInt(4));
            List<String> shuffled = new ArrayList<>(fields);
            Collections.shuffle(shuffled, random);
            for (String field : shuffled.subList(0, 1 + random.nextInt(6))) {
                b.add(field, VALUES.get(random.nextInt(VALUES.size())));
            }
            String body = b.build().toString();
            TestServer.Reply r = server.post(path, body);
            assertTrue(ACCEPTABLE.contains(r.status()), r.status() + " for " + path + " " + body + ": " + r.body());
            if (r.status() != 200) {
                assertEquals(Set.of("message", "type", "param", "code"), r.error().keySet(), body);
            } else if (body.contains("\"stream\":true")) {
                assertTrue(r.body().stripTrailing().endsWith("data: [DONE]"), body + ": " + r.body());
            }
            if (i % 50 == 0) {
                TestServer.Reply good = server.post("/v1/completions", body(quoted(reference.prompt()),
                        reference.tokens().length));
                assertMatches(reference, good.json().getJsonArray("choices").getJsonObject(0));
            }
        }
    }
}
