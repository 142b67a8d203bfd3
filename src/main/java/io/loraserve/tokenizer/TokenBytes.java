package io.loraserve.tokenizer;

import jakarta.json.JsonArray;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The raw bytes each token stands for, read from {@code tokenizer.json}'s vocabulary, so a token
 * that holds part of a multi-byte character reports its own bytes (OpenAI's chat logprobs
 * {@code bytes}) instead of the U+FFFD its text shows. Two vocabulary encodings are known:
 * byte-level BPE (GPT-2, Llama 3, Qwen: each byte mapped to a printable character) and
 * SentencePiece with byte fallback (Llama 2, Mistral: {@code <0xE4>} pieces, {@code ▁} for a
 * space). Added tokens are their content in UTF-8. For any other decoder the bytes are unknown and
 * {@link #of} returns null (callers use the token's text).
 */
final class TokenBytes {
    private static final Pattern BYTE_PIECE = Pattern.compile("<0x([0-9A-Fa-f]{2})>");

    private final byte[][] bytes;

    private TokenBytes(byte[][] bytes) {
        this.bytes = bytes;
    }

    /** The token bytes of {@code tokenizer.json}, or null when its decoder is neither kind. */
    static TokenBytes read(JsonObject json, int vocabSize) {
        String kind = decoderKind(json.get("decoder"));
        if (kind == null || !(json.getJsonObject("model").get("vocab") instanceof JsonObject vocab)) {
            return null;
        }
        int[] unicodeToByte = kind.equals("ByteLevel") ? byteLevelInverse() : null;
        byte[][] bytes = new byte[vocabSize][];
        for (Map.Entry<String, JsonValue> e : vocab.entrySet()) {
            int id = ((JsonNumber) e.getValue()).intValue();
            bytes[id] = unicodeToByte != null ? byteLevel(e.getKey(), unicodeToByte) : sentencePiece(e.getKey());
        }
        for (JsonValue added : json.getOrDefault("added_tokens", JsonValue.EMPTY_JSON_ARRAY).asJsonArray()) {
            JsonObject a = added.asJsonObject();
            bytes[a.getInt("id")] = a.getString("content").getBytes(StandardCharsets.UTF_8);
        }
        return new TokenBytes(bytes);
    }

    /** The bytes of token {@code id}; null for an id no vocabulary entry has. */
    byte[] of(int id) {
        return id >= 0 && id < bytes.length ? bytes[id] : null;
    }

    /** "ByteLevel", "ByteFallback" (a sequence holding it), or null. */
    private static String decoderKind(JsonValue decoder) {
        if (!(decoder instanceof JsonObject d) || !(d.get("type") instanceof JsonString type)) {
            return null;
        }
        if (type.getString().equals("ByteLevel")) {
            return "ByteLevel";
        }
        if (type.getString().equals("Sequence") && d.get("decoders") instanceof JsonArray parts) {
            for (JsonValue part : parts) {
                if (part instanceof JsonObject p && "ByteFallback".equals(p.getString("type", null))) {
                    return "ByteFallback";
                }
            }
        }
        return null;
    }

    /** GPT-2's bytes_to_unicode, inverted: the byte each printable stand-in character means. */
    private static int[] byteLevelInverse() {
        int[] inverse = new int[512];
        Arrays.fill(inverse, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            inverse[printable ? b : 256 + extra++] = b;
        }
        return inverse;
    }

    private static byte[] byteLevel(String piece, int[] unicodeToByte) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(piece.length());
        for (int i = 0; i < piece.length(); i++) {
            char c = piece.charAt(i);
            int b = c < unicodeToByte.length ? unicodeToByte[c] : -1;
            if (b < 0) {
                return piece.getBytes(StandardCharsets.UTF_8);  // not a byte-level piece: its text
            }
            out.write(b);
        }
        return out.toByteArray();
    }

    private static byte[] sentencePiece(String piece) {
        Matcher m = BYTE_PIECE.matcher(piece);
        if (m.matches()) {
            return new byte[] {(byte) Integer.parseInt(m.group(1), 16)};
        }
        return piece.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
    }
}
