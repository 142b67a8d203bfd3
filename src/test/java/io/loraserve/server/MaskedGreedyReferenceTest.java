package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.Fixtures;
import io.loraserve.SafeTensorsIo;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.ReferenceLlama;
import io.loraserve.tokenizer.Tokenizer;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Greedy decoding under a constraint equals an obvious reference: at each step, the unconstrained
 * logits of the float64 {@link ReferenceLlama}, every token whose bytes keep the output a viable
 * prefix (judged by java.util.regex's {@code hitEnd}, or by the choices' prefixes, not by the
 * server's automaton), EOS only once the output is complete, and the largest logit among them.
 */
class MaskedGreedyReferenceTest {
    private static final int EOS = 2;
    private static TestServer server;
    private static Tokenizer tokenizer;
    private static ReferenceLlama reference;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel());
        tokenizer = Tokenizer.load(Fixtures.tinyModel());
        reference = new ReferenceLlama(ModelConfig.load(Fixtures.tinyModel()),
                SafeTensorsIo.read(Fixtures.tinyModel().resolve("model.safetensors")));
    }

    @AfterAll
    static void stop() {
        server.close();
        tokenizer.close();
    }

    @Test
    void regexGreedyEqualsMaskedGreedyReference() {
        String regex = "[a-z]{2,5}( [a-z]{1,3})?, [0-9]{1,2}\\.";
        Pattern p = Pattern.compile(regex);
        for (String prompt : List.of("Hello, world", "The quick brown fox")) {
            assertSame(prompt, "\"guided_regex\":" + Json.createValue(regex), s -> viable(p, s), s -> p.matcher(s).matches());
        }
    }

    @Test
    void choiceGreedyEqualsMaskedGreedyReference() {
        List<String> choices = List.of("red apple", "green", "gray wolf", "blue");
        for (String prompt : List.of("Hello, world", "Once upon a time")) {
            assertSame(prompt, "\"guided_choice\":" + Json.createArrayBuilder(choices).build(),
                    s -> choices.stream().anyMatch(c -> c.startsWith(s)), choices::contains);
        }
    }

    private static boolean viable(Pattern p, String s) {
        java.util.regex.Matcher m = p.matcher(s);
        return m.matches() || m.hitEnd();
    }

    /** Output strings are the bytes as ISO-8859-1, so a partial UTF-8 character is never viable for these ASCII constraints. */
    private static void assertSame(String prompt, String constraint, Predicate<String> viable, Predicate<String> complete) {
        JsonObject body = server.post("/v1/completions", "{\"prompt\":" + Json.createValue(prompt)
                + ",\"max_tokens\":40,\"temperature\":0,\"return_token_ids\":true," + constraint + "}").json();
        JsonObject choice = body.getJsonArray("choices").getJsonObject(0);
        int[] served = choice.getJsonArray("token_ids").getValuesAs(jakarta.json.JsonNumber.class).stream()
                .mapToInt(jakarta.json.JsonNumber::intValue).toArray();
        int[] prompted = tokenizer.encode(prompt);
        List<Integer> expected = new ArrayList<>();
        String out = "";
        while (expected.size() < 40) {
            int[] ids = Arrays.copyOf(prompted, prompted.length + expected.size());
            for (int i = 0; i < expected.size(); i++) {
                ids[prompted.length + i] = expected.get(i);
            }
            double[] logits = reference.lastLogits(ids);
            int best = -1;
            for (int t = 0; t < logits.length; t++) {
                boolean allowed = t == EOS ? complete.test(out)
                        : !tokenizer.decode(new int[] {t}).isEmpty()
                        && viable.test(out + new String(tokenizer.tokenBytes(t), StandardCharsets.ISO_8859_1));
                if (allowed && (best < 0 || logits[t] > logits[best])) {
                    best = t;
                }
            }
            expected.add(best);
            if (best == EOS) {
                break;
            }
            out += new String(tokenizer.tokenBytes(best), StandardCharsets.ISO_8859_1);
        }
        assertArrayEquals(expected.stream().mapToInt(Integer::intValue).toArray(), served, prompt + ": " + out);
        assertEquals("stop", choice.getString("finish_reason"));
        assertEquals(true, complete.test(choice.getString("text")), choice.getString("text"));
    }
}
