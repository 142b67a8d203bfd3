package io.loraserve.lora;

import jakarta.json.Json;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonException;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import jakarta.json.JsonWriter;
import jakarta.json.JsonWriterFactory;
import jakarta.json.stream.JsonGenerator;
import jakarta.json.stream.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The saved adapter catalogue, one small JSON file {@code DIR/state.json}:
 *
 * <pre>{"version": 1, "adapters": [{"name": "code", "path": "/srv/adapters/code", "pinned": false,
 *   "sha256": "…"}]}</pre>
 *
 * <p>{@code version} is this format's; {@code path} is the adapter directory's real path; {@code sha256} is the
 * digest of the adapter's files as registered ({@link SavedCatalogue}), so a restart can tell they changed.
 *
 * <p>Semantics: {@link #write} replaces the file atomically and durably — the new text goes to {@code state.json.tmp},
 * which is fsynced, renamed over {@code state.json}, and the directory fsynced — so a crash at any instant leaves
 * either the previous file or the new one, never a mix, and a write that returned survives a crash. {@link #read}
 * accepts only a file this class wrote; anything else is {@link Unreadable}, and {@link #setAside} keeps it for a
 * human. One writer at a time ({@link SavedCatalogue} locks the directory).
 */
public final class CatalogueFile {
    /** The format's version; a file with another is not read. */
    static final int VERSION = 1;
    /** A catalogue of ten thousand adapters is about 3 MB. */
    private static final long MAX_BYTES = 64L << 20;
    private static final DateTimeFormatter ASIDE_STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'");
    private static final JsonWriterFactory WRITERS = Json.createWriterFactory(Map.of(JsonGenerator.PRETTY_PRINTING, true));

    /** One saved adapter: its name, real directory, whether it is pinned, and the SHA-256 of its files (hex). */
    public record Entry(String name, Path path, boolean pinned, String sha256) {
    }

    /** Why a state file cannot be used: not JSON, not this format, or not readable at all. */
    public static final class Unreadable extends Exception {
        Unreadable(String message) {
            super(message);
        }
    }

    private final Path dir;
    private final Path file;
    private final Path temp;

    /** The state file in directory {@code dir}, which must exist. */
    public CatalogueFile(Path dir) {
        this.dir = dir;
        this.file = dir.resolve("state.json");
        this.temp = dir.resolve("state.json.tmp");
    }

    public Path path() {
        return file;
    }

    /** The saved entries in their order; none when there is no file yet. */
    public List<Entry> read() throws Unreadable {
        byte[] bytes;
        try {
            if (Files.size(file) > MAX_BYTES) {
                throw new Unreadable("larger than " + MAX_BYTES + " bytes");
            }
            try (InputStream in = Files.newInputStream(file)) {
                bytes = in.readNBytes((int) MAX_BYTES + 1);
            }
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new Unreadable("cannot read it: " + e);
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new Unreadable("not UTF-8 text");
        }
        try (JsonParser p = Json.createParser(new StringReader(text))) {
            if (!p.hasNext() || p.next() != JsonParser.Event.START_OBJECT) {
                throw new Unreadable("not a JSON object");
            }
            JsonObject root = p.getObject();
            if (p.hasNext()) {
                throw new Unreadable("text after the JSON object");
            }
            return entries(root);
        } catch (JsonException e) {
            throw new Unreadable("not JSON: " + e.getMessage());
        } catch (ClassCastException | NullPointerException | ArithmeticException e) {
            // JSON-P's getters throw ClassCastException for a value of another type, NullPointerException for none
            throw new Unreadable("a field is missing or of the wrong type");
        }
    }

    private static List<Entry> entries(JsonObject root) throws Unreadable {
        if (root.getJsonNumber("version") == null || root.getJsonNumber("version").intValueExact() != VERSION) {
            throw new Unreadable("its version is " + root.get("version") + ", this loraserve reads version " + VERSION);
        }
        if (root.getJsonArray("adapters") == null) {
            throw new Unreadable("no \"adapters\" list");
        }
        List<Entry> entries = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (JsonValue v : root.getJsonArray("adapters")) {
            JsonObject o = v.asJsonObject();
            Entry e = new Entry(o.getString("name"), path(o.getString("path")), o.getBoolean("pinned"),
                    o.getString("sha256"));
            if (!e.sha256().matches("[0-9a-f]{64}")) {
                throw new Unreadable("adapter '" + e.name() + "' has no valid sha256");
            }
            if (!names.add(e.name())) {
                throw new Unreadable("adapter '" + e.name() + "' is listed twice");
            }
            entries.add(e);
        }
        return List.copyOf(entries);
    }

    private static Path path(String text) throws Unreadable {
        try {
            Path p = Path.of(text);
            if (!p.isAbsolute()) {
                throw new Unreadable("path '" + text + "' is not absolute");
            }
            return p;
        } catch (InvalidPathException e) {
            throw new Unreadable("path '" + text + "' is not a valid path");
        }
    }

    /** Replaces the file with {@code entries}, atomically and durably (see the class comment). */
    public void write(List<Entry> entries) throws IOException {
        byte[] bytes = text(entries).getBytes(StandardCharsets.UTF_8);
        try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            out.force(true);
        }
        Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel directory = FileChannel.open(dir, StandardOpenOption.READ)) {
            directory.force(true);  // the rename itself is durable only once the directory is
        }
    }

    private static String text(List<Entry> entries) {
        JsonArrayBuilder list = Json.createArrayBuilder();
        for (Entry e : entries) {
            list.add(Json.createObjectBuilder().add("name", e.name()).add("path", e.path().toString())
                    .add("pinned", e.pinned()).add("sha256", e.sha256()));
        }
        StringWriter out = new StringWriter();
        try (JsonWriter w = WRITERS.createWriter(out)) {
            w.writeObject(Json.createObjectBuilder().add("version", VERSION).add("adapters", list).build());
        }
        return out.toString().strip() + "\n";
    }

    /** Renames the file to {@code state.json.corrupt-<UTC time>}, where no write will touch it; returns the new path. */
    public Path setAside() throws IOException {
        String name = "state.json.corrupt-" + ASIDE_STAMP.format(ZonedDateTime.now(ZoneOffset.UTC));
        Path aside = dir.resolve(name);
        for (int n = 2; Files.exists(aside); n++) {
            aside = dir.resolve(name + "-" + n);
        }
        Files.move(file, aside, StandardCopyOption.ATOMIC_MOVE);
        return aside;
    }
}
