package io.loraserve;

import jakarta.json.Json;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A plain-Java safetensors reader and writer for tests, independent of the main code's reader:
 * the whole file in a byte array, header JSON, little-endian data. Reads F32, F16 and BF16 as
 * floats; writes F32, F16 (IEEE half, {@link Float#floatToFloat16}) or BF16 (upper 16 bits of the
 * float, rounded to nearest even). Only for the small fixture models.
 */
public final class SafeTensorsIo {
    private SafeTensorsIo() {
    }

    /** One tensor as floats, row-major. */
    public record Stored(long[] shape, float[] values) {
    }

    /** Every tensor of {@code file}, in header order. */
    public static Map<String, Stored> read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen = Math.toIntExact(buf.getLong(0));
        JsonObject header;
        try (JsonReader r = Json.createReader(new StringReader(
                new String(bytes, 8, headerLen, StandardCharsets.UTF_8)))) {
            header = r.readObject();
        }
        int dataStart = 8 + headerLen;
        Map<String, Stored> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonValue> e : header.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonObject t = e.getValue().asJsonObject();
            long[] shape = t.getJsonArray("shape").getValuesAs(JsonNumber.class).stream()
                    .mapToLong(JsonNumber::longValue).toArray();
            int begin = dataStart + t.getJsonArray("data_offsets").getInt(0);
            int end = dataStart + t.getJsonArray("data_offsets").getInt(1);
            String dtype = t.getString("dtype");
            int width = dtype.equals("F32") ? 4 : 2;
            float[] values = new float[(end - begin) / width];
            for (int i = 0; i < values.length; i++) {
                int at = begin + i * width;
                values[i] = switch (dtype) {
                    case "F32" -> buf.getFloat(at);
                    case "F16" -> Float.float16ToFloat(buf.getShort(at));
                    case "BF16" -> Float.intBitsToFloat((buf.getShort(at) & 0xffff) << 16);
                    default -> throw new IllegalArgumentException(file + ": test reader has no " + dtype);
                };
            }
            out.put(e.getKey(), new Stored(shape, values));
        }
        return out;
    }

    /** Writes {@code tensors} to {@code file}, every one stored as {@code dtype} (F32, F16 or BF16). */
    public static void write(Path file, Map<String, Stored> tensors, String dtype) {
        int width = dtype.equals("F32") ? 4 : 2;
        JsonObjectBuilder header = Json.createObjectBuilder()
                .add("__metadata__", Json.createObjectBuilder().add("format", "pt"));
        long offset = 0;
        for (Map.Entry<String, Stored> e : tensors.entrySet()) {
            JsonArrayBuilder shape = Json.createArrayBuilder();
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            long end = offset + (long) e.getValue().values().length * width;
            header.add(e.getKey(), Json.createObjectBuilder().add("dtype", dtype).add("shape", shape)
                    .add("data_offsets", Json.createArrayBuilder().add(offset).add(end)));
            offset = end;
        }
        byte[] json = header.build().toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + json.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json);
        for (Stored s : tensors.values()) {
            for (float v : s.values()) {
                switch (dtype) {
                    case "F32" -> out.putFloat(v);
                    case "F16" -> out.putShort(Float.floatToFloat16(v));
                    case "BF16" -> out.putShort(bf16Bits(v));
                    default -> throw new IllegalArgumentException("test writer has no " + dtype);
                }
            }
        }
        try {
            Files.write(file, out.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A file's header and data section as stored, for tests that break a file's layout on purpose (offsets that
     * overlap, leave gaps, or do not end at the data's end).
     */
    public record Raw(JsonObject header, byte[] data) {
        /** The names of the tensors, in header order. */
        public List<String> tensors() {
            return header.keySet().stream().filter(k -> !k.equals("__metadata__")).toList();
        }

        public long[] offsets(String tensor) {
            return header.getJsonObject(tensor).getJsonArray("data_offsets").getValuesAs(JsonNumber.class).stream()
                    .mapToLong(JsonNumber::longValue).toArray();
        }

        /** The same file with {@code tensor}'s byte range set to {@code [begin, end)}. */
        public Raw withOffsets(String tensor, long begin, long end) {
            JsonObject entry = Json.createObjectBuilder(header.getJsonObject(tensor))
                    .add("data_offsets", Json.createArrayBuilder().add(begin).add(end)).build();
            return new Raw(Json.createObjectBuilder(header).add(tensor, entry).build(), data);
        }

        /** The same file with {@code count} zero bytes inserted at {@code at}; tensors from there on move with their data. */
        public Raw inserting(long at, int count) {
            Raw moved = new Raw(header, data);
            for (String t : tensors()) {
                long[] o = offsets(t);
                if (o[0] >= at) {
                    moved = moved.withOffsets(t, o[0] + count, o[1] + count);
                }
            }
            byte[] grown = new byte[data.length + count];
            System.arraycopy(data, 0, grown, 0, (int) at);
            System.arraycopy(data, (int) at, grown, (int) at + count, data.length - (int) at);
            return new Raw(moved.header, grown);
        }

        /**
         * This file with its layout broken {@code how}: {@code alias} gives {@code second} the byte range of
         * {@code first} (same size), {@code gap} inserts bytes after {@code first}, {@code start} before every
         * tensor, {@code tail} after the last.
         */
        public Raw brokenLayout(String how, String first, String second) {
            long[] range = offsets(first);
            return switch (how) {
                case "alias" -> withOffsets(second, range[0], range[1]);
                case "gap" -> inserting(range[1], 16);
                case "start" -> inserting(0, 16);
                case "tail" -> inserting(data.length, 16);
                default -> throw new IllegalArgumentException(how);
            };
        }
    }

    /** {@code file}'s header and data section, unparsed. */
    public static Raw readRaw(Path file) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            int headerLen = Math.toIntExact(ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
            try (JsonReader r = Json.createReader(new StringReader(new String(bytes, 8, headerLen,
                    StandardCharsets.UTF_8)))) {
                return new Raw(r.readObject(), Arrays.copyOfRange(bytes, 8 + headerLen, bytes.length));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes {@code raw} to {@code file} as it is: its header, then its data section. */
    public static void writeRaw(Path file, Raw raw) {
        byte[] json = raw.header().toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + json.length + raw.data().length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json).put(raw.data());
        try {
            Files.write(file, out.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The bfloat16 nearest to {@code v} (ties to even), as its 16 bits. Inputs here are finite. */
    public static short bf16Bits(float v) {
        int bits = Float.floatToRawIntBits(v);
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7fff + lsb) >>> 16);
    }

    /** {@code v} rounded to bfloat16 and back. */
    public static float roundBf16(float v) {
        return Float.intBitsToFloat((bf16Bits(v) & 0xffff) << 16);
    }

    /** {@code v} rounded to IEEE half and back. */
    public static float roundF16(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }
}
