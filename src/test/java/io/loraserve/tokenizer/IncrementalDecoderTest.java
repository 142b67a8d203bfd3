package io.loraserve.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IncrementalDecoderTest {

    private static final String REPLACEMENT = "\uFFFD";

    /** Texts whose byte-level tokens end inside multi-byte characters. */
    private static final List<String> SPLIT_CHARACTERS =
            List.of("Ünïcode ✓ 東京", "emoji 🙂🎉 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "naïve café – “quoted”");

    private static Tokenizer tiny;
    private static Tokenizer demo;

    @BeforeAll
    static void loadTokenizers() {
        tiny = Tokenizer.load(TokenizerTest.TINY);
        demo = Tokenizer.load(TokenizerTest.DEMO);
    }

    @AfterAll
    static void closeTokenizers() {
        tiny.close();
        demo.close();
    }

    /** Every piece the decoder emits for {@code generated}, the flush last. */
    private static List<String> stream(Tokenizer tokenizer, int[] promptIds, int[] generated) {
        IncrementalDecoder decoder = tokenizer.newIncrementalDecoder(promptIds);
        List<String> pieces = new ArrayList<>();
        for (int id : generated) {
            pieces.add(decoder.push(id));
        }
        pieces.add(decoder.flush());
        return pieces;
    }

    @Test
    void piecesConcatenateToTheFullDecodeOfRandomTokenSequences() {
        Random random = new Random(20240611);
        for (Tokenizer tokenizer : List.of(tiny, demo)) {
            int[][] prompts = {
                new int[0], tokenizer.encode("Ünïcode ✓ 東京"), tokenizer.encode("Hello, world")
            };
            for (int sample = 0; sample < 400; sample++) {
                int[] generated = random.ints(1 + random.nextInt(60), 0, tokenizer.vocabSize())
                        .toArray();
                int[] prompt = prompts[sample % prompts.length];
                IncrementalDecoder decoder = tokenizer.newIncrementalDecoder(prompt);
                StringBuilder text = new StringBuilder();
                for (int id : generated) {
                    text.append(decoder.push(id));
                    assertEquals(text.codePointCount(0, text.length()), decoder.textOffset());
                }
                text.append(decoder.flush());
                String full = tokenizer.decode(generated);
                assertEquals(full, text.toString(), () -> Arrays.toString(generated));
                assertEquals(full.codePointCount(0, full.length()), decoder.textOffset());
            }
        }
    }

    @Test
    void validTextSplitInsideCharactersNeverEmitsReplacementCharacters() {
        for (Tokenizer tokenizer : List.of(tiny, demo)) {
            int[] prompt = tokenizer.encode("Prompt:");
            for (String text : SPLIT_CHARACTERS) {
                int[] generated = tokenizer.encodeWithoutSpecial(text);
                List<String> pieces = stream(tokenizer, prompt, generated);
                List<String> pushes = pieces.subList(0, generated.length);
                assertTrue(pushes.contains(""), "no token split a character of " + text);
                for (String piece : pieces) {
                    assertFalse(piece.contains(REPLACEMENT), () -> text + " -> " + pieces);
                }
                assertEquals(text, String.join("", pieces));
                assertEquals("", pieces.getLast());
            }
        }
    }

    @Test
    void promptContextStaysOutOfTheOutput() {
        int[] prompt = demo.encode("The base model");
        String completion = " stays frozen while 東京 adapters change";
        List<String> pieces = stream(demo, prompt, demo.encodeWithoutSpecial(completion));
        assertEquals(completion, String.join("", pieces));
    }

    @Test
    void sentencePieceStyleDecoderKeepsTheFirstGeneratedWordsLeadingSpace(@TempDir Path dir)
            throws IOException {
        // A Metaspace decoder drops the space of the first word of any text it decodes alone.
        Files.writeString(dir.resolve("tokenizer.json"), """
                {"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                 "normalizer": null,
                 "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                                   "prepend_scheme": "always", "split": true},
                 "post_processor": null,
                 "decoder": {"type": "Metaspace", "replacement": "\u2581",
                             "prepend_scheme": "always", "split": true},
                 "model": {"type": "WordLevel", "unk_token": "<unk>",
                           "vocab": {"<unk>": 0, "\u2581Hello": 1, "\u2581world": 2}}}
                """);
        try (Tokenizer sentencePiece = Tokenizer.load(dir)) {
            int[] prompt = sentencePiece.encode("Hello");
            int[] generated = sentencePiece.encodeWithoutSpecial("world world");
            assertEquals("world world", sentencePiece.decode(generated));
            assertEquals(" world world", String.join("", stream(sentencePiece, prompt, generated)));
        }
    }

    @Test
    void promptEndingInsideACharacterIsNotTakenAsContext() {
        int[] kanji = tiny.encodeWithoutSpecial("東");
        assertTrue(kanji.length >= 2, "東 is a single token");
        int[] prompt = Arrays.copyOf(kanji, kanji.length - 1);
        int[] generated = {kanji[kanji.length - 1], tiny.encodeWithoutSpecial("a")[0]};
        assertEquals(tiny.decode(generated), String.join("", stream(tiny, prompt, generated)));
    }

    @Test
    void flushEmitsAnUnfinishedCharacterAsOneReplacementCharacter() {
        int[] kanji = tiny.encodeWithoutSpecial("東");
        IncrementalDecoder decoder = tiny.newIncrementalDecoder(new int[] {1});
        assertEquals("", decoder.push(kanji[0]));
        assertEquals(0, decoder.textOffset());
        assertEquals(REPLACEMENT, decoder.flush());
        assertEquals(1, decoder.textOffset());
    }

    @Test
    void textOffsetCountsCodePointsNotUtf16Chars() {
        IncrementalDecoder decoder = tiny.newIncrementalDecoder(new int[] {1});
        StringBuilder text = new StringBuilder();
        for (int id : tiny.encodeWithoutSpecial("a🙂b")) {
            text.append(decoder.push(id));
        }
        assertEquals("a🙂b", text.toString());
        assertEquals(3, decoder.textOffset());
    }

    @Test
    void specialTokensEmitNothing() {
        IncrementalDecoder decoder = tiny.newIncrementalDecoder(tiny.encode("Hi"));
        assertEquals("", decoder.push(2));
        StringBuilder text = new StringBuilder();
        for (int id : tiny.encodeWithoutSpecial(" there")) {
            text.append(decoder.push(id));
        }
        assertEquals(" there", text.append(decoder.flush()).toString());
    }

    @Test
    void pushAfterFlushIsRejected() {
        IncrementalDecoder decoder = tiny.newIncrementalDecoder(new int[0]);
        decoder.push(42);
        decoder.flush();
        assertThrows(IllegalStateException.class, () -> decoder.push(42));
    }
}
