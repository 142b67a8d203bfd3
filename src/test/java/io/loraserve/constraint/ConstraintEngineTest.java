package io.loraserve.constraint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.json.Json;
import jakarta.json.JsonValue;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The constraint engine on its own: languages against java.util.regex, masks against a brute-force walk, refusals. */
class ConstraintEngineTest {
    /** A toy byte-level vocabulary: every byte, some multi-byte pieces, one piece splitting "é", EOS id 0. */
    static Vocabulary toyVocabulary() {
        List<byte[]> tokens = new ArrayList<>();
        tokens.add(null);  // 0: EOS
        for (int b = 0; b < 256; b++) {
            tokens.add(new byte[] {(byte) b});
        }
        for (String s : List.of("ab", "abc", "{\"", "\": ", ", \"", "true", "12", "-3", "\"}", "é", "aé")) {
            tokens.add(s.getBytes(StandardCharsets.UTF_8));
        }
        tokens.add(new byte[] {'x', (byte) 0xC3});  // "x" and the first byte of "é"
        return new Vocabulary(tokens.toArray(new byte[0][]), new int[] {0});
    }

    static Constraint compile(ConstraintSpec spec) {
        return new ConstraintCache(toyVocabulary(), 8).get(spec);
    }

    private static boolean matches(Constraint c, String s) {
        return c.matches(s.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void regexLanguageEqualsJavaRegexOnRandomStrings() {
        Random rnd = new Random(7);
        for (String regex : List.of("[0-9]{2,4}-(ab|c)*", "a+b?c{2}", "(?:x|yz)+[^a-c]", "\\d+\\.\\d*|\\w{3}",
                "[a-c]{0,3}(?P<g>b|cc)?", "ab|abc|a")) {
            Constraint c = compile(ConstraintSpec.regex(regex));
            Pattern p = Pattern.compile(regex.replace("(?P<", "(?<"));
            for (int i = 0; i < 3000; i++) {
                StringBuilder s = new StringBuilder();
                int len = rnd.nextInt(7);
                for (int j = 0; j < len; j++) {
                    s.append("abcxyz019-._ ".charAt(rnd.nextInt(13)));
                }
                assertEquals(p.matcher(s).matches(), matches(c, s.toString()), regex + " on '" + s + "'");
            }
        }
    }

    @Test
    void unicodeClassesWorkOnBytes() {
        Constraint c = compile(ConstraintSpec.regex("[à-ÿ]+[^a]"));
        assertTrue(matches(c, "éèb"));
        assertTrue(matches(c, "é€"));
        assertFalse(matches(c, "éa"));
        assertFalse(matches(c, "ab"));
        Constraint any = compile(ConstraintSpec.regex(".{2}"));
        assertTrue(matches(any, "😀x"));
        assertFalse(matches(any, "😀"));
    }

    /** Every token's mask bit equals "the output so far plus the token's bytes can still be completed". */
    @Test
    void maskEqualsBruteForceOverTheVocabulary() {
        Vocabulary v = toyVocabulary();
        Constraint c = new ConstraintCache(v, 8).get(ConstraintSpec.regex("(ab|é)+x?"));
        Matcher m = c.newMatcher();
        int[] path = {1 + 'a', 1 + 'b', 266 /* é */, 257 /* ab */};
        StringBuilder out = new StringBuilder();
        for (int step = 0; step <= path.length; step++) {
            long[] mask = m.allowed();
            for (int t = 0; t < v.size(); t++) {
                boolean allowed = (mask[t >>> 6] >>> t & 1) != 0;
                boolean expected = t == 0 ? c.matches(out.toString().getBytes(StandardCharsets.UTF_8))
                        : viable(c, out.toString().getBytes(StandardCharsets.UTF_8), v.bytes(t));
                assertEquals(expected, allowed, "step " + step + " token " + t);
            }
            if (step < path.length) {
                m.advance(path[step]);
                out.append(new String(v.bytes(path[step]), StandardCharsets.UTF_8));
            }
        }
        m.advance(0);
        assertTrue(m.ended());
    }

    /** Brute force: some completion of prefix+token (by at most 3 more bytes from a small alphabet) is accepted. */
    private static boolean viable(Constraint c, byte[] prefix, byte[] token) {
        byte[] s = new byte[prefix.length + token.length];
        System.arraycopy(prefix, 0, s, 0, prefix.length);
        System.arraycopy(token, 0, s, prefix.length, token.length);
        return completes(c, s, 3);
    }

    private static boolean completes(Constraint c, byte[] s, int depth) {
        if (c.matches(s)) {
            return true;
        }
        if (depth == 0) {
            return false;
        }
        for (byte b : "abx".getBytes(StandardCharsets.UTF_8)) {
            if (completes(c, append(s, b), depth - 1)) {
                return true;
            }
        }
        byte[] e = "é".getBytes(StandardCharsets.UTF_8);
        return completes(c, append(append(s, e[0]), e[1]), depth - 1) || (s.length > 0 && s[s.length - 1] == e[0]
                && completes(c, append(s, e[1]), depth - 1));
    }

    private static byte[] append(byte[] s, byte b) {
        byte[] out = java.util.Arrays.copyOf(s, s.length + 1);
        out[s.length] = b;
        return out;
    }

    @Test
    void splitCharacterTokensAreAllowedOnlyWhereTheCharacterFits() {
        Vocabulary v = toyVocabulary();
        Constraint c = new ConstraintCache(v, 8).get(ConstraintSpec.regex("xé"));
        long[] mask = c.newMatcher().allowed();
        int split = v.size() - 1;  // "x" + first byte of "é"
        assertTrue((mask[split >>> 6] >>> split & 1) != 0);
        Matcher m = c.newMatcher();
        m.advance(split);
        m.advance(1 + 0xA9);  // the second byte of "é"
        assertTrue((m.allowed()[0] & 1) != 0, "EOS once complete");
        assertTrue(m.complete());
    }

    private static JsonValue json(String s) {
        return Json.createReader(new StringReader(s)).readValue();
    }

    @Test
    void jsonSchemaAcceptsItsDocumentsAndRejectsOthers() {
        Constraint c = compile(ConstraintSpec.jsonSchema(json("""
                {"type":"object","properties":{"id":{"type":"integer","minimum":-5,"maximum":120},
                 "tag":{"enum":["a","b"]},"ok":{"type":"boolean"},"xs":{"type":"array","items":{"type":"null"},"maxItems":2}},
                 "required":["id","ok"],"additionalProperties":false}""")));
        assertTrue(matches(c, "{\"id\": 7, \"ok\": true}"));
        assertTrue(matches(c, "{\"id\": -5, \"tag\": \"b\", \"ok\": false, \"xs\": [null, null]}"));
        assertTrue(matches(c, "{\"id\": 120, \"ok\": true, \"xs\": []}"));
        assertFalse(matches(c, "{\"id\": 121, \"ok\": true}"));
        assertFalse(matches(c, "{\"id\": -6, \"ok\": true}"));
        assertFalse(matches(c, "{\"ok\": true}"));
        assertFalse(matches(c, "{\"id\": 1, \"ok\": true, \"xs\": [null, null, null]}"));
        assertFalse(matches(c, "{\"id\": 01, \"ok\": true}"));
    }

    @Test
    void integerRangesAreExact() {
        for (long[] r : new long[][] {{-37, 415}, {0, 9}, {10, 10}, {-1000, -999}, {7, 12345}}) {
            Constraint c = compile(ConstraintSpec.jsonSchema(json("{\"type\":\"integer\",\"minimum\":" + r[0]
                    + ",\"maximum\":" + r[1] + "}")));
            for (long x = r[0] - 50; x <= r[1] + 50; x++) {
                assertEquals(x >= r[0] && x <= r[1], matches(c, Long.toString(x)), r[0] + ".." + r[1] + " " + x);
            }
        }
    }

    @Test
    void recursiveRefsNest() {
        Constraint c = compile(ConstraintSpec.jsonSchema(json("""
                {"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
                 "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},
                 "$ref":"#/$defs/node"}""")));
        assertTrue(matches(c, "{\"v\": 1, \"kids\": [{\"v\": 2}, {\"v\": 3, \"kids\": [{\"v\": 4, \"kids\": []}]}]}"));
        assertFalse(matches(c, "{\"v\": 1, \"kids\": [{\"kids\": []}]}"));
    }

    @Test
    void formatsMatchTheirShapes() {
        Constraint date = compile(ConstraintSpec.jsonSchema(json("{\"type\":\"string\",\"format\":\"date\"}")));
        assertTrue(matches(date, "\"2024-02-28\""));
        assertFalse(matches(date, "\"2024-02-30\""));
        assertFalse(matches(date, "\"2024-13-01\""));
        Constraint uuid = compile(ConstraintSpec.jsonSchema(json("{\"type\":\"string\",\"format\":\"uuid\"}")));
        assertTrue(matches(uuid, "\"123e4567-e89b-12d3-a456-426614174000\""));
    }

    @Test
    void gbnfGrammarsParseAndRun() {
        Constraint c = compile(ConstraintSpec.grammar("""
                root ::= expr
                # a comment
                expr ::= term ("+" term)*
                term ::= [0-9]+ | "(" expr ")"
                """));
        assertTrue(matches(c, "(1+2)+((3))"));
        assertFalse(matches(c, "(1+2"));
        assertFalse(matches(c, "1++2"));
    }

    @Test
    void refusalsSayWhy() {
        assertMessage("unsupported JSON schema keyword allOf", ConstraintSpec.jsonSchema(json("{\"allOf\":[]}")));
        assertMessage("unknown type 'strin'", ConstraintSpec.jsonSchema(json("{\"type\":\"strin\"}")));
        assertMessage("matches nothing", ConstraintSpec.regex("a[^\\s\\S]b"));
        assertMessage("missing ')'", ConstraintSpec.regex("(ab"));
        assertMessage("back-references", ConstraintSpec.regex("(a)\\1"));
        assertMessage("look-around", ConstraintSpec.regex("a(?=b)"));
        assertMessage("grammar syntax error at line 2", ConstraintSpec.grammar("root ::= a\na ::= \"x"));
        assertMessage("left-recursive", ConstraintSpec.grammar("root ::= root \"a\" | \"b\""));
        assertMessage("'nope' is used but not defined", ConstraintSpec.grammar("root ::= nope"));
        assertMessage("choices is empty", ConstraintSpec.choice(List.of()));
    }

    private static void assertMessage(String part, ConstraintSpec spec) {
        ConstraintException e = assertThrows(ConstraintException.class, () -> compile(spec));
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
