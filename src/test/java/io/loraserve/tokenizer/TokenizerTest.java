package io.loraserve.tokenizer;

import io.loraserve.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.json.Json;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class TokenizerTest {

    static final Path TINY = Fixtures.tinyModel();
    static final Path DEMO = Fixtures.demoModel();

    private static Tokenizer tiny;
    private static Tokenizer demo;

    @BeforeAll
    static void loadTokenizers() {
        tiny = Tokenizer.load(TINY);
        demo = Tokenizer.load(DEMO);
    }

    @AfterAll
    static void closeTokenizers() {
        tiny.close();
        demo.close();
    }

    /** Each distinct prompt of both expected.json files, with its model and reference ids. */
    static Stream<Arguments> referencePrompts() throws IOException {
        List<Arguments> prompts = new ArrayList<>();
        for (String model : List.of("fixtures", "demo")) {
            Map<String, int[]> idsByPrompt = new LinkedHashMap<>();
            Path expected = Fixtures.data().resolve(model + "/expected.json");
            try (JsonReader reader = Json.createReader(Files.newBufferedReader(expected))) {
                for (JsonValue value : reader.readObject().getJsonArray("cases")) {
                    JsonObject c = value.asJsonObject();
                    int[] ids = c.getJsonArray("prompt_ids").getValuesAs(JsonNumber.class).stream()
                            .mapToInt(JsonNumber::intValue)
                            .toArray();
                    idsByPrompt.putIfAbsent(c.getString("prompt"), ids);
                }
            }
            idsByPrompt.forEach((prompt, ids) -> prompts.add(Arguments.of(model, prompt, ids)));
        }
        return prompts.stream();
    }

    private static Tokenizer tokenizerOf(String model) {
        return model.equals("demo") ? demo : tiny;
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("referencePrompts")
    void encodesEveryReferencePromptToItsPromptIds(String model, String prompt, int[] promptIds) {
        assertArrayEquals(promptIds, tokenizerOf(model).encode(prompt));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("referencePrompts")
    void decodeGivesBackEveryReferencePromptWithoutTheBos(
            String model, String prompt, int[] promptIds) {
        Tokenizer tokenizer = tokenizerOf(model);
        assertEquals(prompt, tokenizer.decode(tokenizer.encode(prompt)));
        assertEquals(prompt, tokenizer.decode(tokenizer.encodeWithoutSpecial(prompt)));
    }

    @Test
    void encodePrependsBosOnceAndEncodeWithoutSpecialAddsNothing() {
        String text = "Hello, world";
        int[] withSpecial = tiny.encode(text);
        int[] plain = tiny.encodeWithoutSpecial(text);
        assertEquals(1, withSpecial[0]);
        assertArrayEquals(plain, Arrays.copyOfRange(withSpecial, 1, withSpecial.length));
        assertArrayEquals(new int[] {1}, tiny.encode(""));
        assertArrayEquals(new int[0], tiny.encodeWithoutSpecial(""));
    }

    @Test
    void longPromptsAreNeverTruncated() {
        String text = "The base model stays frozen while adapters change. ".repeat(300);
        int[] ids = demo.encode(text);
        assertTrue(ids.length > 2000, "only " + ids.length + " tokens");
        assertEquals(text, demo.decode(ids));
    }

    @Test
    void textOutsideTheTrainingAlphabetRoundTrips() {
        List<String> texts = List.of("emoji 🙂 𝔘𝔫𝔦", "tab\tnewline\n", "nul\u0000byte", " spaces  ");
        for (String text : texts) {
            assertEquals(text, tiny.decode(tiny.encode(text)), text);
        }
    }

    @Test
    void readsBosAndEosFromTokenizerConfig() {
        for (Tokenizer tokenizer : List.of(tiny, demo)) {
            assertEquals(Optional.of("<s>"), tokenizer.bosToken());
            assertEquals(Optional.of("</s>"), tokenizer.eosToken());
            assertEquals(OptionalInt.of(1), tokenizer.bosId());
            assertEquals(OptionalInt.of(2), tokenizer.eosId());
            assertEquals(Optional.empty(), tokenizer.chatTemplate());
        }
    }

    @Test
    void keepsTheRawChatTemplateAndAcceptsAddedTokenObjects(@TempDir Path dir) throws IOException {
        Files.copy(TINY.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        String template = "{% for m in messages %}{{ bos_token }}{{ m['role'] }}: "
                + "{{ m['content'] }}\n{% endfor %}";
        Files.writeString(
                dir.resolve("tokenizer_config.json"),
                Json.createObjectBuilder()
                        .add("bos_token", "<s>")
                        .add("eos_token", Json.createObjectBuilder()
                                .add("__type", "AddedToken").add("content", "</s>"))
                        .add("chat_template", template)
                        .build()
                        .toString());
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            assertEquals(Optional.of(template), tokenizer.chatTemplate());
            assertEquals(OptionalInt.of(2), tokenizer.eosId());
        }
    }

    @Test
    void loadsWithoutTokenizerConfig(@TempDir Path dir) throws IOException {
        Files.copy(TINY.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            assertEquals(OptionalInt.empty(), tokenizer.bosId());
            assertEquals(OptionalInt.empty(), tokenizer.eosId());
            assertArrayEquals(tiny.encode("Hello, world"), tokenizer.encode("Hello, world"));
        }
    }

    @Test
    void vocabSizeCountsModelVocabularyAndAddedTokens() {
        assertEquals(512, tiny.vocabSize());
        assertEquals(2048, demo.vocabSize());
    }

    @Test
    void tokenTextShowsOneTokenAndSpecialTokensVerbatim() {
        int[] hello = tiny.encodeWithoutSpecial("Hello");
        StringBuilder joined = new StringBuilder();
        for (int id : hello) {
            joined.append(tiny.tokenText(id));
        }
        assertEquals("Hello", joined.toString());
        assertEquals("<s>", tiny.tokenText(1));
        assertEquals("</s>", tiny.tokenText(2));
        assertEquals("", tiny.decode(new int[] {1, 2}));
    }

    @Test
    void missingTokenizerJsonIsALoadErrorNamingTheFile(@TempDir Path dir) {
        Path file = dir.resolve("tokenizer.json");
        TokenizerLoadException e =
                assertThrows(TokenizerLoadException.class, () -> Tokenizer.load(dir));
        assertEquals(file, e.file());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    }

    @Test
    void corruptTokenizerJsonIsALoadErrorNamingTheFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        for (String corrupt : List.of("{\"version\": \"1.0\", \"model\": {", "{}", "[1, 2]", "")) {
            Files.writeString(file, corrupt);
            TokenizerLoadException e =
                    assertThrows(TokenizerLoadException.class, () -> Tokenizer.load(dir), corrupt);
            assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        }
    }

    @Test
    void corruptTokenizerConfigIsALoadErrorNamingTheFile(@TempDir Path dir) throws IOException {
        Files.copy(TINY.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Path config = dir.resolve("tokenizer_config.json");
        for (String corrupt : List.of("{\"bos_token\": ", "{\"eos_token\": \"not one token\"}",
                "{\"add_bos_token\": \"yes\"}", "{\"bos_token\": 7}")) {
            Files.writeString(config, corrupt);
            TokenizerLoadException e =
                    assertThrows(TokenizerLoadException.class, () -> Tokenizer.load(dir), corrupt);
            assertEquals(config, e.file(), corrupt);
            assertTrue(e.getMessage().startsWith(config.toString()), e.getMessage());
        }
    }

    @Test
    void concurrentEncodesFromEightThreadsGiveIdenticalIds() throws Exception {
        List<String> texts = referencePrompts().map(a -> (String) a.get()[1]).distinct().toList();
        List<int[]> expected = texts.stream().map(demo::encode).toList();
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int thread = 0; thread < 8; thread++) {
                results.add(pool.submit(() -> {
                    for (int round = 0; round < 500; round++) {
                        for (int i = 0; i < texts.size(); i++) {
                            if (!Arrays.equals(expected.get(i), demo.encode(texts.get(i)))) {
                                return false;
                            }
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> result : results) {
                assertTrue(result.get());
            }
        }
    }

    @Test
    void callsAfterCloseFailInsteadOfTouchingFreedMemory() {
        Tokenizer tokenizer = Tokenizer.load(TINY);
        tokenizer.close();
        tokenizer.close();
        assertThrows(IllegalStateException.class, () -> tokenizer.encode("Hello"));
        assertThrows(IllegalStateException.class, () -> tokenizer.decode(new int[] {42}));
    }

    /** Texts whose encodings hold tokens that are parts of characters (U+FFFD as text). */
    private static final List<String> MULTIBYTE = List.of("é中😀 naïve 𝔘𝔫𝔦", "日本語のテキスト", "Hello, world");

    /** Byte-level BPE: each token's bytes, joined, are the UTF-8 of the text, partial characters included. */
    @Test
    void tokenBytesJoinToTheTextEvenWhereTokensSplitACharacter() {
        for (Tokenizer t : List.of(tiny, demo)) {
            boolean sawPartial = false;
            for (String text : MULTIBYTE) {
                ByteArrayOutputStream joined = new ByteArrayOutputStream();
                for (int id : t.encodeWithoutSpecial(text)) {
                    byte[] b = t.tokenBytes(id);
                    joined.writeBytes(b);
                    sawPartial |= t.tokenText(id).contains("\uFFFD")
                            && !Arrays.equals(b, "\uFFFD".getBytes(StandardCharsets.UTF_8));
                }
                assertArrayEquals(text.getBytes(StandardCharsets.UTF_8), joined.toByteArray(), text);
            }
            assertTrue(sawPartial, "some token holds part of a character and reports its own bytes");
            assertArrayEquals("</s>".getBytes(StandardCharsets.UTF_8), t.tokenBytes(2), "an added token is its content");
        }
    }

    /**
     * SentencePiece with byte fallback (Llama 2, Mistral): {@code <0xE4>} pieces are one byte and
     * {@code ▁} is a space. A minimal tokenizer.json of that kind, loaded by the real library.
     */
    @Test
    void sentencePieceByteFallbackPiecesAreTheirBytes(@TempDir Path dir) throws IOException {
        StringBuilder vocab = new StringBuilder("\"<unk>\":0,\"<s>\":1,\"</s>\":2");
        for (int b = 0; b < 256; b++) {
            vocab.append(String.format(",\"<0x%02X>\":%d", b, 3 + b));
        }
        vocab.append(",\"\u2581\":259,\"\u2581a\":260,\"a\":261,\"b\":262");
        Files.writeString(dir.resolve("tokenizer.json"), """
                {"version":"1.0","truncation":null,"padding":null,
                 "added_tokens":[{"id":0,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                                 {"id":1,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                                 {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
                 "normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"\u2581"},
                               {"type":"Replace","pattern":{"String":" "},"content":"\u2581"}]},
                 "pre_tokenizer":null,"post_processor":null,
                 "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"\u2581"},"content":" "},
                            {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
                 "model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,
                          "end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,
                          "vocab":{%s},"merges":["\u2581 a"]}}
                """.formatted(vocab));
        try (Tokenizer t = Tokenizer.load(dir)) {
            String text = "a 中b";
            ByteArrayOutputStream joined = new ByteArrayOutputStream();
            int[] ids = t.encodeWithoutSpecial(text);
            for (int id : ids) {
                joined.writeBytes(t.tokenBytes(id));
            }
            assertEquals(text, t.decode(ids));
            assertArrayEquals((" " + text).getBytes(StandardCharsets.UTF_8), joined.toByteArray(),
                    "the leading space is the normalizer's ▁ before the first word");
            assertArrayEquals(new byte[] {(byte) 0xE4}, t.tokenBytes(3 + 0xE4));
        }
    }
}
