package io.loraserve;

import jakarta.json.Json;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObjectBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Writes {@code .safetensors} files for tests, straight from the format's description: an 8-byte little-endian
 * header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
 * F32 only; the fixtures already cover BF16.
 */
public final class SafeTensorsWriter {

    /** One tensor: {@code values} row-major, {@code values.length} = product of {@code shape}. */
    public record Data(long[] shape, float[] values) {
        public Data {
            if (Arrays.stream(shape).reduce(1, Math::multiplyExact) != values.length) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " does not hold "
                        + values.length + " values");
            }
        }
    }

    private SafeTensorsWriter() {}

    /** Writes {@code tensors} (in map order) to {@code file}. */
    public static void write(Path file, Map<String, Data> tensors) {
        JsonObjectBuilder header = Json.createObjectBuilder();
        long offset = 0;
        for (Map.Entry<String, Data> e : tensors.entrySet()) {
            JsonArrayBuilder shape = Json.createArrayBuilder();
            Arrays.stream(e.getValue().shape()).forEach(shape::add);
            long end = offset + 4L * e.getValue().values().length;
            header.add(e.getKey(), Json.createObjectBuilder().add("dtype", "F32").add("shape", shape)
                    .add("data_offsets", Json.createArrayBuilder().add(offset).add(end)));
            offset = end;
        }
        byte[] json = header.build().toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;  // the format pads the header with spaces to 8-byte alignment
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        for (int i = json.length; i < padded; i++) {
            out.put((byte) ' ');
        }
        for (Data d : tensors.values()) {
            for (float v : d.values()) {
                out.putFloat(v);
            }
        }
        try {
            Files.write(file, out.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
