package io.loraserve.tensor;

import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import jakarta.json.stream.JsonParser;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * One {@code .safetensors} file: its validated header, and tensors read from it on demand.
 *
 * <p>Semantics: the header is checked against the file length before anything is allocated,
 * so a lying or truncated header is an error, never a huge allocation. The tensors' byte ranges
 * must tile the data section as the reference implementation (the {@code safetensors} crate)
 * demands: in offset order, from byte 0, each where the one before ended, the last at the end
 * of the file; so no two tensors share bytes. Only regular files are opened (a FIFO would block).
 * A refusal names the file and what is wrong, never bytes that are not a valid header. Tensor bytes are
 * streamed from the file straight into libtorch memory (no Java array, no whole-file map),
 * so multi-GB files load without heap. Opening holds no file handle; each read opens and
 * closes its own channel.
 */
public final class SafeTensorsFile {
    /** Largest header we accept; real headers are kilobytes to a few megabytes. */
    private static final long MAX_HEADER_BYTES = 100L << 20;
    /** Deepest JSON nesting in a header; a valid one has three levels. */
    private static final int MAX_HEADER_DEPTH = 16;
    private static final int READ_CHUNK = 64 << 20;

    /** One entry of the header: byte range is relative to the start of the data section. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    private final Path file;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensorsFile(Path file, long dataStart, Map<String, Entry> entries, Map<String, String> metadata) {
        this.file = file;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Reads and validates the header of {@code file}. */
    public static SafeTensorsFile open(Path file) {
        if (file.getFileName().toString().endsWith(".bin") || file.getFileName().toString().endsWith(".pt")) {
            throw new SafeTensorsException(file, "pickle checkpoints are never loaded; convert to safetensors");
        }
        if (!Files.isRegularFile(file)) {
            throw new SafeTensorsException(file, Files.exists(file) ? "not a regular file" : "no such file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            if (fileSize < 8) {
                throw new SafeTensorsException(file, "truncated: " + fileSize + " bytes, no header");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > fileSize - 8) {
                // the value is not quoted: for a file that is no safetensors it is 8 bytes of its content
                throw new SafeTensorsException(file, "corrupt header: the header length in its first 8 bytes does"
                        + " not fit a file of " + fileSize + " bytes (at most " + MAX_HEADER_BYTES + ")");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            readFully(ch, header, 8);
            String json = new String(header.array(), StandardCharsets.UTF_8);
            long dataStart = 8 + headerLen;
            return parseHeader(file, json, dataStart, fileSize - dataStart);
        } catch (IOException e) {
            throw new SafeTensorsException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    private static SafeTensorsFile parseHeader(Path file, String json, long dataStart, long dataLen) {
        JsonObject root;
        try {
            checkDepth(file, json);
            try (JsonReader reader = Json.createReader(new StringReader(json))) {
                root = reader.readObject();
            }
        } catch (JsonException | IllegalStateException e) {
            throw new SafeTensorsException(file, "corrupt header: not a JSON object", e);
        } catch (UnsupportedOperationException e) {
            // Parsson's own refusal of numbers longer than 1100 characters, which is no JsonException
            throw new SafeTensorsException(file, "corrupt header: a number too long to parse", e);
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonValue> kv : root.entrySet()) {
            if (kv.getKey().equals("__metadata__")) {
                if (kv.getValue() instanceof JsonObject meta) {
                    meta.forEach((k, v) -> metadata.put(k, v instanceof jakarta.json.JsonString s ? s.getString() : v.toString()));
                }
                continue;
            }
            entries.put(kv.getKey(), parseEntry(file, kv.getKey(), kv.getValue(), dataLen));
        }
        checkLayout(file, entries.values(), dataLen);
        return new SafeTensorsFile(file, dataStart, Collections.unmodifiableMap(entries),
                Collections.unmodifiableMap(metadata));
    }

    /**
     * Refuses nesting deeper than a header has (object, tensor, shape) plus slack, walking the events without
     * recursion, so a hostile header cannot reach the tree parser's own limit (an unchecked exception).
     */
    private static void checkDepth(Path file, String json) {
        try (JsonParser parser = Json.createParser(new StringReader(json))) {
            int depth = 0;
            while (parser.hasNext()) {
                switch (parser.next()) {
                    case START_OBJECT, START_ARRAY -> {
                        if (++depth > MAX_HEADER_DEPTH) {
                            throw new SafeTensorsException(file, "corrupt header: JSON nested deeper than "
                                    + MAX_HEADER_DEPTH + " levels");
                        }
                    }
                    case END_OBJECT, END_ARRAY -> depth--;
                    default -> {
                    }
                }
            }
        }
    }

    /**
     * The reference implementation's rule: sorted by offsets, each tensor starts where the one before ended (the
     * first at 0) and the last ends at the end of the data section. Sizes were checked entry by entry.
     */
    private static void checkLayout(Path file, Collection<Entry> entries, long dataLen) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long next = 0;
        for (Entry e : sorted) {
            if (e.begin() < next) {
                throw new SafeTensorsException(file, "tensor " + e.name() + ": byte range [" + e.begin() + ", "
                        + e.end() + ") overlaps the tensor before it, which ends at byte " + next
                        + " of the data section");
            }
            if (e.begin() > next) {
                throw new SafeTensorsException(file, "tensor " + e.name() + ": byte range [" + e.begin() + ", "
                        + e.end() + ") leaves bytes [" + next + ", " + e.begin() + ") of the data section unused");
            }
            next = e.end();
        }
        if (next != dataLen) {
            throw new SafeTensorsException(file, "the tensors end at byte " + next + " but the data section has "
                    + dataLen + " bytes; bytes [" + next + ", " + dataLen + ") are unused");
        }
    }

    private static Entry parseEntry(Path file, String name, JsonValue value, long dataLen) {
        try {
            JsonObject o = value.asJsonObject();
            String dtype = o.getString("dtype");
            JsonArray shapeJson = o.getJsonArray("shape");
            long[] shape = new long[shapeJson.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = ((JsonNumber) shapeJson.get(i)).longValueExact();
                if (shape[i] < 0) {
                    throw new SafeTensorsException(file, "tensor " + name + ": negative dimension");
                }
            }
            JsonArray offsets = o.getJsonArray("data_offsets");
            long begin = offsets.getJsonNumber(0).longValueExact();
            long end = offsets.getJsonNumber(1).longValueExact();
            Entry entry = new Entry(name, dtype, shape, begin, end);
            long expected = Math.multiplyExact(entry.numel(), elementSize(file, name, dtype));
            if (begin < 0 || end < begin || end > dataLen) {
                throw new SafeTensorsException(file, "tensor " + name + ": byte range [" + begin + ", " + end
                        + ") lies outside the " + dataLen + "-byte data section (truncated file?)");
            }
            if (end - begin != expected) {
                throw new SafeTensorsException(file, "tensor " + name + ": " + (end - begin)
                        + " bytes stored but shape and dtype need " + expected);
            }
            return entry;
        } catch (ClassCastException | NullPointerException | IndexOutOfBoundsException | ArithmeticException
                 | UnsupportedOperationException e) {  // the last: Parsson's limit on a number's scale
            throw new SafeTensorsException(file, "corrupt header entry for tensor " + name, e);
        }
    }

    private static long elementSize(Path file, String name, String dtype) {
        return switch (dtype) {
            case "F32", "I32" -> 4;
            case "F16", "BF16", "I16" -> 2;
            case "F64", "I64" -> 8;
            case "U8", "I8", "BOOL" -> 1;
            default -> throw new SafeTensorsException(file, "tensor " + name + ": unsupported dtype " + dtype);
        };
    }

    private static ScalarType scalarType(Path file, Entry e) {
        return switch (e.dtype()) {
            case "F32" -> ScalarType.Float;
            case "F16" -> ScalarType.Half;
            case "BF16" -> ScalarType.BFloat16;
            default -> throw new SafeTensorsException(file, "tensor " + e.name() + ": dtype " + e.dtype()
                    + " is not a floating-point weight type (F32, F16, BF16)");
        };
    }

    public Path path() {
        return file;
    }

    public Set<String> names() {
        return entries.keySet();
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new SafeTensorsException(file, "missing tensor " + name);
        }
        return e;
    }

    /**
     * Reads one floating-point tensor, converted to {@code dtype} on {@code device}.
     * The caller owns the returned tensor (lifetime as the caller's comment says).
     */
    public Tensor newTensor(String name, ScalarType dtype, Device device) {
        try (Reader r = reader()) {
            return r.newTensor(name, dtype, device);
        }
    }

    /** Opens the file once for reading several tensors; close it when done. */
    public Reader reader() {
        try {
            return new Reader(FileChannel.open(file, StandardOpenOption.READ));
        } catch (IOException e) {
            throw new SafeTensorsException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    /** One open channel on the file; reads tensors straight into libtorch memory. Not thread-safe. */
    public final class Reader implements AutoCloseable {
        private final FileChannel channel;

        private Reader(FileChannel channel) {
            this.channel = channel;
        }

        /** Like {@link SafeTensorsFile#newTensor}: the caller owns the tensor. */
        public Tensor newTensor(String name, ScalarType dtype, Device device) {
            Entry e = entry(name);
            ScalarType stored = scalarType(file, e);
            // Host staging tensor in the stored dtype; freed here unless it is already the result.
            Tensor host = Tensors.newEmpty(stored, new Device(torch.DeviceType.CPU), e.shape());
            try (BytePointer dst = new BytePointer(host.data_ptr())) {
                long length = e.end() - e.begin();
                for (long done = 0; done < length; ) {
                    int n = (int) Math.min(READ_CHUNK, length - done);
                    ByteBuffer window = dst.position(done).limit(done + n).asBuffer();
                    readFully(channel, window, dataStart + e.begin() + done);
                    done += n;
                }
            } catch (IOException ex) {
                host.close();
                throw new SafeTensorsException(file, "cannot read tensor " + name + ": " + ex.getMessage(), ex);
            }
            if (stored == dtype && device.is_cpu()) {
                return host;
            }
            Tensor converted = host.to(device, dtype, false, true, new org.bytedeco.pytorch.MemoryFormatOptional());
            host.close();
            return converted;
        }

        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException e) {
                throw new SafeTensorsException(file, "cannot close: " + e.getMessage(), e);
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file at byte " + pos);
            }
            pos += n;
        }
    }
}
