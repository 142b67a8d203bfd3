package io.loraserve.tensor;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes F32 tensors from Java arrays as a {@code .safetensors} file (used by the synthetic
 * model generator; real models come from HuggingFace). Tensors are written in the order added.
 */
public final class SafeTensorsWriter {
    private record Pending(String name, long[] shape, float[] data) {
    }

    private final List<Pending> tensors = new ArrayList<>();

    /** Adds a tensor of {@code shape} holding {@code data} (row-major, length = product of shape). */
    public SafeTensorsWriter add(String name, float[] data, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != data.length) {
            throw new IllegalArgumentException(name + ": shape holds " + n + " values, data has " + data.length);
        }
        tensors.add(new Pending(name, shape, data));
        return this;
    }

    public void write(Path file) throws IOException {
        StringBuilder header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        for (Pending t : tensors) {
            long bytes = 4L * t.data().length;
            header.append(",\"").append(t.name()).append("\":{\"dtype\":\"F32\",\"shape\":[");
            for (int i = 0; i < t.shape().length; i++) {
                header.append(i == 0 ? "" : ",").append(t.shape()[i]);
            }
            header.append("],\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        header.append('}');
        while ((header.length() + 8) % 8 != 0) {
            header.append(' ');
        }
        byte[] head = header.toString().getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(head.length).array());
            out.write(head);
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Pending t : tensors) {
                for (float v : t.data()) {
                    if (!buf.hasRemaining()) {
                        out.write(buf.array(), 0, buf.position());
                        buf.clear();
                    }
                    buf.putFloat(v);
                }
            }
            out.write(buf.array(), 0, buf.position());
        }
    }
}
